"""The audit stage: the independent auditor grades the synthetic set against members and holdout.

Its report is internal (exact statistics of the private records). In mode dp it also returns
each record's figures (``audits.records``), which the DP gate counts through its Gaussian
mechanism; the report's own checks decide nothing there, so a set too small for them (a tiny
holdout) does not stop a dp run: the report then says why its checks did not run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def audit_default(
    members,
    holdout,
    synthetic,
    *,
    policy,
    canaries=None,
    seed: int = 0,
    encoder=None,
    record_figures: dict[str, Any] | None = None,
    device: str = "cpu",
):
    """``audits.run`` with privsynth's defaults; with ``record_figures`` a set too small for the
    checks still yields the per-record figures."""
    import audits
    from audits.errors import AuditInputError

    try:
        return audits.run(
            members,
            holdout,
            synthetic,
            policy=policy,
            encoder=encoder,
            canaries=canaries,
            seed=seed,
            record_figures=record_figures,
            device=device,
        )
    except AuditInputError as err:
        if record_figures is None:
            raise
        report = audits.run(
            members,
            holdout,
            synthetic,
            policy=policy,
            encoder=encoder,
            seed=seed,
            record_figures=record_figures,
            checks=False,
            device=device,
        )
        report.inputs["checks_not_run"] = str(err)
        return report


def records(corpus: Any, prefix: str) -> list[dict[str, str]]:
    """The auditor's records, with their labels (for its fidelity figures); ids shown in its
    evidence are positions, not the user's ids (which may be identifiers)."""
    labels = getattr(corpus, "labels", None) or [None] * len(corpus.texts)
    return [{"id": f"{prefix}{i}", "text": t, "label": y} for i, (t, y) in enumerate(zip(corpus.texts, labels))]


def run(
    audit_fn: Callable[..., Any],
    members: Any,
    holdout: Any,
    synthetic: list[str],
    *,
    policy: Any,
    canaries: Any,
    seed: int,
    mode: str,
    device: str = "cpu",
    synthetic_labels: list[str] | None = None,
) -> Any:
    """The audit of one release: the auditor's report, with per-record figures in mode dp."""
    from audits.errors import AuditInputError
    from privsynth.errors import UserError

    figures = (
        {
            "jaccard": policy.dp_gate.jaccard,
            "similarity": policy.dp_gate.similarity,
            "min_words": policy.dp_gate.min_words,
        }
        if mode == "dp"
        else None
    )
    try:
        return audit_fn(
            records(members, "m"),
            records(holdout, "h"),
            list(synthetic)
            if synthetic_labels is None
            else [
                {"id": f"synthetic-{i}", "text": t, "label": y}
                for i, (t, y) in enumerate(zip(synthetic, synthetic_labels))
            ],
            policy=policy.audit_policy,
            canaries=canaries,
            seed=seed,
            **({"record_figures": figures} if figures is not None else {}),
            **({"device": device} if device != "cpu" else {}),
        )
    except AuditInputError as err:  # the auditor's input errors are the user's (exit 2)
        raise UserError(str(err)) from None
