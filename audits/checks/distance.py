"""Distance to closest record (DCR) and nearest-neighbour distance ratio (NNDR) in embedding space.

The larger of members and holdout is subsampled to the smaller's size (repeatedly, seeded,
then averaged), so that a synthetic record is equally likely to sit nearer either set when
the generator copied nothing: 0.5 is ideal for both shares.
"""

from __future__ import annotations

import numpy as np

from audits.data import AuditData
from audits.neighbors import knn_subsets
from audits.policy import Policy, load_policy
from audits.result import CheckResult
from audits.stats import bootstrap_mean_ci

REPEATS = 5
WORST = 5


def _subsets(n: int, size: int, rng: np.random.Generator, repeats: int) -> list[np.ndarray]:
    if size >= n:
        return [np.arange(n)]
    return [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(repeats)]


def nearest_distances(data: AuditData, *, repeats: int = REPEATS) -> dict[str, np.ndarray]:
    """Distances of each synthetic record to its two nearest members and holdout records.

    Returns arrays shaped [repeats, n_synthetic, 2] for "member" and "holdout". As a by-product
    of the same matmuls, caches each member's and holdout record's distance to its nearest
    synthetic record for the membership-inference attack.
    """
    em, eh, es = data.embeddings()
    size = min(len(em), len(eh))
    rng = np.random.default_rng([data.seed, 1])
    dm, data.cache["member_to_synthetic"] = knn_subsets(es, em, _subsets(len(em), size, rng, repeats), k=2)
    dh, data.cache["holdout_to_synthetic"] = knn_subsets(es, eh, _subsets(len(eh), size, rng, repeats), k=2)
    r = max(len(dm), len(dh))
    return {"member": np.broadcast_to(dm, (r, *dm.shape[1:])), "holdout": np.broadcast_to(dh, (r, *dh.shape[1:]))}


def _closer_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per synthetic record, the share of repeats where a < b (ties count half)."""
    return ((a < b) + 0.5 * (a == b)).mean(axis=0)


def dcr_share(data: AuditData, *, policy: Policy | None = None,
              distances: dict[str, np.ndarray] | None = None) -> CheckResult:
    """Share of synthetic records closer to a member than to any holdout record, with a bootstrap CI."""
    policy = policy or load_policy()
    d = distances or nearest_distances(data)
    dm, dh = d["member"][..., 0], d["holdout"][..., 0]
    per_record = _closer_share(dm, dh)
    lo, hi = bootstrap_mean_ci(per_record, seed=data.seed)
    gap = (dh - dm).mean(axis=0)
    order = np.argsort(-gap, kind="stable")[:WORST]
    return policy.judge("dcr_share", float(per_record.mean()), lo, hi, evidence={
        "n_synthetic": len(per_record), "subsample_size": int(min(len(data.members), len(data.holdout))),
        "repeats": int(dm.shape[0]),
        "median_dcr_to_members": float(np.median(dm)), "median_dcr_to_holdout": float(np.median(dh)),
        "synthetic_at_distance_0_from_a_member": int((dm.min(axis=0) <= 1e-6).sum()),
        "worst": [{"synthetic_id": data.synthetic[i].id, "dcr_member": round(float(dm[:, i].mean()), 4),
                   "dcr_holdout": round(float(dh[:, i].mean()), 4)} for i in order],
    })


def nndr_share(data: AuditData, *, policy: Policy | None = None,
               distances: dict[str, np.ndarray] | None = None) -> CheckResult:
    """Share of synthetic records whose NNDR (d1/d2) is lower against members than against holdout."""
    policy = policy or load_policy()
    d = distances or nearest_distances(data)

    def ratio(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x[..., 1] > 0, x[..., 0] / x[..., 1], 1.0)

    rm, rh = ratio(d["member"]), ratio(d["holdout"])
    per_record = _closer_share(rm, rh)
    lo, hi = bootstrap_mean_ci(per_record, seed=data.seed + 1)
    return policy.judge("nndr_share", float(per_record.mean()), lo, hi, evidence={
        "median_nndr_to_members": float(np.median(rm)), "median_nndr_to_holdout": float(np.median(rh)),
    })
