"""DATA_CARD.md: the page a recipient of a release reads first.

It ships with the synthetic data, so it holds only what the release may disclose: facts
about synthetic.csv (computed from synthetic.csv itself), how it was made (public code,
public models), the guarantee and the policy. It never quotes audit statistics (those are
computed on the private members and no epsilon covers them), record texts or PII.

Its facts also open the file as a front-matter block (``---`` lines around ``key: value``
pairs, each value JSON, which YAML reads too), as Hugging Face dataset cards do, so a tool
can read them; :mod:`privsynth.disclosure` says what covers each.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

COVERS = (
    "The epsilon covers everything in this folder (`synthetic.csv`, `ledger.json`, this card and "
    "`manifest.json`) and the decision to release it: everything derived from the private records "
    "went through the Gaussian mechanisms the ledger lists, the gate's decision included (it read "
    "only noisy statistics), and the rest is public by declaration (your settings, the declared "
    "labels, public models and code). It does NOT cover the audit reports (`audit_report.json`, "
    "`audit_report.html`), which hold exact statistics of the private records, are internal "
    "compliance documents and were kept apart from this folder."
)

NOT_DP = (
    "There is no epsilon: nothing in this release is covered by a formal guarantee. The audit "
    "reports (`audit_report.json`, `audit_report.html`) hold statistics computed directly on the "
    "private records and are internal compliance documents; the decision to release depends on the data."
)


def guarantee_text(privacy: dict[str, Any]) -> str:
    """The guarantee in plain words (shared by the data card and the report context)."""
    if privacy["mode"] == "dp":
        return (
            f"Formal differential privacy: ({privacy['epsilon']:.3g}, {privacy['delta']:.2g})-DP under "
            f"add/remove-one-{privacy.get('unit', 'record')} adjacency, accounted with the "
            f"{privacy.get('accountant', 'prv').upper()} accountant (see ledger.json). In plain words: "
            + (
                "whether or not all of any one person's records were in the source data changes the probability of "
                if privacy.get("unit") == "person"
                else "whether or not any one person's record was in the source data changes the probability of "
            )
            + f"any outcome by at most a factor of e^{privacy['epsilon']:.3g}, except with probability "
            f"{privacy['delta']:.2g}."
        )
    extra = (
        " Embedding-space noise was added, which makes copying less likely but proves nothing."
        if privacy["mode"] == "noise"
        else ""
    )
    return (
        "None: empirical audit only. No formal privacy guarantee: each synthetic record was decoded "
        "from an interpolation between two real records of the same class, and may reveal them."
        + extra
        + " The release passed the automatic privacy audit configured by the policy, which tests for "
        "copies, near copies, membership inference and leaked identifiers; an audit can only show "
        "the attacks it tried failed, not that every attack would."
    )


def fidelity(texts: list[str]) -> dict[str, Any]:
    """Figures of the synthetic set alone (no private record read): how much it repeats itself,
    how varied its wording is, its lengths in words and how many records carry LM scaffolding."""
    import numpy as np

    from privsynth import scaffolding
    from privsynth.diversity import diversity

    d = diversity(texts)
    words = np.array([len(str(t).split()) for t in texts]) if texts else np.zeros(1)
    return {
        "exact_repeat_share": round(d["exact_repeat_share"], 4),
        "near_repeat_share": round(d["near_repeat_share"], 4),
        "distinct_bigram_share": round(d["distinct_bigram_share"], 4),
        "vocabulary": d["vocabulary"],
        "words_p10_median_p90": [int(np.percentile(words, q)) for q in (10, 50, 90)],
        "records_with_lm_scaffolding": sum(bool(scaffolding.find(t)) for t in texts),
        "records_starting_like_a_formula": sum(formula_like(str(t)) for t in texts),
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would read TEXT, opened from a CSV, as a formula (its first character).

    synthetic.csv keeps every text exactly as generated -- a dataset's text is what a model trains
    on, and an escape character would become part of it -- so the card counts these and says how to
    open the file safely instead."""
    return text.startswith(FORMULA_STARTS)


