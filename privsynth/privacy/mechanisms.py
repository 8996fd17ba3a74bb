"""Every read of private records in mode dp, and the one way each result leaves: a Gaussian mechanism.

In a dp run nothing else in privsynth reads a member's or a holdout record's text, vector,
label or person (the internal audit report aside: it is never released and decides nothing).
Each function here computes an exact statistic whose L2 sensitivity, for adding or removing
one *unit* -- a record, or with ``--user-col`` a person with all their records -- is stated
below; the statistic leaves only through :func:`gaussian_release`, which records the ledger
event first (the ledger refuses an event over budget) and then adds noise from the OS CSPRNG.

=================== ================================ ==================================== ======= ===============
function            reads                            exact statistic                      L2 sens ledger purpose
=================== ================================ ==================================== ======= ===============
``class_counts``    member labels (one per person)   members per class                    1       counts
``vote_histogram``  member vectors and labels        votes per candidate, one per unit    1       votes (a round)
``fit_judge``       member vectors, labels (a step)  ``clipped_gradient_sum`` of a batch  C       judge
``gate_statistics`` the auditor's per-record figures members reproduced, AUC x N0, holdout sqrt(2) gate
=================== ================================ ==================================== ======= ===============

Why each bound holds:

- a unit is on one side of the split (members or holdout) and, with ``--user-col``, a person
  casts one vote or count through one record picked by the CSPRNG among their own rows, so a
  person's presence changes no other person's contribution;
- ``class_counts``: one unit adds 1 to one class;
- ``vote_histogram``: one unit adds 1 to one candidate's count (or none);
- ``fit_judge``: one unit adds one gradient of norm at most C to the step's sum;
- ``gate_statistics``: a member adds at most 1 to the count of members reproduced (its flag,
  the maximum over its records, depends only on its own records and the fixed synthetic set)
  and moves the floored AUC, scaled by the public floor N0, by at most 1; a holdout unit moves
  the scaled AUC by at most 1 and the holdout count by 1. Either way the vector moves by at
  most sqrt(2) (see :func:`floored_auc` for the AUC's bound).

The synthetic set, the candidates, the judge's weights before a step and every threshold are
DP outputs or public settings: fixed when a statistic is computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.rng import secure_normal, secure_uniform

GATE_SENSITIVITY = math.sqrt(2.0)
#: the coordinates of the gate's vector, in order
GATE_COORDINATES = ("members_reproduced", "auc_scaled", "holdout_units")


def gaussian_release(
    exact: np.ndarray, *, ledger: PrivacyLedger, event: GaussianEvent, sensitivity: float = 1.0
) -> np.ndarray:
    """The Gaussian mechanism: record ``event`` (refused if over budget), then add noise of
    standard deviation ``event.noise_multiplier * sensitivity`` from the OS CSPRNG."""
    ledger.record(
        purpose=event.purpose, noise_multiplier=event.noise_multiplier, sample_rate=event.sample_rate, steps=event.steps
    )
    exact = np.asarray(exact, dtype=np.float64)
    return cast(np.ndarray, exact + secure_normal(exact.shape, scale=event.noise_multiplier * sensitivity))


def one_record_per_person(user_ids: Sequence[Any]) -> np.ndarray:
    """Row indices, one per person, each picked uniformly among that person's rows by the CSPRNG.

    The pick depends on nothing but that person's own rows, so a person's presence changes no
    other person's pick."""
    ids = np.asarray(user_ids, dtype=object)
    _, inverse = np.unique(ids.astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    u = secure_uniform(len(sizes))
    pick = np.minimum((u * sizes).astype(np.int64), sizes - 1)
    return cast(np.ndarray, order[starts + pick])


def _units(n: int, user_ids: Sequence[Any] | None) -> np.ndarray | slice:
    return slice(None) if user_ids is None else one_record_per_person(user_ids)


# ---- counts ------------------------------------------------------------------------------------
def class_counts(member_class: np.ndarray, n_classes: int, *, user_ids: Sequence[Any] | None = None) -> np.ndarray:
    """Exact members per class, one record per person. READS MEMBER LABELS; sensitivity 1."""
    yc = np.asarray(member_class, dtype=np.int64)[_units(len(member_class), user_ids)]
    return np.bincount(yc, minlength=n_classes).astype(np.float64)


def noisy_class_counts(
    member_class: np.ndarray,
    n_classes: int,
    *,
    ledger: PrivacyLedger,
    event: GaussianEvent,
    user_ids: Sequence[Any] | None = None,
) -> np.ndarray:
    """``class_counts`` through the Gaussian mechanism (purpose counts)."""
    return gaussian_release(class_counts(member_class, n_classes, user_ids=user_ids), ledger=ledger, event=event)


# ---- Private Evolution's votes -----------------------------------------------------------------
VOTES = ("own-class", "all")
#: members whose similarities to the candidates are held at once (65,536 x 384 candidates: 100 MB)
VOTE_CHUNK = 65_536


def open_vote(
    members: np.ndarray, member_class: np.ndarray, candidates: np.ndarray, cand_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each member's nearest (cosine) candidate of any class, and whether that candidate has
    the member's class (only then does the member count). READS MEMBER VECTORS AND LABELS."""
    best = np.argmax(members @ candidates.T, axis=1)
    return best, cand_class[best] == member_class


def vote_histogram(
    members: np.ndarray,
    member_class: np.ndarray,
    candidates: np.ndarray,
    cand_class: np.ndarray,
    *,
    among: str,
    user_ids: Sequence[Any] | None = None,
) -> np.ndarray:
    """Exact votes, one per unit: for the nearest candidate of the member's own class
    (``among="own-class"``), or for the nearest candidate of any class, counted only when it
    carries the member's class (``among="all"``). READS MEMBER VECTORS AND LABELS; sensitivity 1."""
    if among not in VOTES:
        raise ValueError(f"among must be one of {VOTES}; got {among!r}")
    rows = _units(len(members), user_ids)
    X, yc = np.asarray(members)[rows], np.asarray(member_class)[rows]
    votes = np.zeros(len(candidates), dtype=np.float64)
    for lo in range(0, len(X), VOTE_CHUNK):  # members in chunks: memory stays flat at any corpus size
        Xc, yb = X[lo : lo + VOTE_CHUNK], yc[lo : lo + VOTE_CHUNK]
        if among == "all":
            best, keep = open_vote(Xc, yb, candidates, cand_class)
            np.add.at(votes, best[keep], 1.0)
            continue
        sims = Xc @ candidates.T
        for c in np.unique(yb):
            r = yb == c
            cols = np.flatnonzero(cand_class == c)
            if cols.size:
                np.add.at(votes, cols[np.argmax(sims[np.ix_(r, cols)], axis=1)], 1.0)
    return votes


def noisy_votes(
    members: np.ndarray,
    member_class: np.ndarray,
    candidates: np.ndarray,
    cand_class: np.ndarray,
    *,
    among: str,
    ledger: PrivacyLedger,
    event: GaussianEvent,
    user_ids: Sequence[Any] | None = None,
    histogram: Callable[..., np.ndarray] | None = None,
) -> np.ndarray:
    """``vote_histogram`` through the Gaussian mechanism (purpose votes, one round).

    ``histogram``: another way to count the same exact histogram (e.g. per shard on a cluster,
    :meth:`privsynth.cluster.RayCluster.vote_histogram`); the noise is added here, once."""
    count = vote_histogram if histogram is None else histogram
    exact = count(members, member_class, candidates, cand_class, among=among, user_ids=user_ids)
    return gaussian_release(exact, ledger=ledger, event=event)


# ---- the class judge (DP-SGD) ------------------------------------------------------------------
def poisson_batch(n: int, user_ids: Sequence[Any] | None, q: float) -> np.ndarray:
    """Rows of one step's batch: each unit joins with probability q (CSPRNG); a joining person
    brings one of their records, picked by the CSPRNG."""
    rows = np.arange(n) if user_ids is None else one_record_per_person(user_ids)
    return rows[secure_uniform(len(rows)) < q]


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    return cast(np.ndarray, P / P.sum(axis=1, keepdims=True))


def clipped_gradient_sum(
    member_vectors: np.ndarray, member_class: np.ndarray, rows: np.ndarray, weights: np.ndarray, *, clip: float
) -> np.ndarray:
    """One DP-SGD step's exact sum: each record's gradient of the softmax loss of a linear model
    over ``[x, 1]``, ``(softmax - onehot) x [x, 1]``, clipped to L2 norm ``clip``, summed over
    ``rows``. READS MEMBER VECTORS AND LABELS; sensitivity ``clip`` (one unit, one row)."""
    W = np.asarray(weights, dtype=np.float64)
    total = np.zeros_like(W)
    if len(rows):
        xb = np.hstack([np.asarray(member_vectors, dtype=np.float64)[rows], np.ones((len(rows), 1))])
        err = _softmax(xb @ W.T) - np.eye(W.shape[0])[np.asarray(member_class, dtype=np.int64)[rows]]
        norms = np.linalg.norm(err, axis=1) * np.linalg.norm(xb, axis=1)
        total = (err * np.minimum(1.0, clip / np.maximum(norms, 1e-12))[:, None]).T @ xb
    return total


def fit_judge(
    member_vectors: np.ndarray,
    member_class: np.ndarray,
    n_classes: int,
    *,
    event: GaussianEvent,
    ledger: PrivacyLedger,
    clip: float,
    lr: float,
    momentum: float,
    expected_batch: float,
    user_ids: Sequence[Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """DP-SGD (Abadi et al. 2016) on a linear softmax model over the member vectors plus a bias.
    READS MEMBER VECTORS AND LABELS.

    ``event`` (sigma, sample rate q, steps) is recorded before the first step. Each step: every
    unit joins the batch with probability q; each joined record's exact gradient
    ``(softmax - onehot) x [x, 1]`` is clipped to L2 norm ``clip`` and summed (sensitivity
    ``clip``); Gaussian noise of standard deviation ``sigma * clip`` is added; only that noisy
    sum moves the weights (SGD with momentum, divided by ``expected_batch``, which must be a
    public value or a DP count, never the exact number of members). Returns the weights
    ``(n_classes, dim + 1)``, the last column the bias: a DP output.
    """
    X = np.asarray(member_vectors, dtype=np.float64)
    y = np.asarray(member_class, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"member_vectors {X.shape} and member_class ({len(y)}) do not match")
    q, steps, sigma = event.sample_rate, event.steps, event.noise_multiplier
    ledger.record(purpose=event.purpose, noise_multiplier=sigma, sample_rate=q, steps=steps)
    W = np.zeros((n_classes, X.shape[1] + 1))
    velocity = np.zeros_like(W)
    for step in range(steps):
        rows = poisson_batch(len(X), user_ids, q)
        noisy = clipped_gradient_sum(X, y, rows, W, clip=clip) + secure_normal(W.shape, scale=sigma * clip)
        velocity = momentum * velocity + noisy / max(expected_batch, 1.0)
        W -= lr * velocity
        if log is not None and (step + 1) % max(1, steps // 4) == 0:
            log(f"class judge: DP-SGD step {step + 1}/{steps}")
    return W


# ---- the release gate --------------------------------------------------------------------------
def _per_unit_max(values: np.ndarray, units: Sequence[Any] | None) -> np.ndarray:
    """The maximum of ``values`` over each unit's records (records are units without persons)."""
    values = np.asarray(values, dtype=np.float64)
    if units is None:
        return values
    _, inverse = np.unique(np.asarray(units, dtype=object).astype(str), return_inverse=True)
    out = np.full(inverse.max() + 1 if len(inverse) else 0, -np.inf)
    np.maximum.at(out, inverse, values)
    return out


def floored_auc(member_scores: np.ndarray, holdout_scores: np.ndarray, *, floor: int) -> float:
    """``sum_ij (K(s_i, h_j) - 1/2) / (max(n_m, N0) * max(n_h, N0))``, K the Mann-Whitney kernel
    (1 when the member scores higher, 1/2 on a tie): AUC - 1/2 once both sets reach the public
    floor N0, shrunk towards 0 below it.

    Adding or removing one member (or holdout unit) moves it by at most 1/N0: with n_m < N0 the
    denominator stays N0 * max(n_h, N0) and the new row adds at most n_h / 2 to the numerator;
    with n_m >= N0 the change is (n_m a - A) / (n_m (n_m + 1) max(n_h, N0)) for the row's sum a
    and the old numerator A, at most n_h / ((n_m + 1) max(n_h, N0)) <= 1/N0.
    """
    m = np.asarray(member_scores, dtype=np.float64)
    h = np.sort(np.asarray(holdout_scores, dtype=np.float64))
    if floor < 1:
        raise ValueError(f"floor must be >= 1; got {floor!r}")
    if not len(m) or not len(h):
        return 0.0
    below = np.searchsorted(h, m, side="left")
    ties = np.searchsorted(h, m, side="right") - below
    numerator = float(np.sum(below + 0.5 * ties)) - 0.5 * len(m) * len(h)
    return numerator / (max(len(m), floor) * max(len(h), floor))


def gate_statistics(
    member_reproduced: np.ndarray,
    member_scores: np.ndarray,
    holdout_scores: np.ndarray,
    *,
    auc_floor: int,
    member_units: Sequence[Any] | None = None,
    holdout_units: Sequence[Any] | None = None,
) -> np.ndarray:
    """The gate's exact vector: (members reproduced, N0 x floored AUC, holdout units).
    READS the auditor's per-record figures of members and holdout (each a function of one
    record and the fixed synthetic set); per person the maximum over their records. L2
    sensitivity sqrt(2) (module docstring)."""
    reproduced = np.clip(_per_unit_max(member_reproduced, member_units), 0.0, 1.0)
    ms = _per_unit_max(member_scores, member_units)
    hs = _per_unit_max(holdout_scores, holdout_units)
    auc = floored_auc(ms, hs, floor=auc_floor)
    return np.array([reproduced.sum(), auc_floor * auc, float(len(hs))])


def noisy_gate_statistics(
    member_reproduced: np.ndarray,
    member_scores: np.ndarray,
    holdout_scores: np.ndarray,
    *,
    auc_floor: int,
    ledger: PrivacyLedger,
    event: GaussianEvent,
    member_units: Sequence[Any] | None = None,
    holdout_units: Sequence[Any] | None = None,
) -> dict[str, float]:
    """``gate_statistics`` through the Gaussian mechanism (purpose gate), as named values."""
    exact = gate_statistics(
        member_reproduced,
        member_scores,
        holdout_scores,
        auc_floor=auc_floor,
        member_units=member_units,
        holdout_units=holdout_units,
    )
    noisy = gaussian_release(exact, ledger=ledger, event=event, sensitivity=GATE_SENSITIVITY)
    return dict(zip(GATE_COORDINATES, map(float, noisy)))
