"""Is the DCR/NNDR check calibrated? Writes benchmarks/results/dcr_calibration.json (and .md).

For every generation cached by the utility benchmark (benchmarks/results/utility_synthetic/), on
the benchmark's own split (members = train, holdout = test):
- the DCR and NNDR checks as the auditor runs them (permutation interval, gate ci_low <= 0.5),
  and the DCR share's ceiling (dcr_share_level, value <= 0.60);
- the spread of the DCR share under shuffled member/holdout labels beside the standard error a
  bootstrap over synthetic records claims (their ratio is how much too narrow the old interval was);
- the old rule: bootstrap interval over synthetic records, 5 member subsamples, ci_high <= 0.60.
Each of the two tests blocks a release that treats members and holdout alike 2.5% of the time,
so such a release is blocked up to ~5% of the time by the pair (more with the ceiling). DP
releases read members only through noisy votes: near that, not exactly that. A release that
interpolates members (mode none) should be blocked.

Usage: python benchmarks/dcr_calibration.py [--synthetic-dir DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import splits  # noqa: E402
from audits.checks import distance  # noqa: E402
from audits.data import AuditData  # noqa: E402
from audits.encoder import encode_unique, load_encoder  # noqa: E402
from audits.io import Record, write_atomic  # noqa: E402
from audits.stats import bootstrap_mean_ci  # noqa: E402


def _records(n: int, prefix: str) -> list[Record]:
    return [Record(f"{prefix}{i}", "-") for i in range(n)]


def check_release(em: np.ndarray, eh: np.ndarray, es: np.ndarray) -> dict:
    data = AuditData(_records(len(em), "m"), _records(len(eh), "h"), _records(len(es), "s"), _embeddings=(em, eh, es))
    d = distance.nearest_distances(data)
    dcr, nndr = distance.dcr_share(data, distances=d), distance.nndr_share(data, distances=d)
    level = distance.dcr_share_level(data, distances=d)
    per5 = distance._closer_share(d["member"][:5, :, 0], d["holdout"][:5, :, 0])
    old_lo, old_hi = bootstrap_mean_ci(per5, seed=0)
    per = distance._closer_share(d["member"][..., 0], d["holdout"][..., 0])
    boot_se = float(per.std() / np.sqrt(len(per)))
    return {
        "n_synthetic": len(es),
        "dcr_share": round(dcr.value, 4), "dcr_ci": [round(dcr.ci_low, 4), round(dcr.ci_high, 4)],
        "dcr_p_value": dcr.evidence["p_value"], "dcr_passed": dcr.passed,
        "nndr_share": round(nndr.value, 4), "nndr_ci": [round(nndr.ci_low, 4), round(nndr.ci_high, 4)],
        "nndr_passed": nndr.passed, "dcr_level_passed": level.passed,
        "null_sd": dcr.evidence["null_sd"], "bootstrap_se": round(boot_se, 4),
        "null_sd_over_bootstrap_se": round(dcr.evidence["null_sd"] / boot_se, 2),
        "distinct_nearest_real_records": int(len(np.unique((es @ np.concatenate([em, eh]).T).argmax(axis=1)))),
        "old_rule": {"dcr_share_5_subsamples": round(float(per5.mean()), 4), "ci_high": round(old_hi, 4),
                     "passed": bool(old_hi <= 0.60)},
    }


def _group(mode: str) -> str:
    if mode in ("none", "noise"):
        return "reads members directly (none, noise)"
    return "DP (dp, dpgen)" if mode in ("dp", "dpgen") else "no member text read"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic-dir", type=Path, default=ROOT / "benchmarks" / "results" / "utility_synthetic")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dcr_calibration.json")
    a = ap.parse_args()
    enc = load_encoder(None)
    rows = []
    for ds in splits.DATASETS:
        files = sorted(p for p in a.synthetic_dir.glob(f"{ds}-*.json") if "+" not in p.name)  # minority rows: other members
        if not files:
            continue
        train, test = splits.load_split(ds)
        em, eh = encode_unique(enc, [r.text for r in train]), encode_unique(enc, [r.text for r in test])
        for f in files:
            es = encode_unique(enc, json.loads(f.read_text(encoding="utf-8"))["texts"])
            release = f.stem.rsplit("-", 1)[0]
            parts = release.split("-")
            r = {"release": release, "mode": parts[2] if parts[1] == "synth" else parts[1],
                 **check_release(em, eh, es)}
            rows.append(r)
            print(f"{release:28s} DCR {r['dcr_share']:.3f} [{r['dcr_ci'][0]:.3f}, {r['dcr_ci'][1]:.3f}] "
                  f"p {r['dcr_p_value']:.3f} {'pass' if r['dcr_passed'] else 'FAIL'} | NNDR "
                  f"{'pass' if r['nndr_passed'] else 'FAIL'} | null sd / bootstrap se {r['null_sd_over_bootstrap_se']:.1f} "
                  f"| old rule {'pass' if r['old_rule']['passed'] else 'FAIL'}", flush=True)
    groups = {}
    for r in rows:
        g = groups.setdefault(_group(r["mode"]), {"releases": 0, "blocked_new": 0, "blocked_old": 0, "ratio": []})
        g["releases"] += 1
        g["blocked_new"] += not (r["dcr_passed"] and r["nndr_passed"] and r["dcr_level_passed"])
        g["blocked_old"] += not r["old_rule"]["passed"]
        g["ratio"].append(r["null_sd_over_bootstrap_se"])
    summary = {k: {**{x: v[x] for x in ("releases", "blocked_new", "blocked_old")},
                   "median_null_sd_over_bootstrap_se": float(np.median(v["ratio"]))} for k, v in groups.items()}
    out = {"benchmark": "dcr_calibration",
           "rule_new": "dcr_share and nndr_share ci_low <= 0.5 (permutation interval), dcr_share_level value <= 0.60",
           "rule_old": "dcr_share ci_high <= 0.60 (bootstrap over synthetic records)", "summary": summary,
           "releases": rows}
    write_atomic(a.out, json.dumps(out, indent=1) + "\n")
    lines = ["| release | DCR share [95% permutation interval] | p | DCR level <= 0.60 | NNDR | null sd / bootstrap se | old rule |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['release']} | {r['dcr_share']:.3f} [{r['dcr_ci'][0]:.3f}, {r['dcr_ci'][1]:.3f}] | "
              f"{r['dcr_p_value']:.3f} | {'pass' if r['dcr_level_passed'] else 'FAIL'} | {'pass' if r['nndr_passed'] else 'FAIL'} | {r['null_sd_over_bootstrap_se']:.1f} | "
              f"{'pass' if r['old_rule']['passed'] else 'FAIL'} |" for r in rows]
    lines += ["", *(f"- {k}: blocked {v['blocked_new']} of {v['releases']} now (DCR, DCR level or NNDR), "
                    f"{v['blocked_old']} by the old DCR rule; null sd / bootstrap se median "
                    f"{v['median_null_sd_over_bootstrap_se']:.1f}" for k, v in summary.items())]
    write_atomic(a.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines[-len(summary):]))


if __name__ == "__main__":
    main()
