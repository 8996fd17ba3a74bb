"""Train the bridge on a GPU machine that has neither the encoder nor a network.

A GPU machine reached through a file-transfer call takes at most ~64 MB of files per call, so
the sentence vectors are computed
here (`prep`, on CPU) and travel as int8 (per-vector scale; cosine to the float vectors >= 0.9999);
the machine then trains from them (`train`) with the LM read from the same GGUF as on CPU.

    python benchmarks/bridge_gpu.py prep --out runs/gpu/vectors.npz
    python benchmarks/bridge_gpu.py train --vectors runs/gpu/vectors.npz --out runs/bridge_v3 \\
        --device cuda --max-seconds 330 --init-from privsynth/weights/bridge.safetensors

Everything here is public text (the bundled Brown sentences): no member data is involved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privsynth.bridge import read_weights  # noqa: E402
from privsynth.train_bridge import TrainConfig, read_public_corpus, split_public, train  # noqa: E402

N_PAIRS = 8000


def _corpus() -> tuple[list[str], list[str], str]:
    train_texts, held = split_public(read_public_corpus())
    return train_texts, held, hashlib.sha256("\n".join(train_texts).encode()).hexdigest()


def _pairs(train_texts: list[str], max_words: int = 14, seed: int = 12345) -> np.ndarray:
    short = np.array([i for i, t in enumerate(train_texts) if len(t.split()) <= max_words])
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(short, size=2, replace=False) for _ in range(N_PAIRS)]).astype(np.int32)


def quantize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(v).max(1, keepdims=True) / 127.0
    return np.round(v / scale).astype(np.int8), scale[:, 0].astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    v = q.astype(np.float32) * scale[:, None]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def cmd_prep(args) -> None:
    from privsynth.encoder import Encoder

    train_texts, held, sha = _corpus()
    pairs = _pairs(train_texts)
    enc = Encoder(batch_size=128)
    out = {"pairs": pairs, "texts_sha": np.array(sha)}
    for key, texts in (("", train_texts), ("p", [f"{train_texts[a]} {train_texts[b]}" for a, b in pairs]), ("h", held)):
        t0 = time.time()
        v = enc.encode(texts)
        out[key + "q"], out[key + "s"] = quantize(v)
        cos = (dequantize(out[key + "q"], out[key + "s"]) * v).sum(1)
        print(f"{key or 'train'}: {len(texts)} vectors in {time.time() - t0:.0f} s, int8 cosine min {cos.min():.5f}")
    np.savez(args.out, **out)


def cmd_train(args) -> None:
    train_texts, held, sha = _corpus()
    z = np.load(args.vectors)
    if str(z["texts_sha"]) != sha:
        raise SystemExit(f"{args.vectors}: computed for another corpus split")
    pool = ([f"{train_texts[a]} {train_texts[b]}" for a, b in z["pairs"]], dequantize(z["pq"], z["ps"]))
    config, _ = read_weights(Path(args.init_from))
    config = replace(
        config,
        provenance={
            "corpus": "Brown corpus sentences (privsynth/data/brown_sentences.csv.gz), 500 held out",
            "train_sentences": len(train_texts),
            "recipe": (
                f"continued from {Path(args.init_from).name} on {args.device}: batch {args.batch_size}, "
                f"lr {args.lr} (warm-up {args.warmup}, cosine to 10%), {args.max_seconds:.0f} s budget, "
                f"{args.pair_rate:.0%} joined short-sentence pairs from a pool of {N_PAIRS}"
            ),
        },
    )
    tc = TrainConfig(
        steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        log_every=50,
        ckpt_every=1000,
        device=args.device,
        pair_rate=args.pair_rate,
        init_from=args.init_from,
        max_seconds=args.max_seconds,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    t0 = time.time()
    train(
        train_texts,
        args.out,
        bridge_config=config,
        train_config=tc,
        vectors=dequantize(z["q"], z["s"]),
        pair_pool=pool,
        heldout=(held, dequantize(z["hq"], z["hs"])),
        log=lambda m: print(m, flush=True),
    )
    print(json.dumps({"wall_s": round(time.time() - t0, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prep", help="compute the int8 sentence vectors (CPU)")
    p.add_argument("--out", required=True)
    t = sub.add_parser("train", help="train from the vectors (GPU or CPU)")
    t.add_argument("--vectors", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--init-from", default="privsynth/weights/bridge.safetensors")
    t.add_argument("--max-seconds", type=float, default=330)
    t.add_argument("--max-steps", type=int, default=100_000)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--pair-rate", type=float, default=0.25)
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    {"prep": cmd_prep, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
