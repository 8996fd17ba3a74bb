"""What every DP-SGD step in privsynth shares: calibrating the noise to a budget share, and
Poisson batches drawn from the OS CSPRNG (one record per person with ``user_ids``).

Used by the bridge adaptation (:mod:`privsynth.privacy.adapt`) and the DP class judge
(:mod:`privsynth.privacy.judge`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy.accountant import create_accountant
from privsynth.privacy.ledger import GaussianEvent
from privsynth.privacy.rng import secure_uniform


def calibrate_event(*, purpose: str, target_epsilon: float, delta: float, sample_rate: float, steps: int,
                    accountant: str, what: str, off: str) -> GaussianEvent:
    """The DP-SGD event (sigma, q, steps) whose epsilon alone is at most ``target_epsilon``:
    bisection on sigma against the accountant, to 0.5%. ``what`` names the step in errors,
    ``off`` how to turn it off."""
    acc = create_accountant(accountant)

    def eps(sigma: float) -> float:
        return acc.epsilon([(sigma, sample_rate, steps)], delta=delta)

    lo, hi = 0.3, 1.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise UserError(f"--epsilon is too small for {what} ({steps} steps at sample rate {sample_rate:.3g}); "
                            f"raise it or turn it off ({off})")
    if eps(lo) <= target_epsilon:
        return GaussianEvent(purpose, lo, sample_rate, steps)
    while hi / lo > 1.005:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if eps(mid) <= target_epsilon else (mid, hi)
    return GaussianEvent(purpose, hi, sample_rate, steps)


def steps_for(*, batch_size: int, epochs: float, n_units: int) -> tuple[float, int]:
    """(sample rate, steps) for an expected ``batch_size`` and ``epochs`` passes over ``n_units``."""
    q = min(1.0, batch_size / n_units)
    return q, max(1, math.ceil(epochs / q))


def poisson_batch(n: int, user_ids: Sequence[Any] | None, q: float) -> np.ndarray:
    """Rows of one step's batch: each record (or person) joins with probability q (CSPRNG); a
    joining person brings one of their records, picked by the CSPRNG (as a PE vote does), so a
    person's gradient is one clipped record gradient."""
    if user_ids is None:
        return np.flatnonzero(secure_uniform(n) < q)
    from privsynth.privacy.pe import _one_record_per_person

    rows = _one_record_per_person(np.asarray(user_ids, dtype=object))
    return rows[secure_uniform(len(rows)) < q]
