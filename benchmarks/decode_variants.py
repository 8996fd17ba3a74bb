"""Which way of writing Private Evolution's variations keeps the class? Measured on survivors.

A dp release of SMS loses the spam class in the decoded part of its output, not in the vote
(``class_loss.py``: survivors released as they are read as spam 89% of the time, decoded
interpolations between them 50%, at 22 against 10 words). This script takes the survivors of
cached dp generations (the part released as they are: DP outputs, so anything done with them
is post-processing), makes the variations PE's last step makes (an interpolation between a
survivor and one of its k nearest survivors of the class, lambda in PE's range) and writes
them several ways:

- ``decode``: the bridge, best of ``--candidates`` by cosine to the target (PE today);
- ``decode-minlen``: the same, with the end token held back until the text is
  ``--min-share`` of the nearer parent's length in tokens (the parent is a survivor);
- ``decode-c8``: the bridge, best of 8 candidates;
- ``rewrite``: no vector: the plain public LM asked to rewrite the nearer parent (Aug-PE's
  variation API).

Each variant is judged by the utility benchmark's judge (logistic regression on MiniLM vectors
of the REAL training split): share labelled with the class, mean words, MiniLM cosine to the
target vector, seconds per record.

    python benchmarks/decode_variants.py --dataset sms \\
        'benchmarks/results/utility_synthetic/sms-synth-dp-eps*-417223a513eb4b87.json' ...
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import splits  # noqa: E402
from class_loss import ELITE_FRACTION, fit_judge, split_parts  # noqa: E402
from privsynth.io import write_json_atomic  # noqa: E402

VARIANTS = ("decode", "decode-minlen", "decode-c8", "rewrite")
REWRITE_PROMPT = "Rewrite this text message in other words. Keep its meaning and style.\n\nMessage: {text}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="generation JSON files or globs (dp runs)")
    ap.add_argument("--dataset", required=True, choices=sorted(splits.DATASETS))
    ap.add_argument("--per-class", default="spam=8,ham=4", help="variations per generation and class")
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--min-share", type=float, default=0.8)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    paths = sorted({p for pat in args.files for p in (glob.glob(pat) or [pat])})
    if not paths:
        raise SystemExit("no generation files given")
    per_class = {k: int(v) for k, v in (item.split("=") for item in args.per_class.split(","))}
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}; choose from {VARIANTS}")
    out_path = args.out or HERE / "results" / f"decode_variants_{args.dataset}.json"

    import torch

    from privsynth.bridge import Bridge, token_budget, token_lengths
    from privsynth.encoder import Encoder
    from privsynth.smotext import interpolate

    torch.manual_seed(args.seed)
    enc = Encoder()
    bridge = Bridge.load()
    judge = fit_judge(args.dataset, enc)
    rng = np.random.default_rng(args.seed)

    # targets: per generation and class, variations between its survivors
    targets, target_cls, parent_a, parent_b = [], [], [], []
    for path in paths:
        gen = json.loads(Path(path).read_text(encoding="utf-8"))
        elite_fraction = gen.get("info", {}).get("elite_fraction", ELITE_FRACTION)
        for c, (elite, _) in split_parts(gen["texts"], gen["labels"], elite_fraction).items():
            m = per_class.get(c, 0)
            if m <= 0 or len(elite) < 2:
                continue
            surv = [gen["texts"][i] for i in elite]
            # PE's last step: a survivor and one of its k nearest survivors, lambda in PE's range
            Z, _, pairs = interpolate(enc.encode(surv), np.zeros(len(surv)), {0: m}, k_neighbors=min(5, len(surv) - 1),
                                      lam_range=(0.1, 0.5), rng=rng, return_pairs=True)
            targets.append(Z)
            target_cls += [c] * m
            parent_a += [surv[i] for i, _, _ in pairs]  # the nearer parent: lambda < 0.5
            parent_b += [surv[j] for _, j, _ in pairs]
    Z = np.concatenate(targets).astype(np.float32)
    n_tok = token_lengths(bridge.tokenizer, parent_a)
    cap = np.maximum(token_budget(bridge.tokenizer, parent_a, hi=96), token_budget(bridge.tokenizer, parent_b, hi=96))
    print(f"{len(Z)} targets from {len(paths)} generations", flush=True)

    # variants already measured on the same targets (same files, counts and seed) are kept
    results = {}
    if out_path.exists():
        old = json.loads(out_path.read_text(encoding="utf-8"))
        same = old.get("files") == [str(Path(p).resolve().relative_to(ROOT)) for p in paths] and all(
            old["config"].get(k) == getattr(args, k) for k in ("per_class", "seed", "candidates", "min_share"))
        if same:
            results = {v: r for v, r in old["results"].items() if v not in variants}
    for v in variants:
        t0 = time.perf_counter()
        if v == "rewrite":
            texts = [bridge.sample_prompted(REWRITE_PROMPT.format(text=t), 1, seed=args.seed + i,
                                            temperature=0.7, top_p=0.9)[0] for i, t in enumerate(parent_a)]
        else:
            kw = {"n_candidates": 8 if v == "decode-c8" else args.candidates, "max_new_tokens": cap.tolist()}
            if v == "decode-minlen":
                kw["min_new_tokens"] = np.round(args.min_share * n_tok).astype(int).tolist()
            texts = bridge.decode(Z, encoder=enc, seed=args.seed, **kw)
        secs = time.perf_counter() - t0
        E = enc.encode(texts)
        pred = judge.predict(E)
        cos = np.einsum("nd,nd->n", E, Z)
        per = {}
        for c in sorted(set(target_cls)):
            ix = [i for i, y in enumerate(target_cls) if y == c]
            per[c] = {"n": len(ix), "kept": float(np.mean([pred[i] == c for i in ix])),
                      "words": float(np.mean([len(texts[i].split()) for i in ix])),
                      "cosine": float(np.mean(cos[ix]))}
        results[v] = {"per_class": per, "s_per_record": secs / len(Z), "examples": texts[:3]}
        print(v, json.dumps(per), f"{secs / len(Z):.2f} s/record", flush=True)

    parent_words = {c: float(np.mean([len(parent_a[i].split()) for i, y in enumerate(target_cls) if y == c]))
                    for c in sorted(set(target_cls))}
    write_json_atomic(out_path, {"benchmark": "decode_variants", "dataset": args.dataset,
                                 "files": [str(Path(p).resolve().relative_to(ROOT)) for p in paths],
                                 "config": {**vars(args), "out": out_path.name, "files": None},
                                 "parent_words": parent_words, "results": results})
    lines = [f"# Writing PE's variations: class kept by variant ({args.dataset}, {len(Z)} variations of "
             f"survivors from {len(paths)} generations)", "",
             "Judge: LR on MiniLM vectors of the real training split. Parent: the nearer survivor "
             f"(mean words: {', '.join(f'{c} {w:.0f}' for c, w in parent_words.items())}).", "",
             "| variant | class | kept (judge) | words | cosine to target | s/record |", "|---|---|---|---|---|---|"]
    for v, r in sorted(results.items(), key=lambda kv: VARIANTS.index(kv[0])):
        for c, s in r["per_class"].items():
            lines.append(f"| {v} | {c} | {s['kept']:.2f} | {s['words']:.0f} | {s['cosine']:.3f} | "
                         f"{r['s_per_record']:.2f} |")
    out_path.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
