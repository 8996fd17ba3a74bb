"""Calibrating a DP-SGD event to a share of the budget (the class judge's, :mod:`privsynth.privacy.judge`).

The steps themselves, which read the members, live in :mod:`privsynth.privacy.mechanisms`.
"""

from __future__ import annotations

from privsynth.errors import UserError
from privsynth.privacy.accountant import create_accountant
from privsynth.privacy.ledger import GaussianEvent
from privsynth.privacy.search import last_within


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
    """The DP-SGD event (sigma, q, steps) whose epsilon alone is at most ``target_epsilon``: the
    smallest such sigma to 0.5% (:func:`privsynth.privacy.search.last_within`). ``what`` names the
    step in errors, ``off`` how to turn it off."""
    acc = create_accountant(accountant)
    seen: dict[float, float] = {}  # an accountant call costs up to seconds: never the same sigma twice

    def eps(sigma: float) -> float:
        if sigma not in seen:
            seen[sigma] = acc.epsilon([(sigma, sample_rate, steps)], delta=delta)
        return seen[sigma]

    lo, hi = 0.3, 1.0
    if eps(hi) <= target_epsilon:
        if eps(lo) <= target_epsilon:
            return GaussianEvent(purpose, lo, sample_rate, steps)
    else:
        while eps(hi) > target_epsilon:
            lo, hi = hi, hi * 2
            if hi > 1e4:
                raise UserError(
                    f"--epsilon is too small for {what} ({steps} steps at sample rate {sample_rate:.3g}); "
                    f"raise it or turn it off ({off})"
                )
    sigma = last_within(eps, target_epsilon, inside=hi, outside=lo, rel_tol=0.005)
    return GaussianEvent(purpose, sigma, sample_rate, steps)
