"""The internal compliance document: the auditor's report with the release's decision on top.

The audit reports (``audit_report.json``, ``audit_report.html``) hold exact statistics of the
private records; no epsilon covers them. They go to a folder apart from the release folder
(``--report-dir``, by default ``DIR.internal`` beside DIR), which the run prints, and the
public manifest names nothing in it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPORT_JSON = "audit_report.json"
REPORT_HTML = "audit_report.html"
INTERNAL = (REPORT_JSON, REPORT_HTML)


def write_reports_default(report: Any, out_dir: Path, context: dict[str, Any]) -> None:
    """The auditor's writer, then the release context added to both files.

    The compliance document must say what was released, under which guarantee, the policy
    and the gate's decision (which can differ from the audit's: the gate adds its own
    checks). The auditor's writer knows nothing of releases, so the context goes into a
    ``release`` key of the JSON and a section at the top of the HTML.
    """
    from audits.report import write_report

    write_report(report, out_dir)
    jpath, hpath = Path(out_dir) / REPORT_JSON, Path(out_dir) / REPORT_HTML
    d = json.loads(jpath.read_text(encoding="utf-8"))
    d["release"] = context
    jpath.write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    page = hpath.read_text(encoding="utf-8")
    section = release_section_html(context)
    # the release decision is the headline: above the auditor's own verdict when we can find it
    anchor = next((a for a in ('<p class="verdict', "<h2>Checks</h2>") if a in page), "<body>")
    at = page.index(anchor) + (len(anchor) if anchor == "<body>" else 0)
    hpath.write_text(page[:at] + section + page[at:], encoding="utf-8")


GENERATION_LABELS = {
    "class_check_rounds": "class check rounds",
    "off_class_first_pass": "outputs in another class after the first decode",
    "off_class_left": "outputs still in another class (released as labelled)",
    "copies_redecoded": "outputs decoded again because they copied a member",
    "repeats_or_scaffolding_first_pass": "outputs that repeated another output or carried LM scaffolding",
    "repeats_or_scaffolding_left": "of those, still so after redecoding (released as they are)",
    "copies_retargeted": "outputs given a new target after copying 3 times",
    "seconds_by_step": "wall seconds of each Private Evolution step",
    "scaffolding_first_pass": "outputs that carried LM scaffolding after lead-ins were cut",
    "scaffolding_left": "of those, still so after redecoding (released as they are)",
    "ray": "Ray cluster: its workers, and the batches and shards each ran",
}
GENERATION_NOTE = (
    "The class check reads each decoded output with a classifier: in mode none and noise one "
    "fitted on the members' embeddings, in mode dp one built from Private Evolution's survivors "
    "(DP outputs). An output still in another class keeps the label it was generated for."
)


def release_section_html(context: dict[str, Any]) -> str:
    """The release's header for the compliance document (escaped; counts and settings only)."""
    from html import escape as e

    def show(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

    rules = "".join(f"<tr><th>{e(k)}</th><td>{e(show(v))}</td></tr>" for k, v in context["policy_release"].items())
    gate = "".join(
        f'<tr><td><code>{e(c["name"])}</code></td><td class="{"pass" if c["passed"] else "fail"}">'
        f"{'pass' if c['passed'] else 'FAIL'}</td><td>{e(str(c['detail']))}</td></tr>"
        for c in context["gate_checks"]
    )
    verdict = "RELEASED" if context["decision"] == "pass" else "BLOCKED: nothing released"
    gen = context.get("generation") or {}
    gen_rows = "".join(
        f"<tr><th>{e(label)}</th><td>{e(show(gen[key]))}</td></tr>"
        for key, label in GENERATION_LABELS.items()
        if gen.get(key) is not None
    )
    gen_html = (
        (f"<h3>Generation</h3><table>{gen_rows}</table><p><small>{e(GENERATION_NOTE)}</small></p>") if gen_rows else ""
    )
    internal = context.get("internal") or {}
    internal_html = (
        (
            "<h3>For the data holder only</h3><table>"
            + "".join(
                f"<tr><th>{e(str(k))}</th><td>{e(show(v) if not isinstance(v, dict) else json.dumps(v))}</td></tr>"
                for k, v in internal.items()
            )
            + "</table>"
        )
        if internal
        else ""
    )
    return (
        f'<section class="release"><h2>Release decision: <span class="{e(context["decision"])}">{verdict}</span></h2>'
        f"<table><tr><th>What was released</th><td>{e(context['released'])}</td></tr>"
        f"<tr><th>Guarantee</th><td>{e(context['guarantee'])}</td></tr>"
        f"<tr><th>Policy</th><td>{e(context['policy_source'])}</td></tr></table>"
        f"<h3>Gate checks</h3><table><tr><th>check</th><th>result</th><th>detail</th></tr>{gate}</table>"
        f"{gen_html}{internal_html}<h3>Release rules in force</h3><table>{rules}</table>"
        f"<p><small>{e(context['not_covered'])}</small></p></section>\n<h2>Audit</h2>\n"
    )


def report_context(
    *,
    mode: str,
    privacy: dict[str, Any],
    policy: Any,
    decision: Any,
    n_synthetic: int,
    generation: dict[str, Any] | None = None,
    rejected_kept: bool = False,
    internal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the compliance document states above the audit: what, under which guarantee, why.

    ``internal`` carries what only the data holder may see (the input's keyed ids, exact
    counts, the DP counts' inputs): it lives in this internal document and nowhere public."""
    from privsynth.export import DATA_CARD, LEDGER, SYNTHETIC

    if mode == "dp":
        guarantee = (
            f"({privacy['epsilon']:.4g}, {privacy['delta']:.3g})-differential privacy, "
            f"add/remove-one-{privacy.get('unit', 'record')} adjacency, "
            f"{str(privacy.get('accountant')).upper()} accountant; covers everything in the release folder "
            f"and the decision to release (the gate read only DP statistics)"
        )
        not_covered = (
            "This report holds statistics computed on the private records; no epsilon covers it. In dp "
            "mode they decided nothing: the gate read only the noisy statistics of the ledger's gate event."
        )
    else:
        guarantee = "none: empirical audit only" + (" (embedding noise added)" if mode == "noise" else "")
        not_covered = (
            "This report holds statistics computed on the private records; no epsilon covers it. The "
            "decision to release depends on the data."
        )
    released = (
        f"{SYNTHETIC}: {n_synthetic} synthetic records, with {DATA_CARD}, "
        f"{LEDGER + ', ' if mode == 'dp' else ''}manifest.json"
        if decision.passed
        else f"nothing: the gate blocked the release; {n_synthetic} synthetic records were discarded"
        + (" (kept outside the release folder on request)" if rejected_kept else "")
    )
    return {
        "decision": "pass" if decision.passed else "fail",
        "released": released,
        "privacy_mode": mode,
        "guarantee": guarantee,
        "epsilon": privacy.get("epsilon"),
        "delta": privacy.get("delta"),
        "policy_source": policy.source or "shipped defaults",
        "policy_release": asdict(policy.release),
        "gate_checks": decision.checks,
        "gate_reasons": decision.reasons,
        "generation": dict(generation or {}),
        "internal": dict(internal or {}),
        "not_covered": not_covered,
    }
