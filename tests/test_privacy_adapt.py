"""DP-SGD adaptation of the bridge: exact per-record gradients, accounting, and that it learns."""

import numpy as np
import pytest
import torch

from privsynth.privacy.adapt import PURPOSE_ADAPT, AdaptConfig, adaptation_event, dp_adapt_bridge
from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.pe import PrivateEvolution
from privsynth.privacy.planner import PURPOSE_COUNTS, PURPOSE_VOTES, create_accountant
from test_privacy_accountant import assert_ledger_matches_libraries

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "we met at noon", "see you at the station"]


def test_per_record_gradients_of_the_shift_are_exact(tiny_bridge):
    torch.manual_seed(1)
    V = torch.nn.functional.normalize(torch.randn(3, tiny_bridge.config.d_in), dim=1)
    k, d = tiny_bridge.projector.n_tokens, tiny_bridge.projector.d_model
    for p in tiny_bridge.parameters():
        p.requires_grad_(False)
    per = torch.zeros(3, k, d, requires_grad=True)
    tiny_bridge.soft_shift = per
    tiny_bridge.loss(V, TEXTS[:3], per_sample=True).sum().backward()
    for i in range(3):  # each record alone, as if the others were absent
        one = torch.zeros(1, k, d, requires_grad=True)
        tiny_bridge.soft_shift = one
        tiny_bridge.loss(V[i: i + 1], TEXTS[i: i + 1], per_sample=True).sum().backward()
        assert torch.allclose(per.grad[i], one.grad[0], atol=1e-5)
    tiny_bridge.soft_shift = None


def test_the_event_spends_its_share_alone_and_the_rounds_get_the_rest():
    cfg = AdaptConfig(share=0.25, batch_size=64, epochs=1.0)
    ev = adaptation_event(epsilon=4.0, delta=1e-5, n_units=5000, cfg=cfg)
    alone = create_accountant("prv").epsilon([ev.as_tuple()], delta=1e-5)
    assert 0.98 <= alone <= 1.0  # bisection on sigma to 0.5%
    assert ev.sample_rate == pytest.approx(64 / 5000) and ev.steps == 79

    pe = PrivateEvolution(4.0, rounds=3, adapt_bridge=cfg)
    plan = pe.plan(5000, n_classes=2, n_synthetic=100)
    ledger = plan.ledger().to_dict()
    assert [e["purpose"] for e in ledger["events"]] == [PURPOSE_ADAPT, PURPOSE_COUNTS, PURPOSE_VOTES]
    assert ledger["epsilon"] <= 4.0
    assert_ledger_matches_libraries(ledger)
    # the rounds are noisier than without the adaptation: they share what is left
    assert plan.noise_multiplier > PrivateEvolution(4.0, rounds=3).plan(5000).noise_multiplier


def _members(bridge):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(TEXTS), bridge.config.d_in)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return np.repeat(X, 4, axis=0), TEXTS * 4


def test_each_step_adds_noise_of_sigma_times_c_to_clipped_gradients(tiny_bridge):
    X, texts = _members(tiny_bridge)
    C = 0.01  # far below the raw gradient norms, so every record is clipped
    seen = {}
    for sigma in (1e-6, 50.0):
        sums = []
        dp_adapt_bridge(tiny_bridge, X, texts, event=GaussianEvent(PURPOSE_ADAPT, sigma, 1.0, 3),
                        ledger=PrivacyLedger(delta=1e-3), cfg=AdaptConfig(lr=0.0, max_grad_norm=C),
                        on_step=lambda step, g, b: sums.append((g, b)))
        seen[sigma] = sums
    for g, b in seen[1e-6]:  # b clipped gradients of norm C: their sum has norm <= b * C
        assert b == len(texts) and 0.5 * C < g.norm() <= b * C * (1 + 1e-4)
    noise = torch.cat([g.flatten() for g, _ in seen[50.0]]) - torch.cat([g.flatten() for g, _ in seen[1e-6]])
    assert float(noise.std()) == pytest.approx(50.0 * C, rel=0.15)


def test_dp_sgd_learns_a_shift_that_lowers_the_members_loss(tiny_bridge):
    X, texts = _members(tiny_bridge)

    def member_loss():
        with torch.no_grad():
            return float(tiny_bridge.loss(torch.from_numpy(X), texts, per_sample=True).mean())

    before = member_loss()
    weights = {k: v.clone() for k, v in tiny_bridge.trainable_state_dict().items()}
    ledger = PrivacyLedger(delta=1e-3)
    info = dp_adapt_bridge(tiny_bridge, X, texts, event=GaussianEvent(PURPOSE_ADAPT, 1e-3, 1.0, 20), ledger=ledger,
                           cfg=AdaptConfig(lr=0.05, max_grad_norm=1.0, micro_batch=8))
    assert ledger.events == [GaussianEvent(PURPOSE_ADAPT, 1e-3, 1.0, 20)] and info["mean_batch"] == len(texts)
    # a random 2-layer LM barely reads its soft tokens, so the gain is small but must be there
    assert member_loss() < before - 1e-3
    after = tiny_bridge.trainable_state_dict()
    assert all(torch.equal(weights[k], after[k]) for k in weights)  # only the shift moved
    assert any(p.requires_grad for p in tiny_bridge.parameters())  # trainability restored


def test_a_run_leaves_the_callers_bridge_as_it_was(tiny_bridge):
    pe = PrivateEvolution(4.0, rounds=1, population_per_class=4, adapt_bridge=AdaptConfig())
    X = np.eye(8, tiny_bridge.config.d_in, dtype=np.float32)
    with pytest.raises(ValueError, match="member_texts"):
        pe.generate(X, ["a"] * 8, None, tiny_bridge, n_per_class=1)
    assert tiny_bridge.soft_shift is None


def test_a_step_takes_at_most_one_record_per_person():
    from privsynth.privacy.dpsgd import poisson_batch as _poisson_batch

    ids = ["p0", "p1", "p0", "p2", "p1", "p0"]
    rows = _poisson_batch(len(ids), ids, 1.0)
    assert sorted(ids[i] for i in rows) == ["p0", "p1", "p2"]
    assert sorted(_poisson_batch(6, None, 1.0)) == list(range(6))
    assert _poisson_batch(6, ids, 0.0).size == 0
