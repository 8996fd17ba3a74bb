"""The ledger JSON contract, budget refusal and recomputation from events alone."""

import json

import pytest
from test_privacy_accountant import golden_pld

from privsynth.privacy.ledger import (
    BudgetExceeded,
    LedgerFormatError,
    PrivacyLedger,
    ledger_from_json,
    ledger_path_for,
    recompute_epsilon,
)


def _ledger(**kw):
    led = PrivacyLedger(delta=1e-5, **kw)
    led.record(purpose="class counts", noise_multiplier=16.0)
    for _ in range(3):
        led.record(purpose="votes", noise_multiplier=8.0)
    return led


def test_json_has_exactly_the_contract_fields():
    d = _ledger().to_dict()
    assert list(d) == ["epsilon", "delta", "accountant", "adjacency", "events"]
    assert d["accountant"] == "prv" and d["adjacency"] == "add-remove" and d["delta"] == 1e-5
    assert d["events"] == [
        {"mechanism": "gaussian", "purpose": "class counts", "noise_multiplier": 16.0, "sample_rate": 1.0, "steps": 1},
        {"mechanism": "gaussian", "purpose": "votes", "noise_multiplier": 8.0, "sample_rate": 1.0, "steps": 3},
    ]
    json.dumps(d)  # plain JSON


def test_repeated_rounds_merge_into_one_event_with_steps():
    assert [e.steps for e in _ledger().events] == [1, 3]


def test_epsilon_is_recomputed_from_events_not_trusted_from_the_file(tmp_path):
    d = _ledger().to_dict()
    d["epsilon"] = 0.001  # a forged total
    assert recompute_epsilon(d) == pytest.approx(golden_pld([(16.0, 1.0, 1), (8.0, 1.0, 3)], 1e-5), rel=0.01)
    assert ledger_from_json(d).epsilon > 0.1


def test_recompute_with_another_accountant_cross_checks():
    d = _ledger().to_dict()
    assert recompute_epsilon(d, accountant="pld") <= recompute_epsilon(d, accountant="rdp")


def test_write_and_read_back(tmp_path):
    path = _ledger().write_json(tmp_path / "syn.ledger.json")
    back = ledger_from_json(path)
    assert back.to_dict() == json.loads(path.read_text())


def test_ledger_lives_next_to_the_csv():
    assert ledger_path_for("out/syn.csv").as_posix() == "out/syn.ledger.json"


def test_budget_refuses_an_event_that_would_exceed_it_and_keeps_the_old_state():
    led = PrivacyLedger(delta=1e-5, budget_epsilon=1.0)
    led.record(purpose="votes", noise_multiplier=10.0)
    before = led.to_dict()
    with pytest.raises(BudgetExceeded, match="over the budget --epsilon 1"):
        led.record(purpose="votes", noise_multiplier=1.0)
    assert led.to_dict() == before


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("adjacency"), "lacks field"),
        (lambda d: d.update(adjacency="replace-one"), "adjacency"),
        (lambda d: d["events"][0].update(mechanism="laplace"), "mechanism"),
        (lambda d: d["events"][0].update(noise_multiplier=-1), "noise_multiplier"),
        (lambda d: d["events"][0].update(steps=1.5), "steps"),
        (lambda d: d["events"][0].pop("sample_rate"), "lacks field"),
    ],
)
def test_malformed_ledgers_are_refused(mutate, match):
    d = _ledger().to_dict()
    mutate(d)
    with pytest.raises(LedgerFormatError, match=match):
        ledger_from_json(d)
