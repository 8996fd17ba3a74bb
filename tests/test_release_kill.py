"""A release killed (SIGKILL) at random moments leaves no DIR that looks complete, and the input untouched.

Each kill lands a random time after a random stage of a real run has begun (tiny models,
subprocess; the stage lines on stderr say where it is), biased to the stages that write
files. The chosen points are printed so a failure can be replayed with KILL_SEED. Either
DIR does not exist, or it is a whole release that verifies (the kill came after the rename).
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_release_support import LENIENT_POLICY, ROOT, write_input

from privsynth.export import remove_stale
from privsynth.manifest import verify_release

SCRIPT = Path(__file__).with_name("test_release_support.py")


def run_and_kill(tmp_path: Path, out: Path, stage: str, delay: float, sig: int = signal.SIGKILL) -> int:
    env = dict(os.environ, PRIVSYNTH_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(tmp_path / "in.csv"), str(out), str(tmp_path / "p.toml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reached = threading.Event()

    def watch():
        for line in proc.stderr:
            if f"] {stage}" in line:
                reached.set()
        reached.set()  # the process ended before the stage (it would fail the asserts below)

    threading.Thread(target=watch, daemon=True).start()
    assert reached.wait(timeout=300)
    time.sleep(delay)
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def test_sigkill_at_random_points_never_leaves_a_complete_looking_release(tmp_path):
    write_input(tmp_path / "in.csv", n=240)
    (tmp_path / "p.toml").write_text(LENIENT_POLICY)
    digest = hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest()
    rng = random.Random(os.environ.get("KILL_SEED") or time.time_ns())
    points = [(rng.choice(["generate", "audit"]), rng.uniform(0, 3)), ("export", rng.uniform(0, 0.6))]
    print(f"kill points (stage, seconds after it began): {points}")
    for k, (stage, delay) in enumerate(points):
        out = tmp_path / f"rel{k}"
        run_and_kill(tmp_path, out, stage, delay)
        if out.exists():
            v = verify_release(out)
            assert v.ok and (out / "synthetic.csv").exists(), (stage, delay, v.problems)
        for p in tmp_path.iterdir():  # anything else left is hidden staging, never a DIR name
            hidden = p.name.startswith(".rel") and (".staging-" in p.name or ".old-" in p.name)
            assert hidden or p.name in {"in.csv", "p.toml", "home"} | {f"rel{j}" for j in range(k + 1)}, p
        assert hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest() == digest
    for k in range(len(points)):  # the next release into the same DIR sweeps what a killed run left
        remove_stale(tmp_path / f"rel{k}")
        remove_stale(tmp_path / f"rel{k}.internal")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sigterm_and_sigint_remove_the_staging_folders_and_leave_the_input(tmp_path):
    """A polite stop cleans up at once: no DIR that looks complete and no hidden staging left."""
    write_input(tmp_path / "in.csv", n=240)
    (tmp_path / "p.toml").write_text(LENIENT_POLICY)
    digest = hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest()
    rng = random.Random(os.environ.get("KILL_SEED") or time.time_ns())
    points = [(signal.SIGTERM, "audit", rng.uniform(0, 2)), (signal.SIGINT, "export", rng.uniform(0, 0.3))]
    print(f"signal points (signal, stage, seconds after it began): {points}")
    for k, (sig, stage, delay) in enumerate(points):
        out = tmp_path / f"rel{k}"
        rc = run_and_kill(tmp_path, out, stage, delay, sig)
        if out.exists():  # the signal came after the rename: a whole release
            assert verify_release(out).ok, (sig, stage, delay)
        else:
            assert rc == 128 + sig, (sig, stage, delay, rc)
        left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert not left, (sig, stage, delay, left)
        assert hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest() == digest


def test_a_full_disk_ends_in_one_line_and_no_release(tmp_path):
    """A file-size limit (a full disk's effect on the run's writes): exit 2, one line, no DIR, no staging."""
    import resource

    write_input(tmp_path / "in.csv", n=240)
    (tmp_path / "p.toml").write_text(LENIENT_POLICY)
    env = dict(os.environ, PRIVSYNTH_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    limit = 4096  # the input is read, not written; the release's own files need more

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "rel"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "in.csv"), str(out), str(tmp_path / "p.toml")],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=600,
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "File too large" in last and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_two_releases_at_once_into_one_folder_give_one_release_and_one_clear_error(tmp_path):
    write_input(tmp_path / "in.csv", n=240)
    (tmp_path / "p.toml").write_text(LENIENT_POLICY)
    env = dict(os.environ, PRIVSYNTH_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    out = tmp_path / "rel"
    cmd = [sys.executable, str(SCRIPT), str(tmp_path / "in.csv"), str(out), str(tmp_path / "p.toml")]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    loser = next(err for rc, err in results if rc == 2).strip().splitlines()[-1]
    assert "Traceback" not in "".join(err for _, err in results)
    assert str(out) in loser and ("already exists" in loser or "appeared while this run" in loser), loser
    assert verify_release(out).ok
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _charge(home: str, q) -> None:
    from privsynth.budget import BudgetStore
    from privsynth.errors import UserError

    try:
        BudgetStore(home).charge("ds", epsilon=4, delta=1e-6, lifetime=6)
        q.put("charged")
    except UserError:
        q.put("refused")


def test_two_runs_against_one_budget_at_once_cannot_both_spend(tmp_path):
    """Each of 4 processes asks for 4 of a lifetime 6 at the same moment: exactly one is charged."""
    import multiprocessing as mp

    from privsynth.budget import BudgetStore

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_charge, args=(str(tmp_path), q)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert sorted(q.get(timeout=10) for _ in procs) == ["charged", "refused", "refused", "refused"]
    assert BudgetStore(tmp_path).spent("ds").epsilon == 4
