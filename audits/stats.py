"""Shared statistics: Clopper-Pearson intervals, seeded bootstrap, ROC summaries, empirical epsilon.

Every random choice takes a ``numpy.random.Generator`` or a seed, so an audit is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta
from sklearn.metrics import roc_auc_score, roc_curve

N_BOOTSTRAP = 200


def clopper_pearson(k: np.ndarray | int, n: np.ndarray | int, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided (1 - alpha) binomial interval for k successes in n trials (vectorised)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return low, high


def bootstrap_mean_ci(
    values: np.ndarray, *, seed: int, alpha: float = 0.05, n_resamples: int = N_BOOTSTRAP
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (seeded)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def permutation_interval(value: float, null: np.ndarray, *, alpha: float = 0.05) -> tuple[float, float]:
    """(1 - alpha) interval of a statistic whose spread under chance is ``null`` (its values with
    the labels shuffled): ``value`` minus and plus how far the null strays from its median.
    With the null centred on 0.5, the lower end lies above 0.5 exactly when ``value`` lies above
    the null's (1 - alpha/2) quantile: when a one-sided permutation test would call it significant."""
    null = np.asarray(null, dtype=float)
    mid = float(np.median(null))
    lo_q, hi_q = np.quantile(null, [alpha / 2, 1 - alpha / 2])
    return float(max(0.0, value - (hi_q - mid))), float(min(1.0, value + (mid - lo_q)))


def permutation_p_value(value: float, null: np.ndarray) -> float:
    """One-sided p-value of ``value`` against its permutation null (the +1 keeps it above 0)."""
    null = np.asarray(null, dtype=float)
    return float((1 + np.sum(null >= value)) / (1 + len(null)))


def auc_with_ci(
    pos: np.ndarray, neg: np.ndarray, *, seed: int, alpha: float = 0.05, n_resamples: int = N_BOOTSTRAP
) -> tuple[float, float, float]:
    """ROC AUC of scores (members = positive) with a stratified percentile bootstrap interval."""
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    auc = float(roc_auc_score(y, np.r_[pos, neg]))
    rng = np.random.default_rng(seed)
    boots = np.empty(n_resamples)
    for b in range(n_resamples):
        p = pos[rng.integers(0, len(pos), len(pos))]
        q = neg[rng.integers(0, len(neg), len(neg))]
        boots[b] = roc_auc_score(y, np.r_[p, q])
    return auc, float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


def roc(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of every threshold (members = positive)."""
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    fpr, tpr, _ = roc_curve(y, np.r_[pos, neg])
    return fpr, tpr


def tpr_at_fpr(pos: np.ndarray, neg: np.ndarray, target_fpr: float) -> float | None:
    """Highest TPR reachable at FPR <= target, or None when the holdout is too small to tell."""
    if len(neg) < min_holdout_for_fpr(target_fpr):
        return None
    fpr, tpr = roc(pos, neg)
    return float(tpr[fpr <= target_fpr + 1e-12].max())


def min_holdout_for_fpr(target_fpr: float) -> int:
    """Records the holdout needs before an FPR of ``target_fpr`` can be observed at all."""
    return int(math.ceil(1.0 / target_fpr - 1e-9))


@dataclass(frozen=True)
class EpsilonBound:
    """An empirical epsilon lower bound and the counts it rests on (evaluation half only)."""

    epsilon: float
    direction: str  # "high score = member" or "low score = member"
    threshold: float
    true_positives: int
    n_members: int
    false_positives: int
    n_holdout: int
    tpr_low: float
    fpr_high: float


def _eps_from_bounds(tpr_low: np.ndarray, fpr_high: np.ndarray, delta: float) -> np.ndarray:
    """max over the two tests of log((TPR_low - delta) / FPR_high), the DP hypothesis-test bound."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log((tpr_low - delta) / fpr_high)
        # the complementary test: calling "non-member" below the threshold
        b = np.log((1.0 - fpr_high - delta) / (1.0 - tpr_low))
    a = np.where(np.isfinite(a), a, -np.inf)
    b = np.where(np.isfinite(b), b, -np.inf)
    return np.maximum(a, b)


def empirical_epsilon(
    pos: np.ndarray, neg: np.ndarray, *, seed: int, delta: float = 1e-5, alpha: float = 0.05
) -> EpsilonBound:
    """Empirical epsilon lower bound of an attack, as TAPAS and ML Privacy Meter compute it.

    Members and holdout are each split in two halves (seeded). The threshold and direction are
    chosen on the first half to maximise the bound; the bound is computed on the second half
    from (1 - alpha) Clopper-Pearson limits: eps_lb = log((TPR_low - delta) / FPR_high), or the
    complementary test (TNR_low - delta) / FNR_high, whichever is larger; floored at 0.
    """
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    rng = np.random.default_rng(seed)
    pp, nn = rng.permutation(len(pos)), rng.permutation(len(neg))
    pos_a, pos_b = pos[pp[: len(pos) // 2]], pos[pp[len(pos) // 2 :]]
    neg_a, neg_b = neg[nn[: len(neg) // 2]], neg[nn[len(neg) // 2 :]]

    best = (-np.inf, 1.0, 0.0)  # (eps on half A, sign, threshold)
    for sign in (1.0, -1.0):
        pa, na = np.sort(sign * pos_a), np.sort(sign * neg_a)
        cands = np.unique(np.r_[pa, na])
        tp = len(pa) - np.searchsorted(pa, cands, side="left")
        fp = len(na) - np.searchsorted(na, cands, side="left")
        tl, _ = clopper_pearson(tp, len(pa), alpha=alpha)
        _, fh = clopper_pearson(fp, len(na), alpha=alpha)
        eps = _eps_from_bounds(tl, fh, delta)
        i = int(np.argmax(eps))
        if eps[i] > best[0]:
            best = (float(eps[i]), sign, float(cands[i]))
    _, sign, t = best
    tp_b = int(np.sum(sign * pos_b >= t))
    fp_b = int(np.sum(sign * neg_b >= t))
    tl, _ = clopper_pearson(tp_b, len(pos_b), alpha=alpha)
    _, fh = clopper_pearson(fp_b, len(neg_b), alpha=alpha)
    eps_b = float(_eps_from_bounds(np.atleast_1d(tl), np.atleast_1d(fh), delta)[0])
    return EpsilonBound(
        epsilon=max(0.0, eps_b),
        direction="high score = member" if sign > 0 else "low score = member",
        threshold=float(sign * t),
        true_positives=tp_b,
        n_members=len(pos_b),
        false_positives=fp_b,
        n_holdout=len(neg_b),
        tpr_low=float(tl),
        fpr_high=float(fh),
    )
