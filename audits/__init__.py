"""privsynth's independent auditor: grades any synthetic text set against members and a holdout.

This package never imports ``privsynth``: the generator must not grade its own homework.
``audits.run(members, holdout, synthetic)`` runs every check; each check is usable alone from
``audits.checks``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from audits.result import AuditReport, CheckResult, Threshold  # noqa: E402
from audits.runner import run  # noqa: E402

__all__ = ["AuditReport", "CheckResult", "Threshold", "run", "__version__"]
