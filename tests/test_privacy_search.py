"""The budget boundary search: always within the budget, never further than the tolerance from it."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.privacy.search import last_within


@settings(max_examples=200, deadline=None)
@given(
    c=st.floats(0.05, 50),
    p=st.floats(0.2, 4),
    wiggle=st.floats(0, 0.3),
    budget=st.floats(0.1, 10),
    increasing=st.booleans(),
    rel_tol=st.sampled_from([1e-3, 5e-3]),
)
def test_the_setting_found_is_within_the_budget_and_at_its_edge(c, p, wiggle, budget, increasing, rel_tol):
    """epsilon(x) = c * x^±p, bent a little (still monotone): the answer is feasible, and one
    tolerance step further toward the infeasible side is over the budget."""
    calls = []

    def eps(x: float) -> float:
        calls.append(x)
        y = x if increasing else 1 / x
        return c * y**p * (1 + wiggle * math.tanh(math.log(y)))  # monotone for wiggle < 1

    root = (budget / c) ** (1 / p) if increasing else (c / budget) ** (1 / p)  # of the unbent curve
    inside, outside = (root / 50, root * 50) if increasing else (root * 50, root / 50)
    if eps(inside) > budget or eps(outside) <= budget:
        return  # the bend moved the boundary outside this bracket
    x = last_within(eps, budget, inside=inside, outside=outside, rel_tol=rel_tol)
    assert eps(x) <= budget
    further = x * (1 + rel_tol) if increasing else x / (1 + rel_tol)
    assert eps(further) > budget
    assert len(calls) <= 40


def test_a_bracket_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="needs a bracket"):
        last_within(lambda x: x, 1.0, inside=2.0, outside=3.0, rel_tol=1e-3)
