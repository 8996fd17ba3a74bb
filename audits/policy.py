"""Audit thresholds from TOML: the shipped ``default_policy.toml`` plus optional user overrides."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audits.errors import AuditInputError
from audits.result import CheckResult, Threshold

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

#: the checks the audit_report.json contract promises; they cannot be disabled
REQUIRED = (
    "exact_duplicates",
    "near_duplicates",
    "dcr_share",
    "mia_auc",
    "mia_tpr_at_1pct_fpr",
    "empirical_epsilon",
    "pii_leaks",
)
_OPS = ("<=", ">=", "==")
_ONS = ("value", "ci_low", "ci_high")
_KEYS = {"op", "bound", "on", "enabled"}


@dataclass
class Policy:
    """Threshold per check name, the names switched off, and the gate's [release] table."""

    thresholds: dict[str, Threshold]
    disabled: set[str] = field(default_factory=set)
    release: dict[str, Any] = field(default_factory=dict)

    def enabled(self, name: str) -> bool:
        return name not in self.disabled

    def judge(
        self,
        name: str,
        value: float | None,
        ci_low: float | None = None,
        ci_high: float | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> CheckResult:
        """A :class:`CheckResult` held to this policy's threshold; a null figure fails closed."""
        threshold = self.thresholds[name]
        result = CheckResult(name, _num(value), _num(ci_low), _num(ci_high), threshold, False, dict(evidence or {}))
        result.passed = threshold.holds(result)
        if getattr(result, threshold.on) is None:
            result.evidence.setdefault("why_null", "no figure could be computed")
            result.evidence["failed_closed"] = True
        return result


def _num(x: float | None) -> float | None:
    return None if x is None else float(x)


def _default_text() -> str:
    return resources.files("audits").joinpath("default_policy.toml").read_text(encoding="utf-8")


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, with the checks named in the TOML file at ``path`` overridden."""
    base = tomllib.loads(_default_text())
    tables = {name: dict(t) for name, t in base["audit"].items()}
    release: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise AuditInputError(f"{path}: cannot read policy file ({e.strerror})") from None
        except UnicodeDecodeError:
            raise AuditInputError(f"{path}: policy file is not valid UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise AuditInputError(f"{path}: not valid TOML ({e})") from None
        unknown = set(user) - {"audit", "release", "dp_gate"}
        if unknown:
            raise AuditInputError(
                f"{path}: unknown table [{sorted(unknown)[0]}]; a policy holds [audit], [release] and [dp_gate]"
            )
        for table in ("audit", "release", "dp_gate"):
            if table in user and not isinstance(user[table], dict):
                raise AuditInputError(f"{path}: {table} must be a table ([{table}]); got {user[table]!r}")
        release = dict(user.get("release", {}))
        for name, override in user.get("audit", {}).items():
            if name not in tables:
                raise AuditInputError(
                    f"{path}: [audit.{name}]: unknown check '{name}'; known: {', '.join(sorted(tables))}"
                )
            if not isinstance(override, dict):
                raise AuditInputError(f"{path}: [audit.{name}] must be a table with op, bound, on")
            tables[name].update(override)
    where = str(path) if path is not None else "default_policy.toml"
    thresholds, disabled = {}, set()
    for name, t in tables.items():
        thresholds[name] = _threshold(where, name, t)
        if not isinstance(t.get("enabled", True), bool):
            raise AuditInputError(f"{where}: [audit.{name}]: enabled must be true or false; got {t['enabled']!r}")
        if t.get("enabled", True) is False:
            if name in REQUIRED:
                raise AuditInputError(f"{where}: [audit.{name}]: this check is required and cannot be disabled")
            disabled.add(name)
    return Policy(thresholds, disabled, release)


def _threshold(where: str, name: str, t: dict[str, Any]) -> Threshold:
    extra = set(t) - _KEYS
    if extra:
        raise AuditInputError(f"{where}: [audit.{name}]: unknown key '{sorted(extra)[0]}'; use op, bound, on")
    if t.get("op") not in _OPS:
        raise AuditInputError(f"{where}: [audit.{name}]: op must be one of {', '.join(_OPS)}; got {t.get('op')!r}")
    if t.get("on", "value") not in _ONS:
        raise AuditInputError(f"{where}: [audit.{name}]: on must be one of {', '.join(_ONS)}; got {t.get('on')!r}")
    bound = t.get("bound")
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
        raise AuditInputError(f"{where}: [audit.{name}]: bound must be a finite number; got {bound!r}")
    return Threshold(t["op"], float(bound), t.get("on", "value"))
