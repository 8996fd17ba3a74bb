"""Fixed train/test splits for the utility benchmark, committed as lists of test ids.

The test side is 20% of the records of each class, drawn with a fixed seed. Records whose
texts are identical after normalisation (privsynth's ``normalize_text``: case, whitespace,
punctuation at the edges) form one group and always land on the same side, so a test record
never has a copy in the training data (SMS has 435 such repeats, mostly templated spam). A
group is stratified by the label of its first record.

The generator, the classifiers and the auditor's members all come from the train side; the
test side is the auditor's holdout and is never seen by any generator.

Usage: python benchmarks/splits.py [--check]   # (re)write, or verify, benchmarks/splits/*.txt
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from privsynth.smotext import normalize_text  # noqa: E402

DATA_DIR = ROOT / "benchmarks" / "data"
SPLIT_DIR = ROOT / "benchmarks" / "splits"
DATASETS = {"sms": "sms_spam.csv", "rt": "rotten_tomatoes.csv"}
SPLIT_FILES = {"sms": "sms_test_ids.txt", "rt": "rt_test_ids.txt"}
TEST_FRACTION = 0.2
SPLIT_SEED = 0


class Record(NamedTuple):
    id: str
    text: str
    label: str


def read_dataset(name: str, data_dir: Path = DATA_DIR) -> list[Record]:
    """The records of dataset ``name`` ('sms' or 'rt') in file order."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    with open(data_dir / DATASETS[name], encoding="utf-8", newline="") as fh:
        return [Record(r["id"], r["text"], r["label"]) for r in csv.DictReader(fh)]


def make_test_ids(records: list[Record], *, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> list[str]:
    """Sorted test ids: per class, whole groups of identical (normalised) texts in seeded
    random order until the class has ``test_fraction`` of its records on the test side."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be within (0, 1); got {test_fraction!r}")
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[normalize_text(r.text)].append(r)
    by_label: dict[str, list[str]] = defaultdict(list)
    for key in sorted(groups):  # sorted: the order never depends on the file order
        by_label[groups[key][0].label].append(key)
    rng = np.random.default_rng(seed)
    test: list[str] = []
    for label in sorted(by_label):
        keys = by_label[label]
        want = round(test_fraction * sum(len(groups[k]) for k in keys))
        taken = 0
        for i in rng.permutation(len(keys)):
            if taken >= want:
                break
            members = groups[keys[i]]
            test.extend(r.id for r in members)
            taken += len(members)
    return sorted(test)


def write_ids(path: Path, ids: list[str], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {header}\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")


def read_ids(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")]


def load_split(
    name: str, *, split_dir: Path = SPLIT_DIR, data_dir: Path = DATA_DIR
) -> tuple[list[Record], list[Record]]:
    """(train, test) records of dataset ``name`` from the committed test-id list."""
    records = read_dataset(name, data_dir)
    path = split_dir / SPLIT_FILES[name]
    if not path.exists():
        raise SystemExit(f"{path}: split file missing; run `python benchmarks/splits.py` to write it")
    test_ids = set(read_ids(path))
    unknown = test_ids - {r.id for r in records}
    if unknown:
        raise SystemExit(f"{path}: {len(unknown)} id(s) not in {DATASETS[name]} (e.g. {sorted(unknown)[0]})")
    return [r for r in records if r.id not in test_ids], [r for r in records if r.id in test_ids]


def subsample(records: list[Record], n: int, *, seed: int) -> list[Record]:
    """A stratified, seeded subset of about ``n`` records (every class keeps >= 2), in input order."""
    if n >= len(records):
        return list(records)
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_label[r.label].append(i)
    keep: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        k = max(2, round(n * len(idx) / len(records)))
        keep.extend(rng.choice(idx, size=min(k, len(idx)), replace=False).tolist())
    return [records[i] for i in sorted(keep)]


def _header(name: str, n_test: int, n_all: int) -> str:
    return (
        f"{DATASETS[name]}: {n_test} test ids of {n_all} records ({TEST_FRACTION:.0%} per class, seed "
        f"{SPLIT_SEED}, identical normalised texts kept on one side); written by benchmarks/splits.py"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files instead of writing them")
    args = ap.parse_args()
    bad = 0
    for name in DATASETS:
        records = read_dataset(name)
        ids = make_test_ids(records)
        path = SPLIT_DIR / SPLIT_FILES[name]
        if args.check:
            same = path.exists() and read_ids(path) == ids
            bad += not same
            print(f"{path.name}: {'ok' if same else 'DIFFERS from a fresh split'}")
        else:
            write_ids(path, ids, _header(name, len(ids), len(records)))
            print(f"{path}: {len(ids)} test ids of {len(records)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
