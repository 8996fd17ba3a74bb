"""Where does a dp release lose its class? Survivors released as they are, against decoded outputs.

Private Evolution's output lists, per class, the best last survivors as they are (the first
``int(elite_fraction * class size)`` records of the class, ``PrivateEvolution._final``), then
decoded interpolations between survivors. This script takes cached generations of the utility
benchmark (``results/utility*_synthetic/*.json``), trains the utility benchmark's judge (logistic
regression on MiniLM vectors of the REAL training split) and reports, per class, the share the
judge labels with the assigned class and the mean length in words, for the two parts apart.

    python benchmarks/class_loss.py --dataset sms \
        'benchmarks/results/utility_synthetic/sms-synth-dp-eps4-*.json' --out benchmarks/results/class_loss_sms.json

Caveat: a class with fewer survivors than its elite count releases fewer of them as they are;
the split then counts a few decoded records as survivors (the file does not record the count).
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import splits  # noqa: E402
from privsynth.io import write_json_atomic  # noqa: E402

ELITE_FRACTION = 0.25  # PrivateEvolution's default elite_fraction


def split_parts(texts: list[str], labels: list[str], elite_fraction: float = ELITE_FRACTION
                ) -> dict[str, tuple[list[int], list[int]]]:
    """{class: (indices released as they are, indices decoded)} in output order."""
    out = {}
    for c in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == c]
        k = int(elite_fraction * len(idx))
        out[c] = (idx[:k], idx[k:])
    return out


def fit_judge(dataset: str, encoder):
    """The utility benchmark's judge: logistic regression (C=10) on MiniLM vectors of the REAL
    training split."""
    from sklearn.linear_model import LogisticRegression

    train, _ = splits.load_split(dataset)
    return LogisticRegression(C=10.0, max_iter=2000).fit(encoder.encode([r.text for r in train]),
                                                         [r.label for r in train])


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="generation JSON files or globs")
    ap.add_argument("--dataset", required=True, choices=sorted(splits.DATASETS))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "class_loss.json")
    args = ap.parse_args(argv)
    paths = sorted({p for pat in args.files for p in (glob.glob(pat) or [pat])})
    if not paths:
        raise SystemExit("no generation files given")

    from privsynth.encoder import Encoder

    enc = Encoder()
    judge = fit_judge(args.dataset, enc)
    runs = []
    for path in paths:
        gen = json.loads(Path(path).read_text(encoding="utf-8"))
        texts, labels = gen["texts"], gen["labels"]
        pred = judge.predict(enc.encode(texts))
        per = {}
        elite_fraction = gen.get("info", {}).get("elite_fraction", ELITE_FRACTION)  # older files lack it
        for c, (elite, decoded) in split_parts(texts, labels, elite_fraction).items():
            def part(ix: list[int]) -> dict:
                return {"n": len(ix), "kept": float(np.mean([pred[i] == c for i in ix])) if ix else None,
                        "words": float(np.mean([len(texts[i].split()) for i in ix])) if ix else None}
            per[c] = {"as_they_are": part(elite), "decoded": part(decoded)}
        runs.append({"file": str(Path(path).resolve().relative_to(ROOT)), "elite_fraction": elite_fraction,
                     "per_class": per})

    summary: dict[str, dict] = {}
    for c in sorted({c for r in runs for c in r["per_class"]}):
        summary[c] = {}
        for part in ("as_they_are", "decoded"):
            figures = [r["per_class"][c][part] for r in runs if c in r["per_class"]]
            summary[c][part] = {stat: _mean([f[stat] for f in figures]) for stat in ("kept", "words")}
    write_json_atomic(args.out, {"benchmark": "class_loss", "dataset": args.dataset, "judge": "MiniLM + LR (C=10) on "
                                 "the real training split", "runs": runs,
                                 "summary": summary})
    lines = [f"# Class kept by part of the output ({args.dataset}, {len(runs)} generations)", "",
             "| class | part | kept (judge) | words |", "|---|---|---|---|"]
    for c, parts in summary.items():
        for part, s in parts.items():
            kept = "-" if s["kept"] is None else f"{s['kept']:.2f}"
            words = "-" if s["words"] is None else f"{s['words']:.0f}"
            lines.append(f"| {c} | {part.replace('_', ' ')} | {kept} | {words} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
