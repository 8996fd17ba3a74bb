"""The offline HTML report: jinja2 template, matplotlib figures inlined as SVG (no CDN)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from audits.result import NOTICE, AuditReport, CheckResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.figure import Figure

READINGS = {
    "exact_duplicates": "Synthetic texts that are word-for-word copies of a member (ignoring case, spacing and "
    "punctuation) and of no holdout record. Any copy releases that member's text.",
    "near_duplicates": "Share of synthetic records that are almost copies of a member (character 5-gram overlap "
    ">= 0.8) while no holdout record is that close.",
    "longest_shared_ngram": "Share of synthetic records sharing a longer word run with a member than any synthetic "
    "record shares with never-seen holdout records: copied passages.",
    "dcr_share": "Share of synthetic records closer to a member than to a holdout record in embedding space. "
    "0.5 means the generator sits no nearer its training data than unseen data. The interval is "
    "how far the share strays by chance (member and holdout labels shuffled); a release is blocked "
    "when all of it lies above 0.5.",
    "dcr_share_level": "The same share held to a ceiling whatever the test says: the whole interval must lie at "
    "or below 0.80 by default. A release that stays near a few real records cannot be tested "
    "(its interval is wide) and is blocked.",
    "nndr_share": "Like the DCR share, but on the ratio of first to second neighbour distance: low ratios mean a "
    "synthetic record sits next to one specific record. 0.5 is ideal.",
    "mia_auc": "How well the strongest membership-inference attack tells members from holdout records "
    "(0.5 = coin flip, 1.0 = perfectly).",
    "mia_tpr_at_1pct_fpr": "Share of members the strongest attack identifies while wrongly accusing only 1% of "
    "non-members (chance: 0.01).",
    "mia_tpr_at_0_1pct_fpr": "The same at 0.1% false accusations (chance: 0.001): the regime that matters for "
    "individuals.",
    "empirical_epsilon": "A lower bound on epsilon that the attacks prove at 95% confidence. A formal guarantee "
    "below this number would be contradicted.",
    "pii_leaks": "Direct identifiers (email, phone, card, IBAN, SSN, IP) found in a member, repeated in the "
    "synthetic text and absent from the holdout. Values are never shown.",
    "pii_leaks_quasi": "Share of synthetic records repeating a member's name, place or URL that no holdout "
    "record contains (a single common English word, such as a big city's name, is not "
    "counted).",
    "canary_exposure": "How strongly a planted secret surfaces in the synthetic text, in bits (about 1 = not at "
    "all, 13.3 = copied).",
}


def _fmt(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _figures(report: AuditReport) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    roc = report.figures.get("roc")
    if roc:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
        ax.plot(roc["fpr"], roc["tpr"], label=f"{roc['attack']} (AUC {roc['auc']:.3f})")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
        ax.set_xlabel("false-positive rate (holdout)")
        ax.set_ylabel("true-positive rate (members)")
        ax.set_title("ROC of the strongest attack")
        ax.legend(loc="lower right", fontsize=8)
        out["roc"] = _svg(fig)
        plt.close(fig)
    dcr = report.figures.get("dcr")
    if dcr:
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        m, h = np.asarray(dcr["member"]), np.asarray(dcr["holdout"])
        # an array of edges works; matplotlib's stub only names Sequence[float]
        bins = cast("Sequence[float]", np.linspace(0, max(float(m.max(initial=0)), float(h.max(initial=0)), 1e-6), 40))
        ax.hist(m, bins=bins, alpha=0.6, label="to nearest member")
        ax.hist(h, bins=bins, alpha=0.6, label="to nearest holdout record")
        ax.set_xlabel("cosine distance from each synthetic record")
        ax.set_ylabel("synthetic records")
        ax.set_title("Distance to closest record")
        ax.legend(fontsize=8)
        out["dcr"] = _svg(fig)
        plt.close(fig)
    return out


def _row(c: CheckResult) -> dict[str, Any]:
    t = c.threshold
    return {
        "name": c.name,
        "value": _fmt(c.value),
        "ci": "" if c.ci_low is None else f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]",
        "rule": f"{t.on} {t.op} {_fmt(t.bound)}",
        "passed": c.passed,
        "reading": READINGS.get(c.name, ""),
        "why_null": c.evidence.get("why_null"),
    }


def fidelity_rows(fid: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fidelity figures as table rows: (what, synthetic, members or reference, reading)."""
    if not fid:
        return None
    s, m = fid["synthetic"], fid["members_same_size"]
    rows = [
        ("records repeating an earlier one (exact)", _pct(s["exact_repeat_share"]), _pct(m["exact_repeat_share"])),
        (
            "records repeating an earlier one (near: 5-gram Jaccard > 0.7)",
            _pct(s["near_repeat_share"]),
            _pct(m["near_repeat_share"]),
        ),
        ("distinct word bigrams / all bigrams", _fmt(s["distinct_bigram_share"]), _fmt(m["distinct_bigram_share"])),
        ("vocabulary (distinct words)", str(s["vocabulary"]), str(m["vocabulary"])),
        (
            "words per record (p10 / median / p90)",
            " / ".join(map(str, s["words_p10_median_p90"])),
            " / ".join(map(str, m["words_p10_median_p90"])),
        ),
    ]
    shares = fid.get("class_shares")
    if shares:
        rows.append(
            (
                "class shares",
                ", ".join(f"{k} {_pct(v)}" for k, v in shares["synthetic"].items()),
                ", ".join(f"{k} {_pct(v)}" for k, v in shares["members"].items()),
            )
        )
    tstr = []
    for kind, label in (
        ("tfidf_lr", "TF-IDF + logistic regression"),
        ("embedding_lr", "embeddings + logistic regression"),
    ):
        t = (fid.get("train_on_synthetic") or {}).get(kind)
        if t:
            syn, ref = t["synthetic_macro_f1"], t["members_macro_f1"]
            tstr.append(
                {
                    "model": label,
                    "synthetic": f"{_fmt(syn['value'])} [{_fmt(syn['ci95'][0])}, {_fmt(syn['ci95'][1])}]",
                    "members": f"{_fmt(ref['value'])} [{_fmt(ref['ci95'][0])}, {_fmt(ref['ci95'][1])}]",
                    "share": "" if t["share_of_members"] is None else _pct(t["share_of_members"]),
                }
            )
    return {
        "rows": rows,
        "n_synthetic": s["records"],
        "ks": _fmt(fid["length_words"]["ks_statistic_vs_members"]),
        "tv": None if not shares else _fmt(shares["total_variation"]),
        "tstr": tstr,
        "tstr_test": (fid.get("train_on_synthetic") or {}).get("test_set"),
    }


def _pct(x: float) -> str:
    return f"{100 * float(x):.1f}%"


def render_html(report: AuditReport) -> str:
    env = Environment(loader=PackageLoader("audits", "templates"), autoescape=select_autoescape(["html", "j2"]))
    failed = [c.name for c in report.checks if not c.passed]
    verdict = (
        "PASS: every check met its threshold."
        if report.decision == "pass"
        else f"FAIL: {len(failed)} of {len(report.checks)} checks failed ({', '.join(failed)})."
    )
    return env.get_template("report.html.j2").render(
        notice=NOTICE,
        decision=report.decision,
        verdict=verdict,
        rows=[_row(c) for c in report.checks],
        inputs=report.inputs,
        versions=report.versions,
        figures=_figures(report),
        fidelity=fidelity_rows(report.figures.get("fidelity")),
    )
