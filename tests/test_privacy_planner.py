"""The planner meets the budget from public settings alone and refuses bad budgets."""

import inspect

import pytest
from test_privacy_accountant import assert_ledger_matches_libraries, golden_pld, golden_prv

from privsynth.errors import UserError
from privsynth.privacy.ledger import BudgetExceeded
from privsynth.privacy.planner import (
    DEFAULT_DELTA,
    PURPOSE_COUNTS,
    PURPOSE_GATE,
    PURPOSE_VOTES,
    check_budget,
    check_delta_for_size,
    minimum_epsilon,
    plan_private_evolution,
)


def test_the_plan_reads_no_data_not_even_its_size():
    assert "n_records" not in inspect.signature(plan_private_evolution).parameters


@pytest.mark.parametrize("epsilon", [1.0, 4.0])
def test_plan_spends_at_most_the_budget_and_nearly_all_of_it(epsilon):
    plan = plan_private_evolution(epsilon=epsilon, delta=None, rounds=5)
    led = plan.ledger().to_dict()
    assert led["epsilon"] <= epsilon
    assert led["epsilon"] >= 0.99 * epsilon
    assert led["delta"] == DEFAULT_DELTA
    assert [e["steps"] for e in led["events"]] == [1, 5]
    assert_ledger_matches_libraries(led)


def test_the_printed_epsilon_is_the_larger_of_prv_and_pld_and_within_the_request():
    plan = plan_private_evolution(epsilon=4.0, delta=1e-6, rounds=2, gate_share=0.1)
    events = [e.as_tuple() for e in plan.events]
    prv, pld = golden_prv(events, 1e-6), golden_pld(events, 1e-6)
    assert plan.epsilon_planned == pytest.approx(max(prv, pld), rel=0.01)
    assert plan.epsilon_planned <= 4.0 and set(plan.epsilons) == {"prv", "pld"}
    assert plan.accountant == max(plan.epsilons, key=plan.epsilons.get)


def test_the_gate_has_its_share_of_rho_and_comes_last():
    plan = plan_private_evolution(epsilon=4.0, delta=None, rounds=2, count_share=0.05, gate_share=0.1)
    assert [e.purpose for e in plan.events] == [PURPOSE_COUNTS, PURPOSE_VOTES, PURPOSE_GATE]
    rho = {e.purpose: e.steps / (2 * e.noise_multiplier**2) for e in plan.events}
    total = sum(rho.values())
    assert rho[PURPOSE_GATE] / total == pytest.approx(0.1, rel=1e-6)
    assert rho[PURPOSE_COUNTS] / total == pytest.approx(0.05, rel=1e-6)
    assert plan.gate_noise_multiplier == plan.event(PURPOSE_GATE).noise_multiplier


def test_more_rounds_need_more_noise_per_round():
    s = [plan_private_evolution(epsilon=2.0, delta=None, rounds=t).noise_multiplier for t in (1, 4)]
    assert s[1] > 1.8 * s[0]


def test_a_plan_over_its_budget_is_refused():
    plan = plan_private_evolution(epsilon=4.0, delta=None, rounds=5)
    over = plan.__class__(**{**plan.__dict__, "epsilon_budget": 3.0})
    with pytest.raises(BudgetExceeded, match="over the budget --epsilon 3"):
        over.ledger()


@pytest.mark.parametrize("epsilon", [0, -1, float("nan"), float("inf")])
def test_non_positive_epsilon_is_a_user_error(epsilon):
    with pytest.raises(UserError, match="--epsilon must be a positive number"):
        check_budget(epsilon, None)


@pytest.mark.parametrize("delta", [0, 1, 1.5, -1e-6])
def test_delta_outside_zero_one_is_a_user_error(delta):
    with pytest.raises(UserError, match=r"--delta must be within \(0, 1\)"):
        check_budget(1.0, delta)


def test_the_default_delta_is_a_public_constant():
    assert check_budget(1.0, None) == DEFAULT_DELTA == 1e-6


def test_delta_not_below_one_over_the_dp_count_is_refused_and_above_the_convention_warned():
    with pytest.raises(UserError, match=r"not below 1/n .*use --delta 1e-0?7"):
        check_delta_for_size(1e-5, 120_000)
    assert "1/(10 n)" in check_delta_for_size(1e-6, 500_000)
    assert check_delta_for_size(1e-6, 4_000) is None


def test_minimum_epsilon_lets_a_unanimous_class_clear_the_threshold():
    eps = minimum_epsilon(delta=1e-6, class_size=200, rounds=1)
    plan = plan_private_evolution(epsilon=eps * 1.01, delta=1e-6, rounds=1)
    assert plan.threshold_votes <= 200 * 1.01
    assert plan_private_evolution(epsilon=eps * 0.9, delta=1e-6, rounds=1).threshold_votes > 200


@pytest.mark.parametrize("rounds", [0, -2, 1.5])
def test_rounds_must_be_a_positive_integer(rounds):
    with pytest.raises(UserError, match="--rounds"):
        plan_private_evolution(epsilon=1.0, delta=None, rounds=rounds)


def test_plan_reports_what_dry_run_prints():
    d = plan_private_evolution(epsilon=4.0, delta=None, rounds=5, n_classes=2, n_synthetic=1000).to_dict()
    assert d["rounds"] == 5 and d["population_per_class"] == 64
    assert d["expected_decodes"] == 2 * 64 * 5 + 1000
    assert d["ledger"]["epsilon"] <= 4.0
    assert d["min_class_size"] >= 2
