"""The DP class judge: exact clipped per-record gradients, its accounting, that it learns, and
that Private Evolution uses it (candidate choice and class check)."""

import re

import numpy as np
import pytest
from test_privacy_accountant import assert_ledger_matches_libraries
from test_privacy_pe import GENRES, PE, RetrievalDecoder, world  # noqa: F401

from privsynth.errors import UserError
from privsynth.privacy import mechanisms
from privsynth.privacy.judge import (
    PURPOSE_JUDGE,
    PURPOSE_JUDGE_RESERVED,
    DPJudge,
    JudgeConfig,
    fit_dp_judge,
    judge_event,
)
from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.planner import PURPOSE_COUNTS, PURPOSE_VOTES, create_accountant


def _blobs(n, d=16, gap=0.6, seed=0):
    """Two classes of unit vectors around opposite directions (overlapping at small gap)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    mu = np.zeros(d)
    mu[0] = gap
    X = rng.standard_normal((n, d)) * 0.35 + np.where(y[:, None] == 1, mu, -mu)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def test_the_event_spends_its_share_alone_reads_no_size_and_the_rounds_get_the_rest():
    cfg = JudgeConfig(share=0.25)
    ev = judge_event(epsilon=4.0, delta=1e-5, cfg=cfg)
    alone = create_accountant("prv").epsilon([ev.as_tuple()], delta=1e-5)
    assert 0.98 <= alone <= 1.0
    assert ev.sample_rate == pytest.approx(1 / 16) and ev.steps == 320  # 20 epochs at a public rate

    pe = PE(4.0, rounds=3, class_judge=cfg)
    plan = pe.plan(n_classes=2, n_synthetic=100)
    ledger = plan.ledger().to_dict()
    assert [e["purpose"] for e in ledger["events"]] == [PURPOSE_COUNTS, PURPOSE_JUDGE, PURPOSE_VOTES]
    assert ledger["epsilon"] <= 4.0
    assert_ledger_matches_libraries(ledger)
    assert plan.noise_multiplier > PE(4.0, rounds=3).plan().noise_multiplier


def test_bad_settings_are_refused_with_the_value():
    for cfg in (JudgeConfig(share=1.0), JudgeConfig(share=0.0)):
        with pytest.raises(UserError, match="share"):
            judge_event(epsilon=4.0, delta=1e-5, cfg=cfg)
    with pytest.raises(UserError, match="bad class judge settings"):
        judge_event(epsilon=4.0, delta=1e-5, cfg=JudgeConfig(lr=-1.0))


def test_each_step_sums_exact_clipped_gradients_plus_noise_of_sigma_times_c(monkeypatch):
    """With the noise and sampling replaced by zero noise and every record in the batch, one
    step must equal plain gradient descent on the clipped per-record softmax gradients."""
    X, y = _blobs(40, d=5)
    C = 0.05  # below every raw gradient norm (>= 0.5 * 1 at zero weights), so every record is clipped
    draws = []

    def no_noise(shape, *, scale):
        draws.append(scale)
        return np.zeros(shape)

    monkeypatch.setattr(mechanisms, "secure_normal", no_noise)
    monkeypatch.setattr(mechanisms, "poisson_batch", lambda n, ids, q: np.arange(n))
    cfg = JudgeConfig(max_grad_norm=C, lr=1.0, momentum=0.0)
    event = GaussianEvent(PURPOSE_JUDGE, 2.0, 1.0, 1)
    model = fit_dp_judge(X, y, 2, event=event, ledger=PrivacyLedger(delta=1e-5), cfg=cfg, n_units_noisy=40)
    assert draws == [2.0 * C]
    Xb = np.hstack([X, np.ones((40, 1))])
    grads = []
    for i in range(40):  # record by record: softmax of zero logits is (1/2, 1/2)
        err = np.full(2, 0.5) - np.eye(2)[y[i]]
        g = np.outer(err, Xb[i])
        grads.append(g * min(1.0, C / np.linalg.norm(g)))
    np.testing.assert_allclose(model.weights, -np.sum(grads, axis=0) / 40, atol=1e-12)


def test_it_learns_a_boundary_and_records_its_event_before_any_step():
    X, y = _blobs(3000)
    Xt, yt = _blobs(1000, seed=1)
    cfg = JudgeConfig(share=0.25)
    event = judge_event(epsilon=4.0, delta=1e-5, cfg=cfg)
    ledger = PrivacyLedger(delta=1e-5, budget_epsilon=4.0)
    model = fit_dp_judge(X, y, 2, event=event, ledger=ledger, cfg=cfg, n_units_noisy=3000)
    assert [e["purpose"] for e in ledger.to_dict()["events"]] == [PURPOSE_JUDGE]
    acc = float(np.mean(model.predict(Xt) == yt))
    assert acc > 0.9
    # two runs differ (the noise comes from the OS, not a seed)
    other = fit_dp_judge(X, y, 2, event=event, ledger=PrivacyLedger(delta=1e-5), cfg=cfg, n_units_noisy=3000)
    assert not np.allclose(model.weights, other.weights)
    # and a ledger already spent refuses it before it reads a record
    with pytest.raises(UserError):
        fit_dp_judge(
            X,
            y,
            2,
            event=GaussianEvent(PURPOSE_JUDGE, 0.5, 1.0, 1),
            cfg=cfg,
            n_units_noisy=3000,
            ledger=PrivacyLedger(delta=1e-5, budget_epsilon=1.0),
        )


def test_one_record_per_person_joins_a_step():
    seen = []
    real = mechanisms.poisson_batch

    def spy(n, ids, q):
        rows = real(n, ids, q)
        seen.append(rows)
        return rows

    X, y = _blobs(300)
    people = np.repeat(np.arange(100), 3)
    mechanisms.poisson_batch, saved = spy, mechanisms.poisson_batch
    try:
        fit_dp_judge(
            X,
            y,
            2,
            event=GaussianEvent(PURPOSE_JUDGE, 1.0, 1.0, 3),
            ledger=PrivacyLedger(delta=1e-5),
            cfg=JudgeConfig(),
            user_ids=people,
            n_units_noisy=100,
        )
    finally:
        mechanisms.poisson_batch = saved
    assert all(len(r) == 100 and len(set(people[r])) == 100 for r in seen)


class AcceptingRetrievalDecoder(RetrievalDecoder):
    """Retrieval with candidates: the n nearest pool sentences; an accepted one is preferred
    over any closer one that is not, as Bridge.decode does."""

    def decode(self, vectors, *, n_candidates=8, seed=0, encoder=None, accept=None, return_accepted=False):
        self.calls += 1
        V = np.asarray(vectors)
        top = np.argsort(-(V @ self.P.T), axis=1)[:, :n_candidates]
        out, ok = [], []
        for r, cands in enumerate(top):
            flags = accept(self.P[cands], np.full(len(cands), r)) if accept is not None else np.zeros(len(cands), bool)
            j = int(np.argmax(flags)) if flags.any() else 0
            out.append(self.pool[cands[j]])
            ok.append(bool(flags[j]))
        return (out, np.array(ok)) if return_accepted else out


def test_private_evolution_with_the_judge_keeps_the_class_better(world):  # noqa: F811
    def run(cfg):
        pe = PE(20.0, rounds=2, population_per_class=32, n_candidates=8, class_judge=cfg, vote="own-class")
        dec = AcceptingRetrievalDecoder(world["decode_pool"], world["encoder"])
        texts, labels, ledger, *_ = pe.generate(
            world["X"], world["y"], world["encoder"], dec, n_per_class=60, rng_seed=5, public_texts=world["seed_pool"]
        )
        return pe, texts, labels, ledger

    pe, texts, labels, ledger = run(JudgeConfig(share=0.5, min_units=100))
    assert isinstance(pe.judge_, DPJudge) and len(texts) == 120
    assert [e["purpose"] for e in ledger.to_dict()["events"]] == [PURPOSE_COUNTS, PURPOSE_JUDGE, PURPOSE_VOTES]
    assert ledger.epsilon <= 20.0
    # the class check counted what the judge says of the decoded outputs, and mended some
    assert pe.class_mismatch_ <= pe.class_mismatch_initial_
    judged = pe.judge_.predict(world["encoder"].encode(texts))
    assert np.mean(judged == np.array([GENRES.index(lab) for lab in labels])) > 0.9
    # the judge was used: it gives the outputs their label far more often than it gives them
    # to the outputs of the same run without it (whether it helps on real data is measured in
    # benchmarks/utility.py: a DP-SGD model of 300 members in 300 dimensions is a poor judge)
    _, plain_texts, plain_labels, _ = run(None)
    plain = pe.judge_.predict(world["encoder"].encode(plain_texts))
    assert np.mean(plain == np.array([GENRES.index(lab) for lab in plain_labels])) < 0.85


def test_too_few_members_by_the_dp_count_leave_the_judge_untrained_and_its_share_reserved(world):  # noqa: F811
    heard = []
    pe = PE(8.0, rounds=1, population_per_class=8, class_judge=JudgeConfig())  # min_units 1000
    dec = AcceptingRetrievalDecoder(world["decode_pool"], world["encoder"])
    _, _, ledger, *_ = pe.generate(
        world["X"],
        world["y"],
        world["encoder"],
        dec,
        n_per_class=4,
        rng_seed=0,
        public_texts=world["seed_pool"],
        log=heard.append,
    )
    assert pe.judge_ is None
    assert [e["purpose"] for e in ledger.to_dict()["events"]] == [PURPOSE_COUNTS, PURPOSE_JUDGE_RESERVED, PURPOSE_VOTES]
    assert any(re.match(r"class judge not trained: about \d+ records", m) for m in heard)
    # the plan never depended on the count: the ledger's epsilon is the plan's
    assert ledger.epsilon == pytest.approx(pe.plan(n_classes=2).epsilon_planned, rel=1e-6)
