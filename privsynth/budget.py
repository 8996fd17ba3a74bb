"""Lifetime privacy budget per dataset, across runs.

Every dp run on the same data spends from one budget, whichever command ran it (``release``
or ``generate --privacy dp``). The spend record lives in ``$PRIVSYNTH_HOME/budget.json``
(mode 0600), keyed by the dataset's HMAC id (see ``privsynth.manifest.dataset_hmac``), never by
a plain hash or a file name. Beside it, ``budget/<id>.keys`` holds a keyed 64-bit hash of each
of the dataset's records, so that editing a few records does not open a fresh budget: a
dataset that shares at least half of its records with one already charged is charged to that
one's budget too (and its records join that budget's set).

Composition is basic: epsilons add up and deltas add up. That is loose for many runs but
holds for any mix of mechanisms and accountants, and is what a reviewer can check by hand.

A run's epsilon is charged *before* its mechanism runs (``charge``) and stays charged
whatever happens next: a run blocked by the gate or killed half-way has still computed on
the data, and its output may exist (``--rejected-out``), so refunding it would undercount.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privsynth.errors import UserError

BUDGET_FILE = "budget.json"
KEYS_DIR = "budget"
SCHEMA_VERSION = 1
SHARED = 0.5  # a dataset sharing at least this share of its records with a charged one shares its budget
_SLACK = 1e-9


def record_keys(texts: Iterable[str], labels: Iterable[str], key: bytes) -> np.ndarray:
    """Sorted distinct keyed 64-bit hashes of the records (HMAC-SHA256 under the user's key)."""
    out = set()
    for t, y in zip(texts, labels):
        mac = hmac.new(
            key, b"privsynth record\0" + json.dumps([t, y], ensure_ascii=False).encode("utf-8"), hashlib.sha256
        ).digest()
        out.add(int.from_bytes(mac[:8], "big"))
    return np.array(sorted(out), dtype=np.uint64)


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
            raise UserError(
                f"{self.path}: budget record unreadable ({err}); it must not be lost silently: restore it from a backup"
            ) from None
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

    def _keys_path(self, dataset_id: str) -> Path:
        return self.home / KEYS_DIR / f"{dataset_id}.keys.npy"

    def _keys(self, dataset_id: str) -> np.ndarray:
        try:
            return np.load(self._keys_path(dataset_id), allow_pickle=False)
        except FileNotFoundError:
            return np.zeros(0, dtype=np.uint64)

    def _matching(self, dataset_id: str, records: np.ndarray | None, datasets: dict[str, Any]) -> list[str]:
        """The charged datasets whose budget this one shares: itself, and every dataset holding at
        least half of its records."""
        out = [dataset_id] if dataset_id in datasets else []
        if records is not None and len(records):
            for other in sorted(datasets):
                if other != dataset_id and len(
                    np.intersect1d(records, self._keys(other), assume_unique=True)
                ) >= SHARED * len(records):
                    out.append(other)
        return out

    def spent(self, dataset_id: str, records: np.ndarray | None = None) -> Spend:
        """What the budget this dataset spends from has spent (the most spent of those it shares)."""
        datasets = (self._read() if self.path.exists() else {"datasets": {}})["datasets"]
        spends = [_spend(i, datasets[i]) for i in self._matching(dataset_id, records, datasets)]
        return max(spends, key=lambda sp: sp.epsilon, default=_spend(dataset_id, None))

    def all(self) -> list[Spend]:
        if not self.path.exists():
            return []
        return [_spend(k, v) for k, v in sorted(self._read()["datasets"].items())]

    def check(self, dataset_id: str, epsilon: float, lifetime: float, records: np.ndarray | None = None) -> Spend:
        """Raise ``UserError`` (exit 2) when ``epsilon`` more would pass ``lifetime``; nothing is written."""
        s = self.spent(dataset_id, records)
        if s.epsilon + epsilon > lifetime * (1 + _SLACK):
            raise UserError(
                f"this dataset has spent epsilon {s.epsilon:.4g} in {s.runs} earlier dp run(s)"
                + (
                    " (counting runs on datasets that share at least half of its records)"
                    if records is not None
                    else ""
                )
                + f"; --epsilon {epsilon:g} more would total {s.epsilon + epsilon:.4g}, over the policy's "
                f"lifetime budget [release] max_epsilon_lifetime = {lifetime:g} "
                f"({s.remaining(lifetime):.4g} left)"
            )
        return s

    def charge(
        self,
        dataset_id: str,
        *,
        epsilon: float,
        delta: float,
        lifetime: float,
        run: dict[str, Any] | None = None,
        records: np.ndarray | None = None,
    ) -> Spend:
        """Check and record the spend in one locked step (call before the mechanism runs): on
        this dataset's budget, or on every charged dataset it shares half its records with."""
        with self._locked() as data:
            targets = self._matching(dataset_id, records, data["datasets"]) or [dataset_id]
            for target in targets:
                before = _spend(target, data["datasets"].get(target))
                if before.epsilon + epsilon > lifetime * (1 + _SLACK):
                    raise UserError(
                        f"--epsilon {epsilon:g} would take this dataset's total to {before.epsilon + epsilon:.4g}, "
                        f"over the lifetime budget {lifetime:g}"
                    )
            for target in targets:
                entry = data["datasets"].setdefault(target, {"epsilon": 0.0, "delta": 0.0, "runs": []})
                entry["epsilon"] = float(entry["epsilon"]) + float(epsilon)
                entry["delta"] = float(entry["delta"]) + float(delta)
                entry["runs"].append(
                    {
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "epsilon": float(epsilon),
                        "delta": float(delta),
                        **(run or {}),
                    }
                )
                if records is not None:
                    self._write_keys(target, np.union1d(self._keys(target), records).astype(np.uint64))
        return self.spent(dataset_id, records)

    def _write_keys(self, dataset_id: str, keys: np.ndarray) -> None:
        path = self._keys_path(dataset_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, keys, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _spend(dataset_id: str, entry: dict[str, Any] | None) -> Spend:
    if not entry:
        return Spend(dataset_id, 0.0, 0.0, 0)
    return Spend(dataset_id, float(entry["epsilon"]), float(entry["delta"]), len(entry["runs"]))
