"""`privsynth release --epsilon 4` on growing corpora: seconds per stage and peak memory.

Each size is a seeded sample of the Brown sentences shipped in ``privsynth/data`` (two labels:
fiction and non-fiction genres). Those sentences are also the public seed pool and the bridge's
training text, so they serve for timing only: no utility or gate figure comes from them. The
release is the CLI a user runs, in a subprocess; the figures come from its own internal report
(each stage's seconds, each Private Evolution step's, each audit check group's) and from the
kernel's account of the child (peak RSS). Every stage is timed whether or not the gate passes.

The Private Evolution settings are kept small and fixed (``--population``, ``--rounds``,
``--candidates``, ``--n``) so that the stages that do not grow with the corpus stay a small,
constant part: their cost per decode is reported beside them.

Usage: python benchmarks/scale.py [--sizes 5000,20000,49876] [--out PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWN = ROOT / "privsynth" / "data" / "brown_sentences.csv.gz"
FICTION = {"fiction", "mystery", "science_fiction", "adventure", "romance", "humor"}
SETTINGS = ["--n", "150", "--population", "16", "--rounds", "2", "--candidates", "2"]


def brown(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    with gzip.open(BROWN, "rt", encoding="utf-8", newline="") as fh:
        rows = [(r["id"], r["text"], "fiction" if r["label"] in FICTION else "nonfiction") for r in csv.DictReader(fh)]
    if n > len(rows):
        raise SystemExit(f"--sizes: at most {len(rows)} Brown sentences; got {n}")
    return random.Random(seed).sample(rows, n)


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (KiB), from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def _watch_tree(root: int, peak: list[int], stop: threading.Event) -> None:
    while not stop.wait(0.5):
        peak[0] = max(peak[0], _tree_rss_kib(root))


def growth_exponents(rows: list[dict], lo: int, hi: int) -> dict[str, float]:
    """Each stage's growth exponent between two sizes: log(t_hi / t_lo) / log(n_hi / n_lo)."""
    a = next((r for r in rows if r["records"] == lo), None)
    b = next((r for r in rows if r["records"] == hi), None)
    if a is None or b is None:
        return {}
    out: dict[str, float] = {}
    for key in ("stage_s", "private_evolution_step_s", "audit_check_group_s"):
        for name, t_hi in (b.get(key) or {}).items():
            t_lo = (a.get(key) or {}).get(name)
            if t_lo and t_hi and t_lo > 0.5:  # sub-second stages are noise
                out[f"{key[:-2]}.{name}"] = round(math.log(t_hi / t_lo) / math.log(hi / lo), 2)
    return out


def one_size(n: int, device: str) -> dict:
    return timed_release(brown(n), ["--labels", "fiction,nonfiction", *SETTINGS], device)


def timed_release(rows: list[tuple[str, str, str]], args: list[str], device: str) -> dict:
    """`privsynth release ROWS --epsilon 4 ARGS` in a subprocess: wall, stages, steps, peak memory."""
    n = len(rows)
    with tempfile.TemporaryDirectory(prefix="privsynth-scale-") as tmp:
        tmp_path = Path(tmp)
        src = tmp_path / "corpus.csv"
        with open(src, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text", "label"])
            w.writerows(rows)
        out = tmp_path / "release"
        cmd = [
            sys.executable,
            "-m",
            "privsynth.cli",
            "release",
            str(src),
            "--epsilon",
            "4",
            "--out",
            str(out),
            "--seed",
            "0",
            "--device",
            device,
            *args,
        ]
        env = {**os.environ, "PRIVSYNTH_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
        t0 = time.monotonic()
        with open(tmp_path / "stderr.txt", "w+", encoding="utf-8") as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
            # the whole process tree (the release and its worker processes), sampled twice a second
            tree_peak, stop = [0], threading.Event()
            watcher = threading.Thread(target=_watch_tree, args=(proc.pid, tree_peak, stop), daemon=True)
            watcher.start()
            # wait4 on the release's own pid: the kernel's peak RSS of that child (KiB on Linux)
            _, status, usage = os.wait4(proc.pid, 0)
            stop.set()
            watcher.join()
            err.seek(0)
            stderr = err.read()
        wall = time.monotonic() - t0
        code = os.waitstatus_to_exitcode(status)
        peak_kib = usage.ru_maxrss
        report_path = tmp_path / "release.internal" / "audit_report.json"
        row: dict = {"records": n, "exit": code, "wall_s": round(wall, 1)}
        if report_path.exists():
            rep = json.loads(report_path.read_text(encoding="utf-8"))
            rel = rep.get("release", {})
            row["stage_s"] = rel.get("internal", {}).get("stage_seconds")
            row["private_evolution_step_s"] = rel.get("generation", {}).get("seconds_by_step")
            row["audit_check_group_s"] = rep.get("seconds_by_check_group")
            row["decision"] = rel.get("decision")
        row["peak_rss_mb"] = round(peak_kib / 1024, 1)
        row["peak_tree_rss_mb"] = round(max(tree_peak[0], peak_kib) / 1024, 1)
        if code not in (0, 3):
            row["stderr_tail"] = stderr.splitlines()[-5:]
        return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,20000,49876", help="corpus sizes (records), comma-separated")
    ap.add_argument("--device", default="cpu", help="auto, cpu or cuda (the release's --device)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    rows = []
    for n in sizes:
        print(f"scale: {n} records ...", file=sys.stderr, flush=True)
        rows.append(one_size(n, a.device))
        print(f"scale: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
        result = {
            "benchmark": "scale",
            "schema_version": 1,
            "command": f"python benchmarks/scale.py --sizes {a.sizes} --device {a.device}",
            "settings": " ".join(SETTINGS) + " --epsilon 4 (two labels; Brown sentences, timing only)",
            "cores": os.cpu_count(),
            "runs": rows,
            "note": "peak_rss_mb: the release process (kernel's account); peak_tree_rss_mb: the release "
            "and its worker processes together, sampled every 0.5 s",
        }
        if len(sizes) >= 2:
            lo, hi = sorted(sizes)[-2:]
            result["growth_exponents"] = {"between": [lo, hi], "by_stage": growth_exponents(rows, lo, hi)}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")  # after each size: a checkpoint
    return 0


if __name__ == "__main__":
    sys.exit(main())
