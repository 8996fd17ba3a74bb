"""How often does the gate block a release that leaked nothing, and what does it catch?

Writes benchmarks/results/gate_calibration.json (and .md). Two experiments, at the sizes given
(members, holdout, synthetic; the demo's are about 440, 150, 150):

- null: the gate's inputs are a committed DP synthetic set (benchmarks/results/*_synthetic/)
  and members and holdout BOTH drawn from the benchmark's test split (distinct texts), which no
  generator saw. Whatever the synthetic set is, it cannot be nearer one side than the other but
  by chance, so every block is a false block. Each run draws its own split (seeded).
- leak: synthetic vectors planted near k members (each a member's vector turned by a random
  direction to cosine --leak-cosine: 0.9 a close paraphrase, 0.6 about what the bridge's
  reconstruction of a record reaches); every synthetic vector is such a paraphrase. The distance and embedding checks see the vectors;
  the text checks see placeholder texts, so they cannot fire here. k = 0 is a control: the
  synthetic records are other unseen real records (not clustered like Private Evolution's).

Only the duplicate, distance and membership-inference groups run (PII needs real leaks of
identifiers and is not a statistical test). A check's rule is the default policy's.

Usage: python benchmarks/gate_calibration.py [--sizes 440,150,150 ...] [--runs 4] [--out PATH]
       python benchmarks/gate_calibration.py --ceilings-from RUNS.json   # RUNS.json made with --keep-runs

``--ceilings-from`` tries other rules for the ``dcr_share_level`` ceiling on runs already made
(every other check as it was) and writes RUNS_ceilings.md: how often each rule blocks a release
that leaked nothing, and each leak.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import splits  # noqa: E402
from audits.checks import REGISTRY, mia  # noqa: E402
from audits.data import AuditData  # noqa: E402
from audits.encoder import encode_unique, load_encoder  # noqa: E402
from audits.io import Record, write_atomic  # noqa: E402
from audits.policy import Policy, load_policy  # noqa: E402

GROUPS = ("duplicates", "distance", "membership_inference")
DEFAULT_GLOB = "utility_*_synthetic/{ds}-synth-dp-eps4-seed*.json"


def gate(policy: Policy, members: list, holdout: list, synthetic: list[str],
         em: np.ndarray, eh: np.ndarray, es: np.ndarray, seed: int) -> dict[str, dict]:
    """{check: {passed, value, ci_low, ci_high}} for one audit of the given sets and vectors."""
    data = AuditData([Record(r.id, r.text) for r in members], [Record(r.id, r.text) for r in holdout],
                     [Record(f"s{i}", t) for i, t in enumerate(synthetic)], seed=seed, _embeddings=(em, eh, es))
    out = {}
    for group in REGISTRY:
        if group.name not in GROUPS:
            continue
        for r in group.fn(data, policy, {}, None):
            if policy.enabled(r.name):
                out[r.name] = {"passed": r.passed, "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high}
    return out


def _turn(v: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at exactly ``cosine`` to the rows of ``v`` (random directions)."""
    u = rng.standard_normal(v.shape)
    u -= (u * v).sum(axis=1, keepdims=True) * v
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return cosine * v + np.sqrt(1.0 - cosine ** 2) * u


def _tally(rows: list[dict[str, dict]], keep: bool = False) -> dict:
    """Block counts and rates per check; with ``keep`` also each run's figures (``per_run``), so
    another rule can be tried on them offline."""
    blocked = collections.Counter()
    for r in rows:
        for name, c in r.items():
            blocked[name] += not c["passed"]
        blocked["any"] += not all(c["passed"] for c in r.values())
    n = len(rows)
    return {"runs": n, "blocked": {k: v for k, v in sorted(blocked.items())},
            "block_rate": {k: round(v / n, 4) for k, v in sorted(blocked.items())},
            **({"per_run": rows} if keep else {})}


