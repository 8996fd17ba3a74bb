"""Plain result objects: one per check, one report per audit."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

Op = Literal["<=", ">=", "=="]
On = Literal["value", "ci_low", "ci_high"]


@dataclass(frozen=True)
class Threshold:
    """What a check is held to: ``<on> <op> <bound>``, e.g. ``ci_high <= 0.60``."""

    op: Op
    bound: float
    on: On = "value"

    def holds(self, result: CheckResult) -> bool:
        """True when the figure named by ``on`` meets the bound; a missing figure never holds."""
        x = getattr(result, self.on)
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return False
        if self.op == "<=":
            return cast(bool, x <= self.bound)
        if self.op == ">=":
            return cast(bool, x >= self.bound)
        return cast(bool, x == self.bound)


@dataclass
class CheckResult:
    """One check: its value, an interval where it is a statistic, the threshold, the verdict.

    ``evidence`` holds counts, ids of the worst cases and plain-language notes; never a
    value taken from the private data.
    """

    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: Threshold
    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = {"op": self.threshold.op, "bound": self.threshold.bound, "on": self.threshold.on}
        return d


@dataclass
class AuditReport:
    """The outcome of one audit: every check, the decision, record counts and versions.

    ``figures`` carries the raw series the HTML report plots (ROC curve, DCR histograms); it
    is not part of the JSON contract.
    """

    checks: list[CheckResult]
    inputs: dict[str, Any]
    versions: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    #: per-record figures (``audits.records.RecordFigures``) when asked for; never serialised
    records: Any = field(default=None, repr=False)

    @property
    def decision(self) -> Literal["pass", "fail"]:
        return "pass" if self.checks and all(c.passed for c in self.checks) else "fail"

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name`` (KeyError if it did not run)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "notice": NOTICE,
            "decision": self.decision,
            "checks": [c.to_dict() for c in self.checks],
            "inputs": self.inputs,
            "versions": self.versions,
            "seconds_by_check_group": dict(self.figures.get("timings_s", {})),
            **({"fidelity": self.figures["fidelity"]} if "fidelity" in self.figures else {}),
        }


NOTICE = (
    "INTERNAL COMPLIANCE DOCUMENT. This audit report holds statistics computed from the private "
    "member data (record counts, attack scores, distances) that no differential-privacy epsilon "
    "covers. Do not publish it with the synthetic data."
)
