"""Calibrating a DP-SGD event to a share of the budget (the class judge's, :mod:`privsynth.privacy.judge`).

The steps themselves, which read the members, live in :mod:`privsynth.privacy.mechanisms`.
"""

from __future__ import annotations

import math

from privsynth.errors import UserError
from privsynth.privacy.accountant import create_accountant
from privsynth.privacy.ledger import GaussianEvent


def calibrate_event(
    *,
    purpose: str,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str,
    what: str,
    off: str,
) -> GaussianEvent:
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
            raise UserError(
                f"--epsilon is too small for {what} ({steps} steps at sample rate {sample_rate:.3g}); "
                f"raise it or turn it off ({off})"
            )
    if eps(lo) <= target_epsilon:
        return GaussianEvent(purpose, lo, sample_rate, steps)
    while hi / lo > 1.005:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if eps(mid) <= target_epsilon else (mid, hi)
    return GaussianEvent(purpose, hi, sample_rate, steps)
