"""How well the utility benchmark's classifiers do on N REAL records: the ceiling for N synthetic ones.

A synthetic set of 200 records cannot be expected to train a better classifier than 200 real
records of the same task would, so the utility targets (a share of train-on-real with the whole
training split) mix two losses: what the generator loses, and what a small training set loses.
This separates them: the same two classifiers as `utility.py` (TF-IDF + LR, LR on MiniLM
vectors, same C), trained on stratified random subsets of the real training split, scored on
the same fixed real test split, several draws per size.

Usage: python benchmarks/real_subsample.py [--datasets sms,rt] [--sizes 200,1000,0] [--draws 5]
Writes benchmarks/results/real_subsample.{json,md}.
"""

from __future__ import annotations

import argparse
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
import utility  # noqa: E402

RESULTS = utility.RESULTS
CLASSIFIERS = {"tfidf_lr": "TF-IDF LR", "minilm_lr": "MiniLM LR"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="sms,rt")
    ap.add_argument("--sizes", default="200,1000,0", help="real training records per draw (0: the whole split)")
    ap.add_argument("--draws", type=int, default=5, help="stratified subsets per size (seeds 0..draws-1)")
    ap.add_argument("--out", type=Path, default=RESULTS / "real_subsample.json")
    args = ap.parse_args(argv)

    cfg = utility.Config()
    models = utility.Models(cfg)
    rows = []
    for dataset in [d for d in args.datasets.split(",") if d]:
        data = utility.load_data(dataset, cfg)
        for size in [int(s) for s in args.sizes.split(",") if s]:
            n = size or len(data.train)
            draws = 1 if n >= len(data.train) else args.draws
            for draw in range(draws):
                train = splits.subsample(data.train, n, seed=draw)
                t0 = time.perf_counter()
                m = utility.classify([r.text for r in train], [r.label for r in train], data, dataset, models, cfg)
                rows.append(
                    {
                        "dataset": dataset,
                        "size": len(train),
                        "draw": draw,
                        "metrics": m,
                        "s": round(time.perf_counter() - t0, 2),
                    }
                )
                print(
                    f"{dataset} n={len(train)} draw {draw}: "
                    + ", ".join(f"{CLASSIFIERS[k]} {v['macro_f1']:.3f}" for k, v in m.items()),
                    flush=True,
                )

    out = {
        "run": utility.run_info(sys.argv[1:] if argv is None else list(argv)),
        "classifier_C": cfg.classifier_C,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(report(rows), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md').name}")
    return 0


def report(rows: list[dict]) -> str:
    lines = [
        "# Real-data ceiling by training-set size",
        "",
        "The utility benchmark's two classifiers trained on stratified random subsets of the REAL "
        "training split, scored on the fixed real test split (`benchmarks/real_subsample.py`). "
        "Macro-F1, mean ± sd over draws; the share is of the largest size run (the whole split by "
        "default). A synthetic set "
        "of N records is read against the N-record row.",
        "",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        full = max(r["size"] for r in mine)
        ref = {k: np.mean([r["metrics"][k]["macro_f1"] for r in mine if r["size"] == full]) for k in CLASSIFIERS}
        lines += [
            f"## {dataset}",
            "",
            "| real records | draws | " + " | ".join(f"{v} macro-F1 | share" for v in CLASSIFIERS.values()) + " |",
            "|---|---|" + "---|---|" * len(CLASSIFIERS),
        ]
        for size in sorted(dict.fromkeys(r["size"] for r in mine)):
            at = [r for r in mine if r["size"] == size]
            cells = []
            for k in CLASSIFIERS:
                v = np.array([r["metrics"][k]["macro_f1"] for r in at])
                sd = f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""
                cells += [f"{v.mean():.3f}{sd}", f"{v.mean() / ref[k]:.1%}"]
            lines.append(f"| {size} | {len(at)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
