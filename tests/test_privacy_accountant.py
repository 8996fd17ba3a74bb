"""Accountants: our adapters agree with opacus and dp-accounting called directly.

Golden values are computed here from the libraries themselves, never from privsynth.
`assert_ledger_matches_libraries` is the acceptance check every ledger the tests produce
goes through (the PE and planner tests import it).
"""

import warnings

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant
from opacus.accountants import PRVAccountant, RDPAccountant

from privsynth.errors import UserError
from privsynth.privacy.accountant import Accountant, accountant_names, create_accountant, register_accountant
from privsynth.privacy.ledger import PrivacyLedger, recompute_epsilon


def golden_pld(events, delta):
    acc = pld_privacy_accountant.PLDAccountant(dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
    for sigma, q, steps in events:
        ev = dp_accounting.GaussianDpEvent(sigma)
        if q < 1:
            ev = dp_accounting.PoissonSampledDpEvent(q, ev)
        acc.compose(ev, steps)
    return acc.get_epsilon(delta)


def golden_prv(events, delta, eps_error=1e-3):
    acc = PRVAccountant()
    acc.history = list(events)
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return acc.get_epsilon(delta, eps_error=eps_error)


def golden_rdp(events, delta):
    """opacus RDP with its default orders (the bound users of opacus would get)."""
    acc = RDPAccountant()
    acc.history = list(events)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return acc.get_epsilon(delta)


def assert_ledger_matches_libraries(ledger: dict):
    """Acceptance: total within 1% of PRV and PLD from the events alone, >= PLD, <= RDP."""
    events = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in ledger["events"]]
    delta, total = ledger["delta"], ledger["epsilon"]
    pld, prv, rdp = golden_pld(events, delta), golden_prv(events, delta), golden_rdp(events, delta)
    assert total == pytest.approx(prv, rel=0.01)
    assert total == pytest.approx(pld, rel=0.01)
    assert total >= pld
    assert total <= rdp
    assert recompute_epsilon(ledger) == pytest.approx(total, rel=1e-6)


# sigma=3.42 over 10 steps at delta 1e-5: dp-accounting PLD gives ~4.00, opacus RDP ~4.32.
PLAIN = [(3.42, 1.0, 10)]


def test_plain_gaussian_composition_matches_the_libraries():
    assert golden_pld(PLAIN, 1e-5) == pytest.approx(4.00, abs=0.01)
    assert golden_rdp(PLAIN, 1e-5) == pytest.approx(4.32, abs=0.01)
    for name, golden in [("pld", golden_pld), ("prv", golden_prv)]:
        assert create_accountant(name).epsilon(PLAIN, delta=1e-5) == pytest.approx(golden(PLAIN, 1e-5), rel=0.002)
    # our RDP uses a wider grid of orders, so it may only be tighter than opacus' default
    ours = create_accountant("rdp").epsilon(PLAIN, delta=1e-5)
    assert golden_pld(PLAIN, 1e-5) < ours <= golden_rdp(PLAIN, 1e-5)


def test_rdp_is_looser_than_pld_by_a_few_percent_for_plain_gaussian():
    pld, rdp = golden_pld(PLAIN, 1e-5), golden_rdp(PLAIN, 1e-5)
    assert 1.03 < rdp / pld < 1.15


@pytest.mark.parametrize(
    "events",
    [
        [(16.7, 1.0, 1), (8.57, 1.0, 5)],
        [(1.5, 1.0, 3)],
        [(30.0, 1.0, 20)],
        [(1.1, 0.01, 1000)],
    ],
)
def test_every_accountant_agrees_with_its_library_on_mixed_events(events):
    delta = 1e-5
    assert create_accountant("pld").epsilon(events, delta=delta) == pytest.approx(golden_pld(events, delta), rel=1e-6)
    assert create_accountant("prv").epsilon(events, delta=delta) == pytest.approx(golden_prv(events, delta), rel=0.005)
    assert create_accountant("rdp").epsilon(events, delta=delta) <= golden_rdp(events, delta) * (1 + 1e-9)


@pytest.mark.parametrize("name", ["prv", "pld", "rdp"])
def test_ledger_from_each_accountant_passes_acceptance_when_named_tight_or_rdp(name):
    led = PrivacyLedger(delta=1e-5, accountant=name)
    led.record(purpose="counts", noise_multiplier=16.7)
    led.record(purpose="votes", noise_multiplier=8.57, steps=5)
    d = led.to_dict()
    if name == "rdp":  # RDP is the loose one: it must still be within opacus' RDP bound
        assert (
            golden_pld([(16.7, 1, 1), (8.57, 1, 5)], 1e-5)
            <= d["epsilon"]
            <= golden_rdp([(16.7, 1, 1), (8.57, 1, 5)], 1e-5)
        )
    else:
        assert_ledger_matches_libraries(d)


def test_registry_picks_by_name_and_rejects_unknown_names():
    assert set(accountant_names()) >= {"prv", "rdp", "pld"}
    assert create_accountant("pld").name == "pld"
    with pytest.raises(UserError, match="--accountant must be one of"):
        create_accountant("gdp-homemade")


def test_registry_refuses_to_overwrite_silently():
    class Twice(Accountant):
        name = "pld"

        def epsilon(self, events, *, delta):
            return 0.0

    with pytest.raises(ValueError, match="already registered"):
        register_accountant("pld", Twice)


def test_invalid_events_are_rejected():
    with pytest.raises(ValueError, match="noise_multiplier"):
        create_accountant("pld").epsilon([(0.0, 1.0, 1)], delta=1e-5)
    with pytest.raises(ValueError, match="sample_rate"):
        create_accountant("prv").epsilon([(1.0, 1.5, 1)], delta=1e-5)