def run_null(ds: str, sizes: tuple[int, int, int], files: list[Path], runs: int, policy: Policy,
             test: list, et: np.ndarray, synth: dict[Path, tuple[list[str], np.ndarray]], keep: bool = False) -> dict:
    nm, nh, ns = sizes
    rows = []
    for fi, f in enumerate(files):
        texts, es_all = synth[f]
        for r in range(runs):
            rng = np.random.default_rng([r, fi, nm, nh, ns])
            si = rng.choice(len(texts), min(ns, len(texts)), replace=False)
            p = rng.permutation(len(test))
            mi, hi = p[:nm], p[nm:nm + nh]
            rows.append(gate(policy, [test[i] for i in mi], [test[i] for i in hi], [texts[i] for i in si],
                             et[mi], et[hi], es_all[si], seed=1000 * fi + r))
    dcr = np.array([r["dcr_share"]["value"] for r in rows])
    return {"dataset": ds, "experiment": "null", "members": nm, "holdout": nh, "synthetic": ns,
            "synthetic_sets": len(files), **_tally(rows, keep),
            "dcr_share_mean": round(float(dcr.mean()), 4), "dcr_share_sd": round(float(dcr.std()), 4)}


def run_leak(ds: str, sizes: tuple[int, int, int], k: int, cosine: float, runs: int, policy: Policy,
             test: list, et: np.ndarray, keep: bool = False) -> dict:
    nm, nh, ns = sizes
    rows = []
    for r in range(runs):
        rng = np.random.default_rng([r, k, nm, nh, ns, 1])
        p = rng.permutation(len(test))
        mi, hi, rest = p[:nm], p[nm:nm + nh], p[nm + nh:]
        em, eh = et[mi], et[hi]
        planted = _turn(em[rng.choice(k, ns)], cosine, rng) if k else et[rng.choice(rest, ns, replace=False)]
        es = planted.astype(np.float32)
        rows.append(gate(policy, [test[i] for i in mi], [test[i] for i in hi], [f"synthetic {i}" for i in range(ns)],
                         em, eh, es, seed=r))
    what = (f"leak: {ns} synthetic near {k} members (cosine {cosine})" if k
            else f"control: {ns} synthetic = other unseen real records")
    return {"dataset": ds, "experiment": what,
            "members": nm, "holdout": nh, "synthetic": ns, "leaked_members": k, **_tally(rows, keep)}


#: the dcr_share_level rules --ceilings-from compares (each a test on that check's figures)
CEILINGS = {"value <= 0.60": lambda c: c["value"] <= 0.60,
            **{f"ci_high <= {b:.2f}": (lambda b: lambda c: c["ci_high"] <= b)(b) for b in (0.75, 0.80, 0.85, 0.90)}}


def ceilings(rows: list[dict]) -> list[str]:
    """Markdown: per experiment, the share of runs each ceiling rule blocks (with every other
    check as it was), and in brackets the share it blocks by itself."""
    lines = ["| dataset | experiment | members / holdout / synthetic | runs | "
             + " | ".join(f"`{n}`" for n in CEILINGS) + " |", "|---" * (4 + len(CEILINGS)) + "|"]
    for r in rows:
        runs = r["per_run"]
        other = [any(not c["passed"] for n, c in x.items() if n != "dcr_share_level") for x in runs]
        cells = []
        for ok in CEILINGS.values():
            alone = [not ok(x["dcr_share_level"]) for x in runs]
            cells.append(f"{np.mean(np.logical_or(alone, other)):.0%} ({np.mean(alone):.0%})")
        lines.append(f"| {r['dataset']} | {r['experiment']} | {r['members']} / {r['holdout']} / {r['synthetic']} | "
                     f"{len(runs)} | " + " | ".join(cells) + " |")
    return lines


