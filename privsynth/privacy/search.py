"""The one search the planner and the DP-SGD calibration share: the boundary of a budget.

Both ask for the last setting whose epsilon is within a budget (the largest rho, the smallest
sigma), and each epsilon costs an accountant call (a fraction of a second to seconds). Epsilon is
nearly a straight line in log-log coordinates, so a secant step lands close to the boundary and
a probe just across it closes the bracket: a handful of calls where plain bisection made 10-30.
Every returned value was evaluated and found within the budget; only public settings are read.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def last_within(
    epsilon_at: Callable[[float], float],
    budget: float,
    inside: float,
    outside: float,
    *,
    rel_tol: float,
) -> float:
    """The setting x, between ``inside`` (epsilon_at(inside) <= budget) and ``outside`` (over it),
    nearest ``outside`` within a factor ``1 + rel_tol`` whose epsilon is within ``budget``.

    ``epsilon_at`` must be monotone between the two; either may be the larger number.
    """
    a, b = math.log(inside), math.log(outside)  # a feasible, b infeasible, in log space
    tol = math.log1p(rel_tol)
    log_budget = math.log(budget)

    def g(x: float) -> tuple[bool, float]:
        """(within the budget, log of epsilon over budget): the decision compares epsilon itself,
        the logarithm only steers the next step."""
        e = epsilon_at(math.exp(x))
        gap = math.log(e) - log_budget if e > 0 else -math.inf
        return e <= budget, min(gap, 0.0) if e <= budget else max(gap, tol / 1e6)

    (a_in, ga), (b_in, gb) = g(a), g(b)
    if not a_in or b_in:
        raise ValueError("last_within needs a bracket: epsilon within the budget inside, over it outside")
    while abs(b - a) > tol:
        width = abs(b - a)
        step = 1 if b > a else -1
        if math.isfinite(ga) and math.isfinite(gb) and gb != ga:
            x = a + (b - a) * (-ga) / (gb - ga)  # secant root in log-log
        else:
            x = (a + b) / 2
        lo_edge, hi_edge = sorted((a + step * tol / 2, b - step * tol / 2))
        x = min(max(x, lo_edge), hi_edge)
        x_in, gx = g(x)
        if x_in:
            a, ga = x, gx
            probe = x + step * tol * 0.99  # just past the boundary's estimate
        else:
            b, gb = x, gx
            probe = x - step * tol * 0.99
        if (probe - a) * (b - probe) > 0:
            p_in, gp = g(probe)
            if p_in:
                a, ga = probe, gp
            else:
                b, gb = probe, gp
        if abs(b - a) > width / 2 and abs(b - a) > tol:  # a poor secant step: bisect once
            mid = (a + b) / 2
            m_in, gm = g(mid)
            if m_in:
                a, ga = mid, gm
            else:
                b, gb = mid, gm
    return math.exp(a)
