"""Does synthetic text read like its source? Repeats, bigram diversity, vocabulary, LM scaffolding.

Two parts, both on committed files and the product's own functions (``privsynth.diversity``,
``privsynth.scaffolding``):

1. The scaffolding detector against hand labels (``benchmarks/data/scaffolding_labels.jsonl``:
   100 "dev" texts the detectors were written from -- 60 raw answers of the bundled LM to four
   class prompts and 40 dp outputs -- and 40 "check" texts, raw answers to the same prompts with
   another seed, labelled before the detectors were tuned): recall and false positives per
   split, and how often it fires on the real corpora (every hit there is a false positive).
2. Each synthetic set given with ``--sets`` (JSON files with ``texts``, as ``utility.py`` writes
   them): exact and near repeats, distinct-bigram share, vocabulary, scaffolding hits; the real
   training records of the same size beside them.
3. With ``--mauve``: MAUVE (``mauve-text``, on the embedded MiniLM's vectors, its default
   settings and seed) of each set against its dataset's held-out test split, and of the 1,000
   real training records against the same split (real against real: the ceiling). Needs
   ``pip install 'privsynth[bench]'``.

Usage: python benchmarks/fidelity.py [--sets 'benchmarks/results/utility_full_synthetic/*.json']
       [--mauve] [--out benchmarks/results/fidelity.json]
"""

from __future__ import annotations

import argparse
import glob
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

from privsynth import scaffolding  # noqa: E402
from privsynth.diversity import diversity  # noqa: E402

LABELS = HERE / "data" / "scaffolding_labels.jsonl"


def detector_scores(path: Path = LABELS) -> dict:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = {}
    for split in sorted({r["split"] for r in rows}):
        R = [r for r in rows if r["split"] == split]
        hit = [bool(scaffolding.find(r["text"])) for r in R]
        pos = [r["scaffolding"] for r in R]
        tp = sum(h and p for h, p in zip(hit, pos))
        out[split] = {
            "texts": len(R),
            "labelled_scaffolding": sum(pos),
            "found": tp,
            "recall": tp / max(sum(pos), 1),
            "false_positives": sum(h and not p for h, p in zip(hit, pos)),
            "missed_ids": [r["id"] for r, h, p in zip(R, hit, pos) if p and not h],
        }
    return out


def real_hits() -> dict:
    out = {}
    for name in splits.DATASETS:
        texts = [r.text for r in splits.read_dataset(name)]
        by: dict[str, int] = {}
        for t in texts:
            for d in scaffolding.find(t):
                by[d] = by.get(d, 0) + 1
        n = sum(bool(scaffolding.find(t)) for t in texts)
        out[name] = {"records": len(texts), "flagged": n, "share": n / len(texts), "by_detector": by}
    return out


def set_figures(pattern: str, seed: int = 0, mauve: bool = False) -> list[dict]:
    rows = []
    texts_of: dict[str, list[str]] = {}
    for f in sorted(glob.glob(pattern)):
        d = json.loads(Path(f).read_text(encoding="utf-8"))
        texts = [str(t) for t in d["texts"]]
        row = {"set": Path(f).name, **diversity(texts)}
        row["scaffolding"] = sum(bool(scaffolding.find(t)) for t in texts)
        rows.append(row)
        texts_of[row["set"]] = texts
    rng = np.random.default_rng(seed)
    for name in splits.DATASETS:
        test = set(splits.read_ids(splits.SPLIT_DIR / splits.SPLIT_FILES[name]))
        train = [r.text for r in splits.read_dataset(name) if r.id not in test]
        pick = [train[i] for i in rng.choice(len(train), min(1000, len(train)), replace=False)]
        rows.append(
            {
                "set": f"{name}-real-1000",
                **diversity(pick),
                "scaffolding": sum(bool(scaffolding.find(t)) for t in pick),
            }
        )
        texts_of[f"{name}-real-1000"] = pick
    if mauve:
        add_mauve(rows, texts_of)
    return rows


def add_mauve(rows: list[dict], texts_of: dict[str, list[str]]) -> None:
    """Each row's MAUVE against its dataset's test split (p: the real held-out records, q: the set)."""
    import mauve

    from privsynth.encoder import Encoder

    enc = Encoder()
    held: dict[str, np.ndarray] = {}
    for name in splits.DATASETS:
        test = set(splits.read_ids(splits.SPLIT_DIR / splits.SPLIT_FILES[name]))
        held[name] = enc.encode([r.text for r in splits.read_dataset(name) if r.id in test])
    for row in rows:
        name = next((n for n in splits.DATASETS if row["set"].startswith(f"{n}-")), None)
        if name is None:
            continue
        q = enc.encode(texts_of[row["set"]])
        out = mauve.compute_mauve(p_features=held[name], q_features=q, device_id=-1, verbose=False)
        row["mauve_vs_test_split"] = round(float(out.mauve), 4)
        row["mauve_test_split_records"] = len(held[name])
        print(f"mauve {row['set'][:60]}: {row['mauve_vs_test_split']:.3f}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=str(HERE / "results" / "utility_full_synthetic" / "*.json"))
    ap.add_argument("--out", default=str(HERE / "results" / "fidelity.json"))
    ap.add_argument("--mauve", action="store_true", help="also MAUVE against the test split (privsynth[bench])")
    args = ap.parse_args(argv)
    res = {
        "benchmark": "fidelity",
        "command": "python benchmarks/fidelity.py" + ("" if argv is None else " " + " ".join(argv)),
        "detector": detector_scores(),
        "detector_on_real_corpora": real_hits(),
        "sets": set_figures(args.sets, mauve=args.mauve),
    }
    for split, d in res["detector"].items():
        found = f"{d['found']}/{d['labelled_scaffolding']}"
        print(f"detector, {split}: {found} found, {d['false_positives']} false positives")
    for name, d in res["detector_on_real_corpora"].items():
        print(f"detector on real {name}: {d['flagged']} of {d['records']} flagged")
    for r in res["sets"]:
        print(
            f"{r['set'][:44]:44s} exact {r['exact_repeat_share']:.3f} near {r['near_repeat_share']:.3f} "
            f"bigrams {r['distinct_bigram_share']:.3f} vocab {r['vocabulary']} scaffolding {r['scaffolding']}"
        )
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
