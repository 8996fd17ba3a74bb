"""Train the bridge on PUBLIC text: projector (+ LoRA on the LM), encoder and LM frozen.

Objective: next-token loss of a sentence given its own soft tokens (xRAG's paraphrase
pre-training). With `pair_rate` > 0, that share of each batch is two short sentences joined
into one text, encoded as a whole: the encoder puts such a text between its two halves, so the
decoder learns what the in-between vectors that SMOTExT interpolates should decode to. Runs on CPU or CUDA, logs one JSON line per logged step, checkpoints so an
interrupted run resumes where it stopped, and writes CPU-loadable safetensors.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from privsynth.bridge import Bridge, BridgeConfig, cosine_schedule
from privsynth.encoder import Encoder
from privsynth.errors import UserError

PUBLIC_CORPUS = Path(__file__).parent / "data" / "brown_sentences.csv.gz"


def read_public_corpus(path: str | Path = PUBLIC_CORPUS, text_col: str = "text") -> list[str]:
    """Texts of a (optionally gzipped) CSV; the default is the bundled Brown sentences."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
    if text_col not in (rows.fieldnames or []):
        raise UserError(f"{path}: missing column {text_col!r}")
    return [r[text_col] for r in rows if r[text_col].strip()]


def split_public(texts: list[str], n_heldout: int = 500, seed: int = 0) -> tuple[list[str], list[str]]:
    """A fixed held-out set (never trained on) for the reconstruction benchmark."""
    idx = list(range(len(texts)))
    random.Random(seed).shuffle(idx)
    held = set(idx[:n_heldout])
    return [texts[i] for i in idx if i not in held], [texts[i] for i in idx[:n_heldout]]


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 50
    grad_clip: float = 1.0
    log_every: int = 10
    ckpt_every: int = 50
    seed: int = 0
    device: str = "cpu"
    pair_rate: float = 0.0
    pair_max_words: int = 14
    init_from: str | None = None


def make_batch(texts: list[str], idx: np.ndarray, short: np.ndarray, pair_rate: float,
               rng: np.random.Generator) -> list[str]:
    """The texts at idx; a pair_rate share become '<short a> <short b>' (both from `short`)."""
    batch = [texts[i] for i in idx]
    if pair_rate <= 0 or len(short) < 2:
        return batch
    for j in np.flatnonzero(rng.random(len(batch)) < pair_rate):
        a, b = rng.choice(short, size=2, replace=False)
        batch[j] = f"{texts[a]} {texts[b]}"
    return batch


def train(texts: list[str], out_dir: str | Path, *, bridge_config: BridgeConfig | None = None,
          train_config: TrainConfig | None = None, encoder: Encoder | None = None,
          lm=None, tokenizer=None, log=print) -> Bridge:
    """Train a bridge on `texts` into out_dir (bridge.safetensors, train_log.jsonl, checkpoint).

    Resumes from out_dir/checkpoint.pt when present.
    """
    tc = train_config or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)
    encoder = encoder or Encoder()
    bridge = Bridge(bridge_config or BridgeConfig(), lm=lm, tokenizer=tokenizer).to(tc.device)
    params = [p for p in bridge.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_schedule(s, tc.steps, tc.warmup))
    start = 0
    ckpt = out / "checkpoint.pt"
    if tc.init_from and not ckpt.exists():
        bridge.load_state_dict(torch.load(tc.init_from, map_location=tc.device,
                                          weights_only=False)["trainable"], strict=False)
        log(f"initialised from {tc.init_from}")
    if ckpt.exists():
        state = torch.load(ckpt, map_location=tc.device, weights_only=False)
        bridge.load_state_dict(state["trainable"], strict=False)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["step"]
        log(f"resumed from step {start}")
    rng = np.random.default_rng(tc.seed)
    order = rng.permutation(len(texts))
    short = np.array([i for i, t in enumerate(texts) if len(t.split()) <= tc.pair_max_words])
    pair_rng = np.random.default_rng([tc.seed, start])
    bridge.train()
    log_path = out / "train_log.jsonl"
    t0, window = time.time(), []
    for step in range(start, tc.steps):
        pos = (step * tc.batch_size) % len(order)
        idx = order[pos: pos + tc.batch_size]
        if len(idx) < tc.batch_size:
            idx = np.concatenate([idx, order[: tc.batch_size - len(idx)]])
        batch = make_batch(texts, idx, short, tc.pair_rate, pair_rng)
        vecs = torch.from_numpy(encoder.encode(batch)).to(tc.device)
        loss = bridge.loss(vecs, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        opt.step()
        sched.step()
        window.append(loss.item())
        if (step + 1) % tc.log_every == 0 or step + 1 == tc.steps:
            rec = {"step": step + 1, "loss": float(np.mean(window)), "lr": sched.get_last_lr()[0],
                   "elapsed_s": round(time.time() - t0, 1)}
            with open(log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log(f"step {rec['step']}/{tc.steps} loss {rec['loss']:.3f} ({rec['elapsed_s']}s)")
            window = []
        if (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.steps:
            trainable = {k: v for k, v in bridge.state_dict().items()
                         if k.startswith("projector.") or "lora_" in k}
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"trainable": trainable, "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step + 1}, tmp)
            tmp.replace(ckpt)
            bridge.save(out / "bridge.safetensors")
    bridge.eval()
    return bridge
