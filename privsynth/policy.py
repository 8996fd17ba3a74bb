"""The release policy: one TOML file, two tables, each read by its owner.

- ``[audit]``: thresholds per check, read and validated by the independent auditor
  (``audits.policy``; defaults in ``audits/default_policy.toml``).
- ``[release]``: what the gate enforces (defaults in ``privsynth/data/release_policy.toml``):
  epsilon caps per run and per dataset lifetime, the largest delta, whether a formal
  guarantee is required.
- ``[dp_gate]``: the differentially private gate of dp releases (same file): its budget
  share, its rules and the settings of the per-record figures it counts.

A user file overrides keys of either table. Unknown keys and wrongly typed values are
``UserError`` naming the file and the key, so a typo never silently loosens the gate.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from privsynth.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

DEFAULT_RELEASE_FILE = "data/release_policy.toml"


@dataclass(frozen=True)
class ReleaseRules:
    """The [release] table as typed values."""

    max_epsilon_per_run: float
    max_epsilon_lifetime: float
    max_delta: float
    require_formal_guarantee: bool


@dataclass(frozen=True)
class DPGateRules:
    """The [dp_gate] table as typed values (see release_policy.toml for each key)."""

    share: float
    confidence: float
    members_reproduced_max: float
    jaccard: float
    similarity: float
    min_words: int
    auc_max: float
    auc_floor: int
    min_holdout: float

    _RANGES = {
        "share": (0.0, 0.5, False),
        "confidence": (0.5, 1.0, False),
        "members_reproduced_max": (0.0, None, True),
        "jaccard": (0.0, 1.0, True),
        "similarity": (0.0, 1.0, True),
        "min_words": (0, None, True),
        "auc_max": (0.5, 1.0, True),
        "auc_floor": (1, None, True),
        "min_holdout": (0.0, None, True),
    }


@dataclass
class Policy:
    """The tables in force: the gate's rules, the auditor's thresholds, where they came from."""

    release: ReleaseRules
    audit: dict[str, dict[str, Any]]
    source: str | None = None
    audit_policy: Any = field(default=None, repr=False)  # the auditor's own Policy object
    dp_gate: DPGateRules | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source or "defaults",
            "release": asdict(self.release),
            "dp_gate": asdict(self.dp_gate) if self.dp_gate else None,
            "audit": self.audit,
        }

    def to_toml(self) -> str:
        head = f"# policy in force: {self.source or 'shipped defaults'}\n"
        tables: dict[str, Any] = {"release": asdict(self.release)}
        if self.dp_gate:
            tables["dp_gate"] = asdict(self.dp_gate)
        return head + dumps_toml({**tables, "audit": self.audit})

    # ---- checks the gate makes before anything runs ---------------------------------------
    def check_mode(self, mode: str) -> None:
        if mode != "dp" and self.release.require_formal_guarantee:
            raise UserError(
                f"the policy ({self.source or 'defaults'}) sets [release] require_formal_guarantee = true; "
                f"--privacy {mode} has no formal guarantee: use --epsilon instead"
            )

    def check_epsilon(self, epsilon: float, delta: float | None = None) -> None:
        cap = self.release.max_epsilon_per_run
        if epsilon > cap:
            raise UserError(
                f"--epsilon {epsilon:g} is above the policy's cap [release] max_epsilon_per_run = {cap:g} "
                f"({self.source or 'defaults'}); choose --epsilon {cap:g} or less"
            )
        if delta is not None and delta > self.release.max_delta:
            raise UserError(
                f"--delta {delta:g} is above the policy's cap [release] max_delta = {self.release.max_delta:g}"
            )


def _defaults() -> dict[str, Any]:
    text = resources.files("privsynth").joinpath(DEFAULT_RELEASE_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _dp_gate_rules(where: str, table: dict[str, Any]) -> DPGateRules:
    out: dict[str, Any] = {}
    for f in fields(DPGateRules):
        value = table[f.name]
        lo, hi, closed = DPGateRules._RANGES[f.name]
        key = f"{where}: [dp_gate] {f.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{key} must be a number; got {value!r}")
        if f.type == "int" and int(value) != value:
            raise UserError(f"{key} must be a whole number; got {value!r}")
        below = value < lo if closed else value <= lo
        above = hi is not None and (value > hi if closed else value >= hi)
        if below or above:
            upper = "" if hi is None else f"{hi:g}"
            span = f"{'[' if closed else '('}{lo:g}, {upper}{']' if closed and hi is not None else ')'}"
            raise UserError(f"{key} must be within {span}; got {value!r}")
        out[f.name] = int(value) if f.type == "int" else float(value)
    return DPGateRules(**out)


def _read_user_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read policy file ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err})") from None


def _release_rules(where: str, table: dict[str, Any]) -> ReleaseRules:
    out: dict[str, Any] = {}
    for f in fields(ReleaseRules):
        value = table[f.name]
        key = f"{where}: [release] {f.name}"
        if f.type == "bool":
            if not isinstance(value, bool):
                raise UserError(f"{key} must be true or false; got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise UserError(f"{key} must be a positive number; got {value!r}")
            value = float(value)
        out[f.name] = value
    if out["max_delta"] >= 1:
        raise UserError(f"{where}: [release] max_delta must be below 1; got {out['max_delta']!r}")
    if out["max_epsilon_per_run"] > out["max_epsilon_lifetime"]:
        raise UserError(
            f"{where}: [release] max_epsilon_per_run ({out['max_epsilon_per_run']:g}) is above "
            f"max_epsilon_lifetime ({out['max_epsilon_lifetime']:g})"
        )
    return ReleaseRules(**out)


def _audit_tables(path: Path | None) -> tuple[dict[str, dict[str, Any]], Any]:
    """The auditor validates and merges [audit]; its errors become ours (exit 2)."""
    from audits.errors import AuditInputError
    from audits.policy import load_policy as load_audit_policy

    try:
        pol = load_audit_policy(path)
    except AuditInputError as err:
        raise UserError(str(err)) from None
    tables = {
        name: {"op": t.op, "bound": t.bound, "on": t.on, **({"enabled": False} if name in pol.disabled else {})}
        for name, t in pol.thresholds.items()
    }
    return tables, pol


def load_policy(path: str | Path | None = None) -> Policy:
    """The shipped defaults of both tables, overridden by the TOML file at ``path``."""
    defaults = _defaults()
    release, dp_gate = dict(defaults["release"]), dict(defaults["dp_gate"])
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        user = _read_user_file(path)
        unknown = sorted(set(user) - {"audit", "release", "dp_gate"})
        if unknown:
            raise UserError(f"{path}: unknown table [{unknown[0]}]; a policy holds [audit], [release] and [dp_gate]")
        for name, table in (("release", release), ("dp_gate", dp_gate)):
            given = user.get(name, {})
            if not isinstance(given, dict):
                raise UserError(f"{path}: {name} must be a table ([{name}])")
            for key, value in given.items():
                if key not in table:
                    raise UserError(f"{path}: [{name}] unknown key {key!r}; known: {', '.join(sorted(table))}")
                table[key] = value
    rules = _release_rules(where, release)
    gate = _dp_gate_rules(where, dp_gate)
    audit, audit_policy = _audit_tables(path)
    return Policy(rules, audit, None if path is None else str(path), audit_policy, gate)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dumps_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Tables of scalars and one level of sub-tables as TOML (all a policy needs)."""
    lines: list[str] = []
    for name, table in tables.items():
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in table.items() if isinstance(v, dict)}
        if scalars or not subs:
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
            lines.append("")
        for sub, t in subs.items():
            lines.append(f"[{name}.{sub}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in t.items()]
            lines.append("")
    return "\n".join(lines)
