"""Where synthetic records sit against the real test split: what limits a synthetic set's utility.

The utility benchmark measures a downstream classifier; this measures the data it learns from,
in the same MiniLM space (privsynth's encoder, which the MiniLM-LR classifier reads):

- coverage: the mean, over real test records of a class, of the cosine to the nearest synthetic
  record of that class (how near the synthetic set comes to what the class really says);
- support: how many distinct synthetic records are the nearest one to some test record of their
  class, as an effective number, exp(entropy) of that assignment (a set of 1,000 records that
  sits on 30 points has a support near 30, whatever its size);
- 1-NN macro-F1: the test split labelled by its nearest synthetic record (no fitted model);
- MiniLM-LR macro-F1, recomputed by the benchmark's own classifier, to read the others against.

Reference rows: stratified random subsets of the REAL training split of the same sizes, as in
`real_subsample.py`. Reads saved generations (the ``*_synthetic/`` folders `utility.py` writes);
generates nothing.

Usage: python benchmarks/synth_coverage.py --dataset sms --set "dp 200=utility_judge_synthetic/sms-synth-dp-eps4-*"
       [--set ...] [--real-sizes 200,1000] [--draws 3] [--out benchmarks/results/coverage_sms.json]
Globs are relative to benchmarks/results/. Writes the JSON and a markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import splits  # noqa: E402
import utility  # noqa: E402
from utility_report import mean_sd  # noqa: E402

from privsynth.encoder import normalize  # noqa: E402

RESULTS = utility.RESULTS


def measure(
    train_texts: list[str],
    train_labels: list[str],
    data: utility.Data,
    dataset: str,
    models: utility.Models,
    cfg: utility.Config,
) -> dict:
    """The coverage figures of one training set (synthetic or real) against the test split."""
    from sklearn.metrics import f1_score

    test_labels = np.array([r.label for r in data.test])
    T = normalize(models.embed([r.text for r in data.test]))
    S = normalize(models.embed(train_texts))
    y = np.array(train_labels)
    sims = T @ S.T
    out: dict = {
        "n": len(train_texts),
        "distinct": len(set(train_texts)) / max(len(train_texts), 1),
        "coverage": {},
        "support": {},
    }
    labels = sorted(set(test_labels))
    for c in labels:
        rows, cols = test_labels == c, np.flatnonzero(y == c)
        if not len(cols):
            out["coverage"][c], out["support"][c] = 0.0, 0.0
            continue
        own = sims[np.ix_(rows, cols)]
        out["coverage"][c] = float(own.max(axis=1).mean())
        _, counts = np.unique(own.argmax(axis=1), return_counts=True)
        p = counts / counts.sum()
        out["support"][c] = float(np.exp(-(p * np.log(p)).sum()))
    nn = y[sims.argmax(axis=1)]
    out["nn_macro_f1"] = float(f1_score(test_labels, nn, labels=labels, average="macro", zero_division=0))
    out["minilm_lr_macro_f1"] = utility.classify(train_texts, train_labels, data, dataset, models, cfg)["minilm_lr"][
        "macro_f1"
    ]
    return out


def summarise(name: str, runs: list[dict]) -> dict:
    classes = sorted(runs[0]["coverage"])
    row = {
        "set": name,
        "files": len(runs),
        "n": int(np.mean([r["n"] for r in runs])),
        "distinct": mean_sd([r["distinct"] for r in runs]),
    }
    for c in classes:
        row[f"coverage_{c}"] = mean_sd([r["coverage"][c] for r in runs])
        row[f"support_{c}"] = mean_sd([r["support"][c] for r in runs])
    row["nn_macro_f1"] = mean_sd([r["nn_macro_f1"] for r in runs])
    row["minilm_lr_macro_f1"] = mean_sd([r["minilm_lr_macro_f1"] for r in runs])
    return row


def report(dataset: str, rows: list[dict]) -> str:
    classes = sorted(k[len("coverage_") :] for k in rows[0] if k.startswith("coverage_"))
    head = (
        ["set", "files", "records", "distinct"]
        + [f"coverage {c}" for c in classes]
        + [f"support {c}" for c in classes]
        + ["1-NN macro-F1", "MiniLM LR macro-F1"]
    )
    fmt = lambda ms, d=3: f"{ms['mean']:.{d}f}" + (f" ± {ms['sd']:.{d}f}" if ms["sd"] else "")  # noqa: E731
    lines = [
        f"# Coverage of the real test split: {dataset}",
        "",
        "MiniLM space (privsynth's encoder). Coverage: mean cosine from a real test record to the "
        "nearest synthetic record of its class. Support: effective number (exp entropy) of distinct "
        "synthetic records that are the nearest to some test record of their class. 1-NN: the test "
        "split labelled by its nearest training record. Mean ± sd over files (seeds) or real draws. "
        "`benchmarks/synth_coverage.py`.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [r["set"], str(r["files"]), str(r["n"]), fmt(r["distinct"], 2)]
        cells += [fmt(r[f"coverage_{c}"]) for c in classes] + [fmt(r[f"support_{c}"], 0) for c in classes]
        cells += [fmt(r["nn_macro_f1"]), fmt(r["minilm_lr_macro_f1"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="sms", choices=sorted(splits.DATASETS))
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=GLOB",
        help="a named group of saved generations (glob relative to benchmarks/results/)",
    )
    ap.add_argument("--real-sizes", default="200,1000", help="sizes of the real reference subsets")
    ap.add_argument("--draws", type=int, default=3, help="stratified real subsets per size")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    cfg = utility.Config()
    models = utility.Models(cfg)
    data = utility.load_data(args.dataset, cfg)
    rows, detail = [], {}
    for size in [int(s) for s in args.real_sizes.split(",") if s]:
        name = f"real {size}"
        runs = []
        for draw in range(args.draws):
            train = splits.subsample(data.train, size, seed=draw)
            runs.append(measure([r.text for r in train], [r.label for r in train], data, args.dataset, models, cfg))
        detail[name] = runs
        rows.append(summarise(name, runs))
        print(f"{name}: {rows[-1]}", flush=True)
    for spec in args.set:
        name, sep, pattern = spec.partition("=")
        files = sorted(RESULTS.glob(pattern)) if sep else []
        if not files:
            ap.error(f"--set {spec!r}: no saved generation matches (expected NAME=GLOB under {RESULTS})")
        runs = []
        for f in files:
            saved = json.loads(f.read_text(encoding="utf-8"))
            run = measure(saved["texts"], saved["labels"], data, args.dataset, models, cfg)
            run["file"] = str(f.relative_to(ROOT))
            runs.append(run)
        detail[name] = runs
        rows.append(summarise(name, runs))
        print(f"{name}: {rows[-1]}", flush=True)

    out = args.out or RESULTS / f"coverage_{args.dataset}.json"
    payload = {
        "run": utility.run_info(sys.argv[1:] if argv is None else list(argv)),
        "dataset": args.dataset,
        "rows": rows,
        "detail": detail,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(report(args.dataset, rows), encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
