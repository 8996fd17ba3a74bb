"""The planner meets the budget, refuses over-budget plans and bad inputs before any data."""

import pytest

from privsynth.errors import UserError
from privsynth.privacy.ledger import BudgetExceeded
from privsynth.privacy.planner import check_budget, default_delta, minimum_epsilon, plan_private_evolution
from test_privacy_accountant import assert_ledger_matches_libraries

N_SMS = 4459


@pytest.mark.parametrize("n, delta", [(4459, 1e-5), (1000, 1e-4), (1001, 1e-5), (7, 1e-2)])
def test_default_delta_is_one_over_ten_n_rounded_up_to_a_power_of_ten(n, delta):
    assert default_delta(n) == pytest.approx(delta)


@pytest.mark.parametrize("epsilon", [1.0, 4.0])
def test_plan_spends_at_most_the_budget_and_nearly_all_of_it(epsilon):
    plan = plan_private_evolution(epsilon=epsilon, delta=None, n_records=N_SMS, rounds=5)
    led = plan.ledger().to_dict()
    assert led["epsilon"] <= epsilon
    assert led["epsilon"] >= 0.99 * epsilon
    assert led["delta"] == 1e-5
    assert [e["steps"] for e in led["events"]] == [1, 5]
    assert_ledger_matches_libraries(led)


def test_plan_with_given_class_sizes_spends_nothing_on_counts():
    plan = plan_private_evolution(epsilon=2.0, delta=None, n_records=N_SMS, rounds=3, count_share=0.0)
    assert plan.count_noise_multiplier is None
    assert [e["steps"] for e in plan.ledger().to_dict()["events"]] == [3]


def test_more_rounds_need_more_noise_per_round():
    s = [plan_private_evolution(epsilon=2.0, delta=None, n_records=N_SMS, rounds=t).noise_multiplier for t in (1, 4)]
    assert s[1] > 1.8 * s[0]


def test_a_plan_over_its_budget_is_refused():
    plan = plan_private_evolution(epsilon=4.0, delta=None, n_records=N_SMS, rounds=5)
    over = plan.__class__(**{**plan.__dict__, "epsilon_budget": 3.0})
    with pytest.raises(BudgetExceeded, match="over the budget --epsilon 3"):
        over.ledger()


@pytest.mark.parametrize("epsilon", [0, -1, float("nan"), float("inf")])
def test_non_positive_epsilon_is_a_user_error(epsilon):
    with pytest.raises(UserError, match="--epsilon must be a positive number"):
        check_budget(epsilon, None, N_SMS)


@pytest.mark.parametrize("delta", [0, 1, 1.5, -1e-6])
def test_delta_outside_zero_one_is_a_user_error(delta):
    with pytest.raises(UserError, match=r"--delta must be within \(0, 1\)"):
        check_budget(1.0, delta, N_SMS)


def test_delta_not_below_one_over_n_is_a_user_error():
    with pytest.raises(UserError, match=r"not below 1/n .*omit --delta"):
        check_budget(1.0, 1 / N_SMS, N_SMS)
    assert check_budget(1.0, 1e-6, N_SMS) == 1e-6


def test_budget_too_small_for_one_round_states_the_minimum_and_the_minimum_works():
    with pytest.raises(UserError, match=r"too small .* smallest workable budget is --epsilon ([0-9.e-]+) with --rounds 1") as err:
        plan_private_evolution(epsilon=1e-3, delta=None, n_records=200, rounds=1)
    stated = float(str(err.value).split("--epsilon ")[-1].split()[0])
    minimum = minimum_epsilon(delta=default_delta(200), n_records=200)
    assert stated == pytest.approx(minimum, rel=0.01)
    plan_private_evolution(epsilon=minimum * 1.05, delta=None, n_records=200, rounds=1)


@pytest.mark.parametrize("rounds", [0, -2, 1.5])
def test_rounds_must_be_a_positive_integer(rounds):
    with pytest.raises(UserError, match="--rounds"):
        plan_private_evolution(epsilon=1.0, delta=None, n_records=N_SMS, rounds=rounds)


def test_plan_reports_what_dry_run_prints():
    d = plan_private_evolution(epsilon=4.0, delta=None, n_records=N_SMS, rounds=5, n_classes=2,
                               n_synthetic=1000).to_dict()
    assert d["rounds"] == 5 and d["population_per_class"] == 64
    assert d["expected_decodes"] == 2 * 64 * 5 + 1000
    assert d["ledger"]["epsilon"] <= 4.0
    assert d["min_class_size"] >= 2
