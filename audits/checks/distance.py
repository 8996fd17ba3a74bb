"""Distance to closest record (DCR) and nearest-neighbour distance ratio (NNDR) in embedding space.

The larger of members and holdout is subsampled to the smaller's size (repeatedly, seeded,
then averaged), so that a synthetic record is equally likely to sit nearer either set when
the generator copied nothing: 0.5 is ideal for both shares.

The interval of each share comes from a permutation null, not from a bootstrap over synthetic
records. Synthetic records cluster (Private Evolution keeps a few survivors and their
variations), so many of them share one nearest real record, and whether that record fell among
the members or the holdout is one coin flip for all of them. Measured on the benchmark's dp
releases of 200 records, the share's spread under shuffled member/holdout labels was 2-4 times
the bootstrap's. So the statistic is recomputed, the same way, with the member/holdout labels
shuffled over the pooled records; the spread of those values is the spread chance alone gives
this synthetic set, and the interval is the observed share shifted by it.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

from audits.data import AuditData
from audits.neighbors import PoolNeighbours
from audits.policy import Policy, load_policy
from audits.result import CheckResult
from audits.stats import bootstrap_mean_ci, permutation_interval, permutation_p_value

REPEATS = 10  # member subsamples averaged into the share (and into every null draw)
PERMUTATIONS = 200  # shuffles of the member/holdout labels for the null
WORST = 5
_HITS = 20.0  # expected pooled neighbours inside a subset among the kept top K


def _top_k(n_members: int, n_holdout: int) -> int:
    """Enough neighbours that a subset holding a share f of the pool has two among them (a miss
    is searched exactly, so this is speed, not correctness)."""
    f = min(n_members, n_holdout) / (n_members + n_holdout)
    return max(32, math.ceil(_HITS / f))


def _subsets(ids: np.ndarray, size: int, rng: np.random.Generator, repeats: int) -> list[np.ndarray]:
    if size >= len(ids):
        return [ids]
    return [rng.choice(ids, size=size, replace=False) for _ in range(repeats)]


def _labelled(
    nb: PoolNeighbours, is_member: np.ndarray, rng: np.random.Generator, repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """(member, holdout) distances [repeats, n_synthetic, 2] for one member/holdout labelling."""
    members, holdout = np.flatnonzero(is_member), np.flatnonzero(~is_member)
    size = min(len(members), len(holdout))
    out = []
    for ids in (members, holdout):
        d = []
        for sub in _subsets(ids, size, rng, repeats):
            mask = np.zeros(len(is_member), dtype=bool)
            mask[sub] = True
            d.append(nb.two_nearest(mask))
        out.append(np.stack(d))
    r = max(len(out[0]), len(out[1]))
    return np.broadcast_to(out[0], (r, *out[0].shape[1:])), np.broadcast_to(out[1], (r, *out[1].shape[1:]))


def _closer_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per synthetic record, the share of repeats where a < b (ties count half)."""
    return cast(np.ndarray, ((a < b) + 0.5 * (a == b)).mean(axis=0))


def _ratio(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x[..., 1] > 0, x[..., 0] / x[..., 1], 1.0)


def nearest_distances(
    data: AuditData, *, repeats: int = REPEATS, permutations: int = PERMUTATIONS
) -> dict[str, np.ndarray]:
    """Distances of each synthetic record to its two nearest members and holdout records, and
    the DCR and NNDR shares under ``permutations`` shuffles of the member/holdout labels.

    Returns "member" and "holdout" shaped [repeats, n_synthetic, 2], "null_dcr" and "null_nndr"
    shaped [permutations]. As a by-product caches each member's and holdout record's distance
    to its nearest synthetic record for the membership-inference attack.
    """
    em, eh, es = data.embeddings()
    pool = np.concatenate([em, eh]).astype(np.float32, copy=False)
    nb = PoolNeighbours(np.asarray(es, dtype=np.float32), pool, _top_k(len(em), len(eh)))
    reverse = np.clip(1.0 - nb.pool_best, 0.0, 2.0)
    data.cache["member_to_synthetic"], data.cache["holdout_to_synthetic"] = reverse[: len(em)], reverse[len(em) :]

    rng = np.random.default_rng([data.seed, 1])
    is_member = np.r_[np.ones(len(em), dtype=bool), np.zeros(len(eh), dtype=bool)]
    dm, dh = _labelled(nb, is_member, rng, repeats)
    null_dcr, null_nndr = np.empty(permutations), np.empty(permutations)
    for b in range(permutations):
        pm, ph = _labelled(nb, rng.permutation(is_member), rng, repeats)
        null_dcr[b] = _closer_share(pm[..., 0], ph[..., 0]).mean()
        null_nndr[b] = _closer_share(_ratio(pm), _ratio(ph)).mean()
    return {"member": dm, "holdout": dh, "null_dcr": null_dcr, "null_nndr": null_nndr}


