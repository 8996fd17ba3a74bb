"""`make demo`, run N times: how often it releases and how long it takes.

Each run is the Makefile's own target (after the install), in a fresh ``demo_out``. Writes
benchmarks/results/demo_runs.json: per run the exit code, wall seconds, the release's epsilon
and the gate's noisy figures (from the internal report), and the released/blocked count.

Usage: python benchmarks/demo_runs.py [--runs 10] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run() -> dict:
    t0 = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seconds = time.monotonic() - t0
    report = ROOT / "demo_out" / "release.internal" / "audit_report.json"
    # the Makefile turns the release's exit 3 (blocked) into its own 0 and prints "(exit N: ...)"
    said = re.search(r"\(exit (\d+):", proc.stdout)
    row = {
        "exit": int(said.group(1)) if said else proc.returncode,
        "make_exit": proc.returncode,
        "seconds": round(seconds, 1),
        "released": (ROOT / "demo_out" / "release" / "synthetic.csv").exists(),
    }
    if report.exists():
        rel = json.loads(report.read_text(encoding="utf-8"))["release"]
        row["epsilon"] = rel.get("epsilon")
        row["gate"] = {c["name"]: {"passed": c["passed"], "value": c.get("value")} for c in rel["gate_checks"]}
        row["members_flagged_by_reason"] = rel.get("internal", {}).get("members_flagged_by_reason")
    lines = proc.stderr.splitlines()
    row["generated_line"] = next((x for x in lines if "generated" in x and "synthetic records in" in x), None)
    if row["exit"] not in (0, 3):
        row["stderr_tail"] = lines[-5:]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "demo_runs.json")
    a = ap.parse_args()
    subprocess.run(["make", "--no-print-directory", "install"], cwd=ROOT, check=True)
    rows = []
    for _ in range(a.runs):
        rows.append(one_run())
        print(json.dumps(rows[-1]), flush=True)
    secs = sorted(r["seconds"] for r in rows)
    out = {
        "benchmark": "demo_runs",
        "command": "python benchmarks/demo_runs.py " + " ".join(sys.argv[1:]),
        "cpus": os.cpu_count(),
        "runs": len(rows),
        "released": sum(r["released"] for r in rows),
        "blocked": sum(r["exit"] == 3 for r in rows),
        "errors": sum(r["exit"] not in (0, 3) for r in rows),
        "seconds_median": secs[len(secs) // 2],
        "seconds_max": secs[-1],
        "rows": rows,
    }
    a.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0 if out["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
