"""Lifetime privacy budget per dataset, across runs.

Every dp run on the same data spends from one budget. The spend record lives in
``$PRIVSYNTH_HOME/budget.json`` (mode 0600), keyed by the dataset's HMAC id (see
``privsynth.manifest.dataset_hmac``), never by a plain hash or a file name.

Composition is basic: epsilons add up and deltas add up. That is loose for many runs but
holds for any mix of mechanisms and accountants, and is what a reviewer can check by hand.

A run's epsilon is charged *before* its mechanism runs (``charge``) and stays charged
whatever happens next: a run blocked by the gate or killed half-way has still computed on
the data, and its output may exist (``--rejected-out``), so refunding it would undercount.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from privsynth.errors import UserError

BUDGET_FILE = "budget.json"
SCHEMA_VERSION = 1
_SLACK = 1e-9


@dataclass(frozen=True)
class Spend:
    dataset_id: str
    epsilon: float
    delta: float
    runs: int

    def remaining(self, lifetime: float) -> float:
        return max(0.0, lifetime - self.epsilon)


class BudgetStore:
    """The spend record in ``home`` (a folder the user owns)."""

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        self.path = self.home / BUDGET_FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock, so two concurrent runs cannot both spend."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_fd = os.open(self.home / (BUDGET_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            data = self._read()
            yield data
            self._write(data)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"schema_version": SCHEMA_VERSION, "datasets": {}}
        except (OSError, ValueError) as err:
            raise UserError(f"{self.path}: budget record unreadable ({err}); it must not be lost "
                            "silently: restore it from a backup") from None
        if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
            raise UserError(f"{self.path}: not a privsynth budget record")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{BUDGET_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)

    def spent(self, dataset_id: str) -> Spend:
        data = self._read() if self.path.exists() else {"datasets": {}}
        return _spend(dataset_id, data["datasets"].get(dataset_id))

    def all(self) -> list[Spend]:
        if not self.path.exists():
            return []
        return [_spend(k, v) for k, v in sorted(self._read()["datasets"].items())]

    def check(self, dataset_id: str, epsilon: float, lifetime: float) -> Spend:
        """Raise ``UserError`` (exit 2) when ``epsilon`` more would pass ``lifetime``; nothing is written."""
        s = self.spent(dataset_id)
        if s.epsilon + epsilon > lifetime * (1 + _SLACK):
            raise UserError(
                f"this dataset has spent epsilon {s.epsilon:.4g} in {s.runs} earlier dp run(s); "
                f"--epsilon {epsilon:g} more would total {s.epsilon + epsilon:.4g}, over the policy's "
                f"lifetime budget [release] max_epsilon_lifetime = {lifetime:g} "
                f"({s.remaining(lifetime):.4g} left)"
            )
        return s

    def charge(self, dataset_id: str, *, epsilon: float, delta: float, lifetime: float,
               run: dict[str, Any] | None = None) -> Spend:
        """Check and record the spend in one locked step (call before the mechanism runs)."""
        with self._locked() as data:
            entry = data["datasets"].setdefault(dataset_id, {"epsilon": 0.0, "delta": 0.0, "runs": []})
            before = _spend(dataset_id, entry)
            if before.epsilon + epsilon > lifetime * (1 + _SLACK):
                raise UserError(
                    f"--epsilon {epsilon:g} would take this dataset's total to {before.epsilon + epsilon:.4g}, "
                    f"over the lifetime budget {lifetime:g}"
                )
            entry["epsilon"] = before.epsilon + float(epsilon)
            entry["delta"] = before.delta + float(delta)
            entry["runs"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "epsilon": float(epsilon),
                                  "delta": float(delta), **(run or {})})
        return self.spent(dataset_id)


def _spend(dataset_id: str, entry: dict[str, Any] | None) -> Spend:
    if not entry:
        return Spend(dataset_id, 0.0, 0.0, 0)
    return Spend(dataset_id, float(entry["epsilon"]), float(entry["delta"]), len(entry["runs"]))