def _null_evidence(value: float, null: np.ndarray) -> dict[str, float]:
    return {
        "p_value": round(permutation_p_value(value, null), 4),
        "null_median": round(float(np.median(null)), 4),
        "null_95th_percentile": round(float(np.quantile(null, 0.95)), 4),
        "null_sd": round(float(np.std(null)), 4),
        "permutations": len(null),
    }


def _dcr_figures(d: dict[str, np.ndarray]) -> tuple[np.ndarray, float, float, float]:
    """Per-record DCR shares, their mean and its permutation interval: what both DCR checks judge."""
    per_record = _closer_share(d["member"][..., 0], d["holdout"][..., 0])
    value = float(per_record.mean())
    return (per_record, value, *permutation_interval(value, d["null_dcr"]))


def dcr_share(
    data: AuditData, *, policy: Policy | None = None, distances: dict[str, np.ndarray] | None = None
) -> CheckResult:
    """Share of synthetic records closer to a member than to any holdout record, with a 95%
    interval from the permutation null (see the module docstring)."""
    policy = policy or load_policy()
    d = distances or nearest_distances(data)
    dm, dh = d["member"][..., 0], d["holdout"][..., 0]
    per_record, value, lo, hi = _dcr_figures(d)
    gap = (dh - dm).mean(axis=0)
    order = np.argsort(-gap, kind="stable")[:WORST]
    return policy.judge(
        "dcr_share",
        value,
        lo,
        hi,
        evidence={
            "n_synthetic": len(per_record),
            "subsample_size": int(min(len(data.members), len(data.holdout))),
            "repeats": int(dm.shape[0]),
            **_null_evidence(value, d["null_dcr"]),
            "bootstrap_ci_over_synthetic_records": [round(x, 4) for x in bootstrap_mean_ci(per_record, seed=data.seed)],
            "median_dcr_to_members": float(np.median(dm)),
            "median_dcr_to_holdout": float(np.median(dh)),
            "synthetic_at_distance_0_from_a_member": int((dm.min(axis=0) <= 1e-6).sum()),
            "worst": [
                {
                    "synthetic_id": data.synthetic[i].id,
                    "dcr_member": round(float(dm[:, i].mean()), 4),
                    "dcr_holdout": round(float(dh[:, i].mean()), 4),
                }
                for i in order
            ],
        },
    )


def dcr_share_level(
    data: AuditData, *, policy: Policy | None = None, distances: dict[str, np.ndarray] | None = None
) -> CheckResult:
    """The DCR share with its permutation interval, held to a ceiling whatever its test says
    (by default the interval's upper end, ``ci_high <= 0.80``).

    A release that stays near a few real records gives the permutation test only a few coin
    flips, so it can never be significant: 200 paraphrases of 2 members have a share of 1.0 and
    a permutation interval reaching down to 0.5. A share that high is a leak if those records
    are members, significant or not; and an interval that wide cannot rule it out, so on its
    upper end such a release fails closed, while a large, spread release (a narrow interval) is
    left to the test.
    """
    policy = policy or load_policy()
    d = distances or nearest_distances(data)
    per_record, value, lo, hi = _dcr_figures(d)
    return policy.judge(
        "dcr_share_level",
        value,
        lo,
        hi,
        evidence={"n_synthetic": len(per_record), "p_value": round(permutation_p_value(value, d["null_dcr"]), 4)},
    )


def nndr_share(
    data: AuditData, *, policy: Policy | None = None, distances: dict[str, np.ndarray] | None = None
) -> CheckResult:
    """Share of synthetic records whose NNDR (d1/d2) is lower against members than against
    holdout, with a 95% interval from the permutation null."""
    policy = policy or load_policy()
    d = distances or nearest_distances(data)
    rm, rh = _ratio(d["member"]), _ratio(d["holdout"])
    value = float(_closer_share(rm, rh).mean())
    lo, hi = permutation_interval(value, d["null_nndr"])
    return policy.judge(
        "nndr_share",
        value,
        lo,
        hi,
        evidence={
            **_null_evidence(value, d["null_nndr"]),
            "median_nndr_to_members": float(np.median(rm)),
            "median_nndr_to_holdout": float(np.median(rh)),
        },
    )
