"""Train the bridge on PUBLIC text: projector (+ LoRA on the LM), encoder and LM frozen.

Objective: next-token loss of a sentence given its own soft tokens (xRAG's paraphrase pre-
training). With `pair_rate` > 0, that share of each batch is two short sentences joined into
one text, encoded as a whole: the encoder puts such a text between its two halves, so the
decoder learns what the in-between vectors that SMOTExT interpolates should decode to. Runs on
CPU or CUDA, logs one JSON line per logged step, checkpoints so an interrupted run resumes
where it stopped, and writes CPU-loadable safetensors."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

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
    # Stop after about this many seconds (of this invocation): the step count, and so the cosine
    # schedule, is set from the speed of its first `calibrate_steps` steps. None: run `steps` steps.
    max_seconds: float | None = None
    calibrate_steps: int = 20
    # With `heldout` given to train(): its loss every eval_every steps (0: at the end only), and
    # the weights with the lowest held-out loss kept as bridge_best.safetensors.
    eval_every: int = 0


def make_batch(
    texts: list[str], idx: np.ndarray, short: np.ndarray, pair_rate: float, rng: np.random.Generator
) -> list[str]:
    """The texts at idx; a pair_rate share become '<short a> <short b>' (both from `short`)."""
    batch = [texts[i] for i in idx]
    if pair_rate <= 0 or len(short) < 2:
        return batch
    for j in np.flatnonzero(rng.random(len(batch)) < pair_rate):
        a, b = rng.choice(short, size=2, replace=False)
        batch[j] = f"{texts[a]} {texts[b]}"
    return batch


def pooled_batch(
    texts: list[str],
    vectors: np.ndarray,
    idx: np.ndarray,
    pair_pool: tuple[list[str], np.ndarray] | None,
    pair_rate: float,
    rng: np.random.Generator,
) -> tuple[list[str], torch.Tensor]:
    """The texts at idx with their precomputed vectors; a pair_rate share drawn from the pool."""
    batch = [texts[i] for i in idx]
    vecs = np.array(vectors[idx], dtype=np.float32)
    if pair_pool is not None and pair_rate > 0:
        pool_texts, pool_vecs = pair_pool
        for j in np.flatnonzero(rng.random(len(batch)) < pair_rate):
            k = int(rng.integers(len(pool_texts)))
            batch[j], vecs[j] = pool_texts[k], pool_vecs[k]
    return batch, torch.from_numpy(vecs)


def train(
    texts: list[str],
    out_dir: str | Path,
    *,
    bridge_config: BridgeConfig | None = None,
    train_config: TrainConfig | None = None,
    encoder: Encoder | None = None,
    lm=None,
    tokenizer=None,
    log=print,
    vectors: np.ndarray | None = None,
    pair_pool: tuple[list[str], np.ndarray] | None = None,
    heldout: tuple[list[str], np.ndarray] | None = None,
) -> Bridge:
    """Train a bridge on `texts` into out_dir (bridge.safetensors, train_log.jsonl, checkpoint).

    Resumes from out_dir/checkpoint.pt when present. `vectors` (aligned with `texts`) and
    `pair_pool` (joined texts and their vectors) are embeddings computed beforehand, so a GPU
    machine can train without the encoder; pairs are then drawn from the pool.
    """
    tc = train_config or TrainConfig()
    if vectors is not None and len(vectors) != len(texts):
        raise UserError(f"vectors: {len(vectors)} rows for {len(texts)} texts")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)
    if vectors is None:
        encoder = encoder or Encoder()
    bridge = Bridge(bridge_config or BridgeConfig(), lm=lm, tokenizer=tokenizer).to(tc.device)
    params = [p for p in bridge.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=0.0)
    plan = {"total": tc.steps}
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_schedule(s, plan["total"], tc.warmup))
    start = 0
    ckpt = out / "checkpoint.pt"
    if tc.init_from and not ckpt.exists():
        if str(tc.init_from).endswith(".safetensors"):
            bridge.load_trainable(tc.init_from)
        else:
            bridge.load_state_dict(
                torch.load(tc.init_from, map_location=tc.device, weights_only=False)["trainable"], strict=False
            )
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
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if str(tc.device).startswith("cuda") else contextlib.nullcontext()
    )
    t0, window, step, best = time.time(), [], start, float("inf")

    def heldout_loss() -> float:
        bridge.eval()
        texts_h, vecs_h = cast("tuple[list[str], np.ndarray]", heldout)  # called only with a heldout set
        total = 0.0
        with torch.no_grad(), autocast:
            for i in range(0, len(texts_h), 100):
                chunk = texts_h[i : i + 100]
                v = torch.from_numpy(np.asarray(vecs_h[i : i + 100], dtype=np.float32)).to(tc.device)
                total += bridge.loss(v, chunk, per_sample=True).float().sum().item()
        bridge.train()
        return total / len(texts_h)

    while step < plan["total"]:
        pos = (step * tc.batch_size) % len(order)
        idx = order[pos : pos + tc.batch_size]
        if len(idx) < tc.batch_size:
            idx = np.concatenate([idx, order[: tc.batch_size - len(idx)]])
        if vectors is None:
            batch = make_batch(texts, idx, short, tc.pair_rate, pair_rng)
            vecs = torch.from_numpy(cast(Encoder, encoder).encode(batch))  # set above when vectors is None
        else:
            batch, vecs = pooled_batch(texts, vectors, idx, pair_pool, tc.pair_rate, pair_rng)
        with autocast:
            loss = bridge.loss(vecs.to(tc.device), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        opt.step()
        sched.step()
        window.append(loss.item())
        step += 1
        if tc.max_seconds is not None and step == start + tc.calibrate_steps:
            per_step = (time.time() - t0) / tc.calibrate_steps
            plan["total"] = min(tc.steps, step + int((tc.max_seconds - (time.time() - t0)) / per_step))
            log(f"{per_step:.3f} s/step: {plan['total']} steps fit in {tc.max_seconds:.0f} s")
        last = step == plan["total"]
        evaluate = heldout is not None and (last or bool(tc.eval_every and step % tc.eval_every == 0))
        if step % tc.log_every == 0 or last or evaluate:
            rec: dict[str, Any] = {
                "step": step,
                "loss": float(np.mean(window)),
                "lr": sched.get_last_lr()[0],
                "elapsed_s": round(time.time() - t0, 1),
                "total_steps": plan["total"],
            }
            if evaluate:
                rec["heldout_loss"] = heldout_loss()
                if rec["heldout_loss"] < best:
                    best = rec["heldout_loss"]
                    bridge.save(out / "bridge_best.safetensors")
            with open(log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            held = f", held-out {rec['heldout_loss']:.3f}" if "heldout_loss" in rec else ""
            log(f"step {rec['step']}/{plan['total']} loss {rec['loss']:.3f}{held} ({rec['elapsed_s']}s)")
            window = []
        if step % tc.ckpt_every == 0 or last:
            trainable = {k: v for k, v in bridge.state_dict().items() if k.startswith("projector.") or "lora_" in k}
            tmp = ckpt.with_suffix(".tmp")
            torch.save(
                {"trainable": trainable, "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step}, tmp
            )
            tmp.replace(ckpt)
            bridge.save(out / "bridge.safetensors")
    bridge.eval()
    return bridge