def _print_summary(row: dict) -> None:
    """One experiment's figures as a JSON line, without the per-run detail."""
    print(json.dumps({k: v for k, v in row.items() if k != "per_run"}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="sms")
    ap.add_argument("--sizes", nargs="+", default=["440,150,150"], help="members,holdout,synthetic")
    ap.add_argument("--runs", type=int, default=4, help="splits per synthetic set (null) or per k (leak)")
    ap.add_argument("--leak-k", default="0,2,5,20,150", help="members the leak experiment's synthetic set sits near (0: a control whose synthetic records are other unseen real records)")
    ap.add_argument("--leak-cosine", default="0.9,0.6", help="cosines of the planted vectors to their members (0.6: about what the bridge reconstructs)")
    ap.add_argument("--leak-runs", type=int, default=40)
    ap.add_argument("--policy", type=Path, default=None, help="policy TOML over the defaults")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gate_calibration.json")
    ap.add_argument("--keep-runs", action="store_true", help="keep each run's figures (value, interval, verdict per check)")
    ap.add_argument("--synthetic-glob", default=DEFAULT_GLOB,
                    help="which committed DP sets under benchmarks/results/ the null experiment draws from "
                         "({ds} is the dataset; default: every utility run's epsilon-4 sets)")
    ap.add_argument("--ceilings-from", type=Path, default=None,
                    help="a --keep-runs JSON: compare ceiling rules on its runs instead of running any")
    a = ap.parse_args()
    if a.ceilings_from:
        lines = ceilings(json.loads(a.ceilings_from.read_text(encoding="utf-8"))["rows"])
        write_atomic(a.ceilings_from.with_name(a.ceilings_from.stem + "_ceilings.md"), "\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    policy = load_policy(a.policy)
    enc = load_encoder(None)
    rows = []
    for ds in a.datasets.split(","):
        _, test = splits.load_split(ds)
        test = [test[i] for i in mia._distinct(test)]  # distinct texts, as the audit scores them
        et = encode_unique(enc, [r.text for r in test])
        files = sorted((ROOT / "benchmarks" / "results").glob(a.synthetic_glob.format(ds=ds)))
        if not files:
            raise SystemExit(f"--synthetic-glob {a.synthetic_glob}: no {ds} sets under benchmarks/results/")
        synth = {}
        for f in files:
            texts = json.loads(f.read_text(encoding="utf-8"))["texts"]
            synth[f] = (texts, encode_unique(enc, texts))
        for s in a.sizes:
            sizes = tuple(int(x) for x in s.split(","))
            if sizes[0] + sizes[1] > len(test):
                raise SystemExit(f"--sizes {s}: {ds}'s test split has {len(test)} distinct texts")
            rows.append(run_null(ds, sizes, files, a.runs, policy, test, et, synth, a.keep_runs))
            _print_summary(rows[-1])
            for cosine in [float(x) for x in a.leak_cosine.split(",")]:
                for k in [int(x) for x in a.leak_k.split(",") if x]:
                    if k == 0 and cosine != float(a.leak_cosine.split(",")[0]):
                        continue  # the control has no planted vectors: once is enough
                    rows.append(run_leak(ds, sizes, k, cosine, a.leak_runs, policy, test, et, a.keep_runs))
                    _print_summary(rows[-1])
    out = {"benchmark": "gate_calibration", "policy": str(a.policy or "default_policy.toml"),
           "argv": sys.argv[1:], "rows": rows}
    write_atomic(a.out, json.dumps(out, indent=1) + "\n")
    lines = table(rows)
    write_atomic(a.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def table(rows: list[dict]) -> list[str]:
    """Markdown table: each check's block rate per experiment."""
    checks = sorted({c for r in rows for c in r["block_rate"]} - {"any"})
    lines = ["| dataset | experiment | members / holdout / synthetic | runs | blocked (any) | "
             + " | ".join(checks) + " |", "|---" * (5 + len(checks)) + "|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['experiment']} | {r['members']} / {r['holdout']} / {r['synthetic']} | "
                     f"{r['runs']} | {r['block_rate']['any']:.1%} | "
                     + " | ".join(f"{r['block_rate'].get(c, 0):.1%}" for c in checks) + " |")
    return lines


if __name__ == "__main__":
    main()
