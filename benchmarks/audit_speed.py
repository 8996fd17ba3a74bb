"""Speed of the auditor on 2 CPU cores; writes benchmarks/results/audit_speed.json.

1. The embedding part alone (DCR, NNDR and the embedding attack) on random unit vectors:
   20k members, 20k holdout, 20k synthetic, 384-d; exact brute force, chunked BLAS.
2. A full audit of 10k members, 10k holdout and 10k synthetic texts (SMS + Rotten Tomatoes
   snippets; where the two corpora run out, records with one word swapped), the synthetic set
   being lightly edited members, with the time of each check group.

Usage: python benchmarks/audit_speed.py [--encoder hashing|default] [--n-embed 20000] [--n-text 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import audits  # noqa: E402
from audits.checks import distance  # noqa: E402
from audits.data import AuditData  # noqa: E402
from audits.io import Record, write_atomic  # noqa: E402
from audits.stats import auc_with_ci, empirical_epsilon  # noqa: E402


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def embedding_part(n: int, d: int = 384) -> dict:
    rng = np.random.default_rng(0)
    em, eh, es = _unit(rng, n, d), _unit(rng, n, d), _unit(rng, n, d)
    data = AuditData(
        [Record(str(i), "x") for i in range(n)],
        [Record(str(i), "x") for i in range(n)],
        [Record(str(i), "x") for i in range(n)],
        _embeddings=(em, eh, es),
    )
    t = {}
    t0 = time.perf_counter()
    dist = distance.nearest_distances(data)
    t["dcr_nndr_neighbours_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dcr = distance.dcr_share(data, distances=dist)
    distance.nndr_share(data, distances=dist)
    t["dcr_nndr_stats_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the embedding attack reuses the reverse direction of the DCR matmuls (cached by distance)
    pos, neg = -data.cache["member_to_synthetic"], -data.cache["holdout_to_synthetic"]
    auc, _, _ = auc_with_ci(pos, neg, seed=0)
    empirical_epsilon(pos, neg, seed=0)
    t["mia_embedding_attack_stats_s"] = time.perf_counter() - t0
    t["total_s"] = sum(t.values())
    return {
        "n_members": n,
        "n_holdout": n,
        "n_synthetic": n,
        "dim": d,
        "dcr_share_random_vectors": dcr.value,
        "mia_auc_random_vectors": round(auc, 4),
        **{k: round(v, 2) for k, v in t.items()},
        "under_30s": t["total_s"] < 30,
    }


def _texts() -> list[str]:
    out = []
    for name in ("sms_spam.csv", "rotten_tomatoes.csv"):
        with (ROOT / "benchmarks" / "data" / name).open(encoding="utf-8", newline="") as f:
            out += [r["text"] for r in csv.DictReader(f)]
    return list(dict.fromkeys(out))


def full_audit(n: int, encoder: str) -> dict:
    rng = random.Random(0)
    pool = _texts()
    rng.shuffle(pool)
    vocab = [w for t in pool[:2000] for w in t.split()]

    def swap(t: str) -> str:
        w = t.split()
        w[rng.randrange(len(w))] = rng.choice(vocab)
        return " ".join(w)

    members = pool[:n]
    rest = pool[n:]
    holdout = (rest + [swap(t) for t in rest])[:n] if len(rest) < n else rest[:n]
    if len(holdout) < n:
        holdout += [swap(t) for t in pool[n:]][: n - len(holdout)]
    synthetic = [swap(t) for t in members]
    t0 = time.perf_counter()
    report = audits.run(members, holdout, synthetic, encoder=encoder, seed=0)
    total = time.perf_counter() - t0
    return {
        "n_members": len(members),
        "n_holdout": len(holdout),
        "n_synthetic": len(synthetic),
        "encoder": report.versions["encoder"],
        "decision": report.decision,
        "total_s": round(total, 1),
        "check_group_seconds": report.figures["timings_s"],
        "values": {c.name: c.value for c in report.checks},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="hashing")
    ap.add_argument("--n-embed", type=int, default=20000)
    ap.add_argument("--n-text", type=int, default=10000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "audit_speed.json"))
    a = ap.parse_args()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2-core development machine, shared with a background training job",
        },
        "embedding_part": embedding_part(a.n_embed),
    }
    print(json.dumps(result["embedding_part"], indent=2), flush=True)
    result["full_audit"] = full_audit(a.n_text, a.encoder)
    print(json.dumps(result["full_audit"], indent=2), flush=True)
    write_atomic(a.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