def facts(
    *,
    synthetic_labels: list[str],
    privacy: dict[str, Any],
    seed: int,
    created: str,
    version: str,
    signed: bool,
    synthetic_texts: list[str] | None = None,
) -> dict[str, Any]:
    """The card's machine-readable facts (its front matter)."""
    out: dict[str, Any] = {
        "data_card_version": 1,
        "records": len(synthetic_labels),
        "records_per_label": dict(sorted(Counter(synthetic_labels).items())),
        "privacy_mode": privacy["mode"],
        "unit": privacy.get("unit", "record"),
    }
    if synthetic_texts is not None:
        out["fidelity"] = fidelity(synthetic_texts)
    if privacy["mode"] == "dp":
        out.update({"epsilon": privacy["epsilon"], "delta": privacy["delta"], "accountant": privacy.get("accountant")})
    out.update({"seed": seed, "created": created, "privsynth_version": version, "signed": signed})
    return out


def front_matter(card_facts: dict[str, Any]) -> str:
    import json

    return "---\n" + "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in card_facts.items()) + "---\n"


def read_front_matter(text: str) -> dict[str, Any]:
    """The facts of a rendered card (inverse of :func:`front_matter`)."""
    import json

    lines = text.split("\n")
    if not lines or lines[0] != "---":
        return {}
    out = {}
    for line in lines[1:]:
        if line == "---":
            break
        key, _, value = line.partition(": ")
        out[key] = json.loads(value)
    return out


