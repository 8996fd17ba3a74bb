"""Writing the audit report files: ``audit_report.json`` (the contract) and ``audit_report.html``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from audits.io import write_atomic
from audits.result import AuditReport

JSON_NAME = "audit_report.json"
HTML_NAME = "audit_report.html"


def _clean(x: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null (a null value fails closed)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item"):  # numpy scalars
        return _clean(x.item())
    return x


def to_json(report: AuditReport) -> str:
    return json.dumps(_clean(report.to_dict()), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_report(report: AuditReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write both reports atomically into ``out_dir``; return their paths."""
    from audits.html import render_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / JSON_NAME, to_json(report))
    write_atomic(out / HTML_NAME, render_html(report))
    return out / JSON_NAME, out / HTML_NAME
