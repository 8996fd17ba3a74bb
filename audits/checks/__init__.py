"""The registry of checks behind :func:`audits.run`. Each entry is also usable alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audits.checks import distance, duplicates, mia, pii
from audits.checks.canaries import Canary, canary_exposure
from audits.data import AuditData
from audits.policy import Policy
from audits.result import CheckResult

Figures = dict[str, Any]


@dataclass(frozen=True)
class CheckGroup:
    """Checks computed together (they share work); ``fn`` returns their results."""

    name: str
    produces: tuple[str, ...]
    fn: Callable[[AuditData, Policy, Figures, list[Canary] | None], list[CheckResult]]


def _duplicates(d: AuditData, p: Policy, f: Figures, c: Any) -> list[CheckResult]:
    return [
        duplicates.exact_duplicates(d.members, d.holdout, d.synthetic, policy=p),
        duplicates.near_duplicates(d.members, d.holdout, d.synthetic, policy=p),
        duplicates.longest_shared_ngram(d.members, d.holdout, d.synthetic, policy=p),
    ]


def _distance(d: AuditData, p: Policy, f: Figures, c: Any) -> list[CheckResult]:
    dist = distance.nearest_distances(d)
    f["dcr"] = {
        "member": dist["member"][..., 0].mean(axis=0).tolist(),
        "holdout": dist["holdout"][..., 0].mean(axis=0).tolist(),
    }
    return [
        distance.dcr_share(d, policy=p, distances=dist),
        distance.dcr_share_level(d, policy=p, distances=dist),
        distance.nndr_share(d, policy=p, distances=dist),
    ]


def _mia(d: AuditData, p: Policy, f: Figures, c: Any) -> list[CheckResult]:
    results, figs = mia.membership_inference(d, policy=p)
    f.update(figs)
    return results


def _pii(d: AuditData, p: Policy, f: Figures, c: Any) -> list[CheckResult]:
    return pii.pii_leaks(d, policy=p)


def _canaries(d: AuditData, p: Policy, f: Figures, c: list[Canary] | None) -> list[CheckResult]:
    return [canary_exposure(c, d.synthetic, policy=p, seed=d.seed)] if c else []


REGISTRY: tuple[CheckGroup, ...] = (
    CheckGroup("duplicates", ("exact_duplicates", "near_duplicates", "longest_shared_ngram"), _duplicates),
    CheckGroup("distance", ("dcr_share", "dcr_share_level", "nndr_share"), _distance),
    CheckGroup(
        "membership_inference", ("mia_auc", "mia_tpr_at_1pct_fpr", "mia_tpr_at_0_1pct_fpr", "empirical_epsilon"), _mia
    ),
    CheckGroup("pii", ("pii_leaks", "pii_leaks_quasi"), _pii),
    CheckGroup("canaries", ("canary_exposure",), _canaries),
)
