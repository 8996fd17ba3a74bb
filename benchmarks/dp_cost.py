"""A dp run's fixed cost: `privsynth release --epsilon 4 --n 1000` on a 6-class corpus of 1,400 records.

The corpus is a seeded sample of the Brown sentences shipped in ``privsynth/data``, about 233
records from each of six genres (news, religion, romance, hobbies, government, humor). Those
sentences are also the public seed pool and the bridge's training text, so this measures time
only: no utility or fidelity figure comes from it. Everything else is at the shipped defaults
(population 64 a class, 5 rounds, 8 candidates), except what ``--extra`` adds (e.g.
``--population-candidates 1``). The figures come from the release's own internal report:
each stage's seconds and each Private Evolution step's.

Usage: python benchmarks/dp_cost.py [--extra "--population-candidates 1"] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import BROWN, timed_release  # noqa: E402

GENRES = ("news", "religion", "romance", "hobbies", "government", "humor")


def six_class_corpus(n: int = 1400, seed: int = 0) -> list[tuple[str, str, str]]:
    with gzip.open(BROWN, "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["id"], r["text"], r["label"]) for r in csv.DictReader(fh) if r["label"] in GENRES]
    rng = random.Random(seed)
    out = []
    for i, genre in enumerate(GENRES):
        of_genre = [r for r in rows if r[2] == genre]
        out += rng.sample(of_genre, n // len(GENRES) + (1 if i < n % len(GENRES) else 0))
    rng.shuffle(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", default="", help="more release options, as one string")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dp_cost.json")
    a = ap.parse_args()
    extra = shlex.split(a.extra)
    args = ["--n", "1000", "--labels", ",".join(GENRES), *extra]
    row = timed_release(six_class_corpus(), args, "cpu")
    row["options"] = " ".join(["--epsilon 4", *args])
    print(json.dumps(row), file=sys.stderr)
    runs = json.loads(a.out.read_text(encoding="utf-8"))["runs"] if a.out.exists() else []
    runs = [r for r in runs if r.get("options") != row["options"]] + [row]
    result = {
        "benchmark": "dp_cost",
        "schema_version": 1,
        "command": "python benchmarks/dp_cost.py [--extra OPTIONS]",
        "corpus": "1,400 Brown sentences, six genres (timing only)",
        "cores": len(os.sched_getaffinity(0)),
        "runs": runs,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if row["exit"] in (0, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
