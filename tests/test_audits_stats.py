"""Shared maths of the auditor: Clopper-Pearson, ROC summaries, empirical epsilon, exact k-NN."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.neighbors import NearestNeighbors

from audits.neighbors import knn
from audits.stats import (
    auc_with_ci,
    bootstrap_mean_ci,
    clopper_pearson,
    empirical_epsilon,
    min_holdout_for_fpr,
    tpr_at_fpr,
)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (17, 250), (999, 1000)])
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    lo, hi = clopper_pearson(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert float(lo) == pytest.approx(ref.low, abs=1e-9)
    assert float(hi) == pytest.approx(ref.high, abs=1e-9)


def test_empirical_epsilon_is_sound_and_tight_for_randomized_response():
    # An attack on an eps=1 randomized-response mechanism: members say 1 w.p. e/(1+e), others
    # w.p. 1/(1+e). Its true privacy loss is exactly 1, so a sound bound lies below 1 and, with
    # 20k records a side, close to it.
    eps, n = 1.0, 20000
    rng = np.random.default_rng(5)
    p = math.exp(eps) / (1 + math.exp(eps))
    pos = (rng.random(n) < p).astype(float)
    neg = (rng.random(n) < 1 - p).astype(float)
    b = empirical_epsilon(pos, neg, seed=0, delta=0.0)
    assert 0.85 < b.epsilon <= eps


def test_empirical_epsilon_equals_clopper_pearson_formula_on_evaluation_half():
    # Perfect separation: on the evaluation half all members score 1 and no holdout record does,
    # so the bound is log(CP_low(n, n) / CP_high(0, m)) from scipy's exact interval.
    pos, neg = np.ones(400), np.zeros(600)
    b = empirical_epsilon(pos, neg, seed=3, delta=0.0)
    tl = binomtest(200, 200).proportion_ci(method="exact").low
    fh = binomtest(0, 300).proportion_ci(method="exact").high
    assert b.true_positives == 200 and b.false_positives == 0
    assert b.epsilon == pytest.approx(math.log(tl / fh), rel=1e-9)


def test_empirical_epsilon_is_zero_without_signal_and_seeded():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(size=3000), rng.normal(size=3000)
    a = empirical_epsilon(pos, neg, seed=7)
    assert a.epsilon < 0.3
    assert a == empirical_epsilon(pos, neg, seed=7)


def test_tpr_at_fpr_is_null_when_holdout_is_too_small():
    assert min_holdout_for_fpr(0.001) == 1000
    assert tpr_at_fpr(np.ones(50), np.zeros(999), 0.001) is None
    assert tpr_at_fpr(np.ones(50), np.zeros(1000), 0.001) == 1.0


def test_auc_ci_brackets_value_and_is_reproducible():
    rng = np.random.default_rng(2)
    pos, neg = rng.normal(0.5, 1, 800), rng.normal(0, 1, 800)
    auc, lo, hi = auc_with_ci(pos, neg, seed=4)
    assert lo < auc < hi and 0.6 < auc < 0.7
    assert (auc, lo, hi) == auc_with_ci(pos, neg, seed=4)


def test_bootstrap_mean_ci_covers_mean():
    x = np.random.default_rng(0).random(500)
    lo, hi = bootstrap_mean_ci(x, seed=0)
    assert lo < x.mean() < hi and hi - lo < 0.1


def test_knn_matches_sklearn_brute_force():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(300, 16))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    r = rng.normal(size=(500, 16))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    ours = knn(q, r, k=3, chunk=64)
    ref, _ = NearestNeighbors(n_neighbors=3, metric="cosine", algorithm="brute").fit(r).kneighbors(q)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
