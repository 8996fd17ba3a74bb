"""The release policy: one TOML file, two tables, each read by its owner.

- ``[audit]``: thresholds per check, read and validated by the independent auditor
  (``audits.policy``; defaults in ``audits/default_policy.toml``).
- ``[release]``: what the gate enforces (defaults in ``privsynth/data/release_policy.toml``):
  epsilon caps per run and per dataset lifetime, the largest delta, whether a formal
  guarantee is required, and whether the audit's empirical epsilon must stay below the claim.

A user file overrides keys of either table. Unknown keys and wrongly typed values are
``UserError`` naming the file and the key, so a typo never silently loosens the gate.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from privsynth.errors import UserError

DEFAULT_RELEASE_FILE = "data/release_policy.toml"


@dataclass(frozen=True)
class ReleaseRules:
    """The [release] table as typed values."""

    max_epsilon_per_run: float
    max_epsilon_lifetime: float
    max_delta: float
    require_formal_guarantee: bool
    check_empirical_epsilon: bool


@dataclass
class Policy:
    """Both tables in force: the gate's rules, the auditor's thresholds, where they came from."""

    release: ReleaseRules
    audit: dict[str, dict[str, Any]]
    source: str | None = None
    audit_policy: Any = field(default=None, repr=False)  # the auditor's own Policy object

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or "defaults", "release": asdict(self.release), "audit": self.audit}

    def to_toml(self) -> str:
        head = f"# policy in force: {self.source or 'shipped defaults'}\n"
        return head + dumps_toml({"release": asdict(self.release), "audit": self.audit})

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


def _release_defaults() -> dict[str, Any]:
    text = resources.files("privsynth").joinpath(DEFAULT_RELEASE_FILE).read_text(encoding="utf-8")
    return dict(tomllib.loads(text)["release"])


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
    release = _release_defaults()
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        user = _read_user_file(path)
        unknown = sorted(set(user) - {"audit", "release"})
        if unknown:
            raise UserError(f"{path}: unknown table [{unknown[0]}]; a policy holds [audit] and [release]")
        user_release = user.get("release", {})
        if not isinstance(user_release, dict):
            raise UserError(f"{path}: release must be a table ([release])")
        for key, value in user_release.items():
            if key not in release:
                raise UserError(f"{path}: [release] unknown key {key!r}; known: {', '.join(sorted(release))}")
            release[key] = value
    rules = _release_rules(where, release)
    audit, audit_policy = _audit_tables(path)
    return Policy(rules, audit, None if path is None else str(path), audit_policy)


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
