"""The privacy ledger: what a dp release spent, as plain data anyone can recompute.

JSON contract (field names are fixed; ``privsynth verify`` relies on them)::

    {"epsilon": <total>, "delta": <total>, "accountant": "prv"|"rdp"|"pld",
     "adjacency": "add-remove",
     "events": [{"mechanism": "gaussian", "purpose": "...", "noise_multiplier": <sigma / L2
                 sensitivity>, "sample_rate": <q, 1.0 when every record takes part>,
                 "steps": <count>}]}

``epsilon`` is derived, never stored state: it is the named accountant's value for the
events at ``delta``, so :func:`recompute_epsilon` can check it from the events alone. The
ledger never holds noise values, seeds or anything read from the data.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from privsynth.errors import UserError
from privsynth.privacy.accountant import create_accountant

ADJACENCY = "add-remove"
_EVENT_FIELDS = ("mechanism", "purpose", "noise_multiplier", "sample_rate", "steps")
_TOP_FIELDS = ("epsilon", "delta", "accountant", "adjacency", "events")
# Slack for float noise only; the planner already aims strictly below the budget.
_BUDGET_SLACK = 1e-9


class BudgetExceeded(UserError):
    """Recording an event would take the total past the configured epsilon budget."""


class LedgerFormatError(UserError):
    """A ledger file does not follow the JSON contract."""


@dataclass(frozen=True)
class GaussianEvent:
    """``steps`` Gaussian mechanisms with the same noise multiplier and sample rate."""

    purpose: str
    noise_multiplier: float
    sample_rate: float = 1.0
    steps: int = 1
    mechanism: str = "gaussian"

    def as_tuple(self) -> tuple[float, float, int]:
        return (self.noise_multiplier, self.sample_rate, self.steps)


class PrivacyLedger:
    """Records Gaussian events and adds them up with an accountant chosen by name.

    With ``budget_epsilon`` set, :meth:`record` refuses (``BudgetExceeded``) any event that
    would take the total past the budget, before the mechanism runs.
    """

    def __init__(self, *, delta: float, accountant: str = "prv", budget_epsilon: float | None = None):
        if not 0 < delta < 1:
            raise ValueError(f"delta must be within (0, 1); got {delta!r}")
        self.delta = float(delta)
        self.accountant = accountant
        self._accountant = create_accountant(accountant)
        self.budget_epsilon = budget_epsilon
        self.events: list[GaussianEvent] = []

    def epsilon_with(self, *events: GaussianEvent) -> float:
        """Total epsilon if ``events`` were recorded too (nothing is recorded)."""
        all_events = [e.as_tuple() for e in [*self.events, *events]]
        if not all_events:
            return 0.0
        return self._accountant.epsilon(all_events, delta=self.delta)

    @property
    def epsilon(self) -> float:
        return self.epsilon_with()

    def record(
        self, *, purpose: str, noise_multiplier: float, sample_rate: float = 1.0, steps: int = 1
    ) -> GaussianEvent:
        """Add an event, merging it into the last one when purpose, sigma and q match."""
        event = GaussianEvent(purpose, float(noise_multiplier), float(sample_rate), int(steps))
        if self.budget_epsilon is not None:
            total = self.epsilon_with(event)
            if total > self.budget_epsilon * (1 + _BUDGET_SLACK):
                raise BudgetExceeded(
                    f"refusing {purpose!r}: the total epsilon would be {total:.4f}, over the "
                    f"budget --epsilon {self.budget_epsilon:g} (delta {self.delta:.3g}); "
                    f"use fewer rounds or a larger --epsilon"
                )
        last = self.events[-1] if self.events else None
        if last and (last.purpose, last.noise_multiplier, last.sample_rate) == (
            event.purpose,
            event.noise_multiplier,
            event.sample_rate,
        ):
            self.events[-1] = GaussianEvent(
                last.purpose, last.noise_multiplier, last.sample_rate, last.steps + event.steps
            )
        else:
            self.events.append(event)
        return event

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "accountant": self.accountant,
            "adjacency": ADJACENCY,
            "events": [{k: asdict(e)[k] for k in _EVENT_FIELDS} for e in self.events],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the ledger atomically (temp file + rename)."""
        from privsynth.io import write_json_atomic

        write_json_atomic(path, self.to_dict())
        return Path(path)


def ledger_path_for(out_csv: str | os.PathLike[str]) -> Path:
    """``syn.csv`` -> ``syn.ledger.json`` (next to the synthetic data)."""
    out_csv = Path(out_csv)
    return out_csv.with_name(out_csv.stem + ".ledger.json")


def _load(ledger: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(ledger, Mapping):
        return ledger
    try:
        return cast("Mapping[str, Any]", json.loads(Path(ledger).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise LedgerFormatError(f"cannot read ledger {ledger}: {exc}") from None


def ledger_from_json(ledger: Mapping[str, Any] | str | os.PathLike[str]) -> PrivacyLedger:
    """Rebuild a ledger from its JSON (a dict or a path), checking the contract's fields.

    The stored ``epsilon`` is not trusted: the returned ledger's ``epsilon`` is recomputed.
    """
    d = _load(ledger)
    missing = [k for k in _TOP_FIELDS if k not in d]
    if missing:
        raise LedgerFormatError(f"ledger lacks field(s) {', '.join(missing)}")
    if d["adjacency"] != ADJACENCY:
        raise LedgerFormatError(f"ledger adjacency must be {ADJACENCY!r}; got {d['adjacency']!r}")
    try:
        out = PrivacyLedger(delta=float(d["delta"]), accountant=d["accountant"])
    except ValueError as exc:
        raise LedgerFormatError(f"ledger: {exc}") from None
    for i, e in enumerate(d["events"]):
        missing = [k for k in _EVENT_FIELDS if k not in e]
        if missing:
            raise LedgerFormatError(f"ledger event {i} lacks field(s) {', '.join(missing)}")
        if e["mechanism"] != "gaussian":
            raise LedgerFormatError(f"ledger event {i}: mechanism must be 'gaussian'; got {e['mechanism']!r}")
        sigma, q, steps = e["noise_multiplier"], e["sample_rate"], e["steps"]
        if not (
            isinstance(sigma, (int, float))
            and sigma > 0
            and math.isfinite(sigma)
            and isinstance(q, (int, float))
            and 0 < q <= 1
            and isinstance(steps, int)
            and steps >= 1
        ):
            raise LedgerFormatError(
                f"ledger event {i}: need noise_multiplier > 0, sample_rate in (0, 1], "
                f"integer steps >= 1; got {sigma!r}, {q!r}, {steps!r}"
            )
        out.events.append(GaussianEvent(str(e["purpose"]), float(sigma), float(q), steps))
    return out


def recompute_epsilon(ledger: Mapping[str, Any] | str | os.PathLike[str], accountant: str | None = None) -> float:
    """Total epsilon from the ledger's events and delta alone.

    ``accountant`` defaults to the one the ledger names; pass another ("prv", "rdp",
    "pld") to cross-check.
    """
    d = _load(ledger)
    led = ledger_from_json(d)
    if not led.events:
        return 0.0
    acc = create_accountant(accountant or led.accountant)
    return acc.epsilon([e.as_tuple() for e in led.events], delta=led.delta)
