"""The auditor's PII check, one process against several: same findings, and how long each takes.

1. The SMS benchmark sets: members are the SMS records outside the test split, holdout the
   test split, and each committed SMS synthetic set (``benchmarks/results/utility_*_synthetic``)
   is audited with NER in one process and in worker processes. Leak counts by type must match.
2. A 10k set: 10,000 member texts (SMS and Rotten Tomatoes), 1,000 synthetic texts drawn from
   them with one word swapped, the rest of the two corpora as holdout. Same comparison.
3. Time alone at the scale benchmark's largest size: the distinct member texts of a 49,876-
   record Brown sample (``benchmarks/scale.py``'s corpus), analysed in one process and in workers.

Every comparison is of the whole findings table (entity type, value, records), not only counts;
values are compared in memory and never written. Writes benchmarks/results/pii_speed.json.

Usage: python benchmarks/pii_speed.py [--workers 2] [--brown 49876] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audits.checks import pii  # noqa: E402
from audits.data import AuditData  # noqa: E402
from audits.policy import load_policy  # noqa: E402


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _timed_findings(texts: list[str], workers: int) -> tuple[dict, float]:
    pii._ENTITIES.clear()  # each run analyses every text afresh
    t0 = time.perf_counter()
    found = pii.find_member_entities(texts, workers=workers)
    return found, round(time.perf_counter() - t0, 1)


def _leaks(members: list[str], holdout: list[str], synthetic: list[str], workers: int) -> tuple[dict, float]:
    data = AuditData.build(members, holdout, synthetic, seed=0, encoder="hashing", validate=False)
    pii._ENTITIES.clear()
    policy = load_policy(None)
    t0 = time.perf_counter()
    direct, quasi = pii.pii_leaks(data, policy=policy, workers=workers)
    seconds = round(time.perf_counter() - t0, 1)
    counts = {
        "direct_by_type": direct.evidence["leaked_values_by_type"],
        "direct_records": direct.evidence["synthetic_records_with_leak"],
        "quasi_by_type": quasi.evidence["leaked_values_by_type"],
        "quasi_records": quasi.evidence["synthetic_records_with_leak"],
        "member_entities_found_by_type": direct.evidence["member_entities_found_by_type"],
    }
    return counts, seconds


def _swap_word(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 1:
        words[rng.randrange(len(words))] = rng.choice(["really", "then", "so", "ok", "very"])
    return " ".join(words)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes to compare with one (default 2)")
    ap.add_argument("--brown", type=int, default=49876, help="Brown sample size for the timing (0: skip)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pii_speed.json")
    a = ap.parse_args()
    runs: list[dict] = []

    sms = _read(ROOT / "benchmarks" / "data" / "sms_spam.csv")
    test_ids = set((ROOT / "benchmarks" / "splits" / "sms_test_ids.txt").read_text(encoding="utf-8").split())
    members = [r["text"] for r in sms if r["id"] not in test_ids]
    holdout = [r["text"] for r in sms if r["id"] in test_ids]
    for path in sorted(glob.glob(str(ROOT / "benchmarks" / "results" / "utility_*_synthetic" / "sms-*.json"))):
        synthetic = json.loads(Path(path).read_text(encoding="utf-8"))["texts"]
        one, t1 = _leaks(members, holdout, synthetic, 1)
        many, tn = _leaks(members, holdout, synthetic, a.workers)
        name = str(Path(path).relative_to(ROOT))
        runs.append({"set": name, "members": len(members), "equal": one == many, "counts": one, "s_1": t1, "s_n": tn})
        print(f"pii_speed: {name}: equal={one == many} {t1} s vs {tn} s", file=sys.stderr, flush=True)

    rng = random.Random(0)
    rt = _read(ROOT / "benchmarks" / "data" / "rotten_tomatoes.csv")
    pool = [r["text"] for r in sms] + [r["text"] for r in rt]
    rng.shuffle(pool)
    members10k, holdout10k = pool[:10_000], pool[10_000:]
    synthetic10k = [_swap_word(t, rng) for t in rng.sample(members10k, 1_000)]
    one, t1 = _leaks(members10k, holdout10k, synthetic10k, 1)
    many, tn = _leaks(members10k, holdout10k, synthetic10k, a.workers)
    runs.append({"set": "10k SMS + RT", "members": 10_000, "equal": one == many, "counts": one, "s_1": t1, "s_n": tn})
    print(f"pii_speed: 10k: equal={one == many} {t1} s vs {tn} s", file=sys.stderr, flush=True)

    timing = None
    if a.brown:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from scale import brown

        texts = list(dict.fromkeys(t for _, t, _ in brown(a.brown)))
        found_1, t1 = _timed_findings(texts, 1)
        found_n, tn = _timed_findings(texts, a.workers)
        timing = {
            "corpus": f"Brown sample of {a.brown} records (benchmarks/scale.py), all distinct texts",
            "texts": len(texts),
            "equal": found_1 == found_n,
            "s_1": t1,
            "s_n": tn,
            "texts_per_s_1": round(len(texts) / t1, 1),
            "texts_per_s_n": round(len(texts) / tn, 1),
        }
        print(f"pii_speed: brown {len(texts)} texts: equal={timing['equal']} {t1} s vs {tn} s", file=sys.stderr)

    result = {
        "benchmark": "pii_speed",
        "schema_version": 1,
        "command": f"python benchmarks/pii_speed.py --workers {a.workers} --brown {a.brown}",
        "cores": len(os.sched_getaffinity(0)),
        "workers": a.workers,
        "note": "s_1: NER in one process; s_n: in `workers` processes. equal: the whole findings "
        "table (type, value, records) and every leak count match",
        "sets": runs,
        "timing": timing,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["equal"] for r in runs) and (timing is None or timing["equal"]) else 1


if __name__ == "__main__":
    sys.exit(main())
