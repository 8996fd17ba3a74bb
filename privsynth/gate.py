"""The gate stage: release or block.

Modes none and noise claim no guarantee and keep an exact gate: every audit check must pass.

Mode dp: the decision is itself differentially private. It reads the members and the holdout
only through :func:`privsynth.privacy.mechanisms.noisy_gate_statistics`, one Gaussian mechanism
recorded in the run's ledger (purpose gate): with the synthetic set fixed, the number of
members it reproduces, the floored membership-inference AUC and the holdout's size move by at
most sqrt(2) (L2) when one record (or person) is added or removed. The rules below read only
those noisy values, the noise's public standard deviation and the public policy, so (synthetic
output, decision) is one adaptive composition the ledger accounts for, and exporting only on
a pass is post-processing. The exact audit runs too, for the internal report, and decides
nothing in dp mode.

Where each piece lives, and why: the auditor (``audits.records``) computes each record's
figures, since what counts as a copy, a paraphrase or a leaked identifier is its definition and
it stays independent of the generator; the clipping per person, the sum, the noise and the
ledger event live in privsynth's privacy wing (:mod:`privsynth.privacy.mechanisms`), beside
the accountant and the secure noise source the guarantee rests on, which the auditor never
needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from privsynth.privacy.mechanisms import GATE_SENSITIVITY, noisy_gate_statistics
from privsynth.privacy.planner import PURPOSE_GATE


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    checks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"decision": "pass" if self.passed else "fail", "reasons": self.reasons, "checks": self.checks}


def _g(x: Any) -> str:
    return "null" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def _check(name: str, passed: bool, detail: str, **figures: Any) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail, **figures}


def decide_exact(report: dict[str, Any]) -> GateDecision:
    """Modes none and noise: the audit must pass (every check, at least one)."""
    failed = [c["name"] for c in report.get("checks", []) if not c.get("passed")]
    ok = report.get("decision") == "pass" and not failed and bool(report.get("checks"))
    check = _check("audit", ok, "every audit check passed" if ok else f"failed: {', '.join(failed) or 'no checks ran'}")
    return GateDecision(ok, [] if ok else [f"audit failed ({', '.join(failed) or 'no checks ran'})"], [check])


def ledger_check(*, spent: float | None, requested: float, cap: float) -> dict[str, Any]:
    """The ledger's epsilon (public: a function of the plan) against --epsilon and the policy's cap."""
    within = spent is not None and spent <= requested * (1 + 1e-9) and spent <= cap * (1 + 1e-9)
    return _check(
        "ledger_within_budget",
        within,
        f"ledger epsilon {_g(spent)}; must not exceed --epsilon {_g(requested)} nor the cap {_g(cap)}",
    )


def decide_dp(
    records: Any,
    *,
    rules: Any,
    ledger: Any,
    plan: Any,
    member_units: list[str] | None = None,
    holdout_units: list[str] | None = None,
) -> GateDecision:
    """The DP gate: one Gaussian release of the gate statistics (recorded in ``ledger`` under
    the plan's gate event), then rules on the noisy values only.

    ``records`` are the auditor's per-record figures (``audits.records.RecordFigures``) of the
    real members and holdout (never canaries); ``rules`` the policy's ``[dp_gate]`` table;
    ``member_units``/``holdout_units`` each record's person with ``--user-col``.
    """
    event = plan.event(PURPOSE_GATE)
    noisy = noisy_gate_statistics(
        records.member_reproduced,
        records.member_score,
        records.holdout_score,
        auc_floor=rules.auc_floor,
        ledger=ledger,
        event=event,
        member_units=member_units,
        holdout_units=holdout_units,
    )
    sd = event.noise_multiplier * GATE_SENSITIVITY
    z = NormalDist().inv_cdf(rules.confidence)
    checks, reasons = [], []

    def bounded(name: str, value: float, spread: float, *, op: str, bound: float, on: str, what: str) -> None:
        lo, hi = value - z * spread, value + z * spread
        figure = {"ci_low": lo, "ci_high": hi, "value": value}[on]
        ok = figure <= bound if op == "<=" else figure >= bound
        checks.append(
            _check(
                name,
                ok,
                f"{what}: noisy {value:.3g} (noise sd {spread:.3g}; {rules.confidence:.1%} "
                f"interval {lo:.3g} to {hi:.3g}); passes when {on} {op} {bound:g}",
                value=round(value, 4),
                ci_low=round(lo, 4),
                ci_high=round(hi, 4),
                threshold={"op": op, "bound": bound, "on": on},
            )
        )
        if not ok:
            reasons.append(f"{name}: {on} {figure:.3g} does not hold {op} {bound:g}")

    bounded(
        "dp_members_reproduced",
        noisy["members_reproduced"],
        sd,
        op="<=",
        bound=rules.members_reproduced_max,
        on="ci_low",
        what="members copied, near-copied, paraphrased or with an identifier in the synthetic set",
    )
    bounded(
        "dp_mia_auc",
        0.5 + noisy["auc_scaled"] / rules.auc_floor,
        sd / rules.auc_floor,
        op="<=",
        bound=rules.auc_max,
        on="ci_low",
        what=f"membership-inference AUC by distance to the nearest synthetic record (floor {rules.auc_floor})",
    )
    bounded(
        "dp_holdout_size",
        noisy["holdout_units"],
        sd,
        op=">=",
        bound=rules.min_holdout,
        on="ci_low",
        what="holdout records (people) the AUC compares against",
    )
    return GateDecision(not reasons, reasons, checks)


def finish_dp(decision: GateDecision, *, spent: float | None, requested: float, cap: float) -> GateDecision:
    """The DP decision with the ledger check added (after the gate's event is recorded)."""
    check = ledger_check(spent=spent, requested=requested, cap=cap)
    reasons = decision.reasons + ([] if check["passed"] else [f"ledger epsilon {spent} exceeds the budget {requested}"])
    return GateDecision(decision.passed and check["passed"], reasons, decision.checks + [check])


def noise_sd(plan: Any) -> float:
    """The standard deviation of the gate's noise on each coordinate (public)."""
    return plan.event(PURPOSE_GATE).noise_multiplier * GATE_SENSITIVITY if plan is not None else math.nan