def render(
    *,
    synthetic_labels: list[str],
    synthetic_texts: list[str] | None = None,
    privacy: dict[str, Any],
    models: dict[str, Any],
    policy: dict[str, Any],
    seed: int,
    created: str,
    version: str,
    signed: bool,
) -> str:
    counts = Counter(synthetic_labels)
    card_facts = facts(
        synthetic_labels=synthetic_labels,
        privacy=privacy,
        seed=seed,
        created=created,
        version=version,
        signed=signed,
        synthetic_texts=synthetic_texts,
    )
    fid = card_facts.get("fidelity")
    fidelity_section = (
        ""
        if fid is None
        else f"""
## Fidelity (computed from synthetic.csv alone)
| figure | value |
|---|---|
| records repeating an earlier one (same words) | {fid["exact_repeat_share"]:.1%} |
| records repeating an earlier one nearly (character 5-gram Jaccard > 0.7) | {fid["near_repeat_share"]:.1%} |
| distinct word bigrams / all bigrams | {fid["distinct_bigram_share"]:.2f} |
| vocabulary (distinct lower-cased words) | {fid["vocabulary"]} |
| words per record (10th percentile, median, 90th) | {", ".join(map(str, fid["words_p10_median_p90"]))} |
| records with language-model scaffolding (lead-ins, template slots) | {fid["records_with_lm_scaffolding"]} |
| records starting with `=`, `+`, `-`, `@`, tab or carriage return | {fid.get("records_starting_like_a_formula", 0)} |

Real corpora of short texts typically repeat a few percent of their records and have a
distinct-bigram share of 0.7-0.8: compare with your own data (the card cannot show it).
"""
    )
    n_formula = 0 if fid is None else fid.get("records_starting_like_a_formula", 0)
    formula_note = (
        "" if fid is None else f" ({n_formula} of the records here start so)" if n_formula else " (none here does)"
    )
    rows = "\n".join(f"| {_md(label)} | {n} |" for label, n in sorted(counts.items()))
    mode = privacy["mode"]
    how = {
        "none": "SMOTExT: interpolation between two real same-class records in embedding space, decoded to text.",
        "noise": "SMOTExT with embedding-space Gaussian noise added to each interpolated vector before decoding.",
        "dp": (
            "SMOTExT inside Private Evolution: a population decoded from public sentences is refined over "
            "rounds by noisy votes of the private records (each record votes once per round; Gaussian "
            "noise on the vote histogram); new candidates are interpolations between surviving synthetic "
            "candidates. Outside these noisy steps the generator never reads a private record's text or "
            "vector."
        ),
    }[mode]
    if mode == "dp" and privacy.get("class_judge") == "trained":
        how += (
            " A class judge, a logistic regression trained by DP-SGD on the private records' embeddings (an "
            "event in ledger.json covered by the guarantee below), chose among decoded candidates those it "
            "reads as their class; that is its only use and it is not part of the release."
        )
    if mode == "dp":
        how += (
            " The release gate decided on noisy statistics of the private records (how many the synthetic "
            "set reproduces, a membership-inference AUC, the holdout's size: the ledger's gate event)."
        )
    if mode == "dp" and privacy.get("class_prompts"):
        how += (
            " Part of the first population was written by the public language model from these public "
            "descriptions of the classes: "
            + "; ".join(f'{_md(k)}: "{_md(v)}"' for k, v in sorted(privacy["class_prompts"].items()))
            + "."
        )
    models_note = (
        "The sentence encoder and the decoder (language model and bridge weights) are public models,\n"
        "trained only on public text; their versions and hashes are in manifest.json."
    )
    model_lines = "\n".join(f"- {k}: {_model_line(v)}" for k, v in models.items()) or "- (not recorded)"
    rel = policy.get("release", {})
    return (
        front_matter(card_facts)
        + f"""
# Data card: synthetic text release

Created {created} with privsynth {version}. {"Signed (Ed25519): see manifest.json.sig." if signed else "Unsigned: check integrity with `privsynth verify` against manifest.json."}

## What this is
`synthetic.csv`: {len(synthetic_labels)} synthetic labelled text records (columns `text`, `label`).
No row is a real record; the records imitate the style and topics of a private source corpus
that is not included and cannot be reconstructed from this release{" beyond what the guarantee allows" if mode == "dp" else ""}.

| label | records |
|---|---|
{rows}

{fidelity_section}
## How it was made
Privacy mode `{mode}`. {how}
{models_note}

{model_lines}

The seed {seed} fixes the non-private random choices (pairing, interpolation weights, decoding);
{"the privacy noise comes from the operating system's secure random source and is not reproducible from the seed." if mode == "dp" else "anyone with the seed and the source data could reproduce this release."}

## Privacy guarantee
{guarantee_text(privacy)}

What the guarantee covers: {COVERS if mode == "dp" else NOT_DP}

The release gate's policy: per-run epsilon cap {rel.get("max_epsilon_per_run", "?")}, lifetime cap per dataset
{rel.get("max_epsilon_lifetime", "?")}, formal guarantee required: {rel.get("require_formal_guarantee", "?")}.
The audit thresholds are listed in manifest.json (`policy`).

## Intended uses
- Training and evaluating text classifiers (train on synthetic, test on real data you hold).
- Augmenting small or minority classes; prototyping pipelines; sharing examples of the data's shape.

## Unsuitable uses
- Any decision about a real person, and any analysis that treats a row as a real event or case.
- Statistics that need the source's exact frequencies, rare cases or facts: synthetic text blurs them,
  and {"the DP noise suppresses what few records share" if mode == "dp" else "values may be distorted or hallucinated by the decoder"}.
- Re-identification or linkage attempts (prohibited).
{"- Publishing without further review: there is no formal guarantee; treat the data as derived from personal data." if mode != "dp" else ""}

## Opening synthetic.csv
The texts are kept exactly as generated. A spreadsheet program may run a cell that starts with `=`, `+`,
`-` or `@` as a formula{formula_note}: read the file with a data tool (pandas, `datasets`, `csv`) or import
the columns as text, never by double-clicking it.

## Integrity
`manifest.json` lists the SHA-256 of every file; `privsynth verify DIR [--public-key PUB.pem]`
rechecks them{", the signature" if signed else ""}{" and the ledger's epsilon" if mode == "dp" else ""}.
"""
    )


def _md(text: str) -> str:
    """A label or prompt as inert Markdown: no table break, no line break, no HTML a viewer would render."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")).replace(
        "\n", " "
    )


def _model_line(v: Any) -> str:
    if isinstance(v, dict):
        parts = [str(v.get("name", ""))] + [f"{k} {str(x)[:16]}" for k, x in v.items() if k != "name"]
        return ", ".join(p for p in parts if p)
    return str(v)
