"""Write the policy tables of docs/policy.md from the shipped defaults.

The defaults (and the accepted ranges of [dp_gate]) come from the code, through
``privsynth.policy.load_policy()``: the same merged policy that ``privsynth policy show`` prints.
The meanings are written here, one per key; a key the code has and this file does not describe
(or the reverse) is an error, so a new key cannot reach the page undocumented.

    python docs/gen_policy.py           # print the tables
    python docs/gen_policy.py --write   # replace them in docs/policy.md
    python docs/gen_policy.py --check   # exit 1 when docs/policy.md is out of date (make docs runs this)

mkdocs never runs this file; the page holds its committed output between the two markers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "policy.md"
START = "<!-- policy tables: written by docs/gen_policy.py, do not edit by hand -->"
END = "<!-- end of policy tables -->"

RELEASE = {
    "max_epsilon_per_run": (
        "Largest epsilon one dp run may spend: a larger `--epsilon` is refused before anything runs."
    ),
    "max_epsilon_lifetime": (
        "Largest total epsilon all dp runs on the same dataset may spend together (basic composition: "
        "epsilons and deltas add up). Tracked per dataset in `$PRIVSYNTH_HOME` under a keyed hash of the "
        "data; a run that would go past it is refused before it spends anything."
    ),
    "max_delta": "Largest delta one dp run may use (`--delta`, whose default is 1e-6).",
    "require_formal_guarantee": (
        "`true`: only dp releases (`--epsilon`) may pass; `--privacy none` or `noise` is refused before "
        "anything runs. `false`: modes without a formal guarantee may pass on the empirical audit alone."
    ),
}
RELEASE_ACCEPTS = {
    "max_epsilon_per_run": "a positive number, at most `max_epsilon_lifetime`",
    "max_epsilon_lifetime": "a positive number",
    "max_delta": "a positive number below 1",
    "require_formal_guarantee": "`true` or `false`",
}

DP_GATE = {
    "share": "Share of the dp budget, in zCDP rho, spent on the gate's statistics.",
    "confidence": (
        "Each rule reads the one-sided confidence bound of its noisy figure at this level (the noise's "
        "standard deviation is public): the gate blocks only when it is this sure the true figure is "
        "past the bound."
    ),
    "members_reproduced_max": (
        "Members (records, or people with `--user-col`) the synthetic set may reproduce: the release is "
        "blocked when the lower confidence bound of the noisy count is above this."
    ),
    "jaccard": (
        "A member counts as reproduced nearly when a synthetic record's character 5-gram Jaccard "
        "similarity to it is at least this."
    ),
    "similarity": (
        "A member counts as reproduced as a close paraphrase when a synthetic record's MiniLM cosine "
        "similarity to it is at least this."
    ),
    "min_words": (
        "Copies, near copies and paraphrases count only for members of at least this many words (a short "
        "generic message written again is no evidence of copying); a member's direct identifier (email, "
        "phone, card, IBAN, SSN, IP) in the synthetic set counts at any length."
    ),
    "auc_max": (
        "Membership-inference AUC of the embedding attack (members against holdout, by distance to the "
        "nearest synthetic record): the release is blocked when its lower confidence bound is above this."
    ),
    "auc_floor": (
        "Below this many members or holdout records the AUC is shrunk towards 0.5, so that one record "
        "moves it by at most 1 / `auc_floor` whatever the sizes."
    ),
    "min_holdout": (
        "Holdout records (people) the AUC compares against: the release is blocked when the lower "
        "confidence bound of the noisy holdout size is below this."
    ),
}

AUDIT = {
    "exact_duplicates": (
        "Distinct synthetic texts equal to a member after normalisation (case, spaces, punctuation) "
        "and to no holdout record."
    ),
    "near_duplicates": (
        "Share of synthetic records whose character 5-gram Jaccard similarity to some member is at "
        "least 0.8 while no holdout record is that similar."
    ),
    "longest_shared_ngram": (
        "Share of synthetic records whose longest word n-gram shared with a member is more than 4 words "
        "longer than the longest any synthetic record shares with the holdout."
    ),
    "dcr_share": (
        "Share of synthetic records closer (embedding distance) to a member than to any holdout record, "
        "members subsampled to the holdout's size: 0.5 is ideal. Its 95% interval comes from shuffling "
        "the member and holdout labels; the check fails when the whole interval lies above the bound."
    ),
    "dcr_share_level": (
        "The same share held to a ceiling: its whole 95% interval must lie at or below the bound, so a "
        "release that stays near a few real records fails."
    ),
    "nndr_share": (
        "Share of synthetic records whose nearest to second-nearest distance ratio is lower against "
        "members than against the holdout: 0.5 is ideal. Interval and rule as for `dcr_share`."
    ),
    "mia_auc": (
        "ROC AUC of the strongest membership-inference attack; the upper end of its 95% bootstrap interval is compared."
    ),
    "mia_tpr_at_1pct_fpr": "True-positive rate of the strongest attack at 1% false positives (chance: 0.01).",
    "mia_tpr_at_0_1pct_fpr": (
        "The same at 0.1% false positives (chance: 0.001). It needs at least 1,000 holdout records, so "
        "it is reported but not gated unless a policy sets `enabled = true`."
    ),
    "empirical_epsilon": (
        "Empirical epsilon lower bound from the attacks (95% Clopper-Pearson, delta 1e-5, threshold "
        "chosen on one half of the records and the bound computed on the other)."
    ),
    "pii_leaks": (
        "Direct identifiers (email, phone, credit card, IBAN, SSN, IP address) found in a member, "
        "repeated in the synthetic text and absent from every holdout record."
    ),
    "pii_leaks_quasi": (
        "Quasi-identifiers (person, location, URL) leaked the same way, as a share of synthetic records; "
        "a value that is one common English word is not counted."
    ),
    "canary_exposure": (
        "Highest exposure in bits of any planted canary secret among 9,999 random alternatives (at most "
        "log2(10000) = 13.3). Runs only when canaries are planted."
    ),
}


def _value(v: object) -> str:
    """A default as `privsynth policy show` writes it."""
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    return f"`{v!r}`" if isinstance(v, (int, float)) else f'`"{v}"`'


def _range(lo: float, hi: float | None, closed: bool, whole: bool) -> str:
    """The values privsynth.policy accepts, from its (low, high, closed) table."""
    if hi is None:
        span = f"{'>=' if closed else '>'} {lo:g}"
    else:
        span = f"{'[' if closed else '('}{lo:g}, {hi:g}{']' if closed else ')'}"
    return f"a whole number {span}" if whole else span


def _same_keys(table: str, code: set[str], described: set[str]) -> None:
    missing, stale = sorted(code - described), sorted(described - code)
    if missing or stale:
        sys.exit(
            f"docs/gen_policy.py: [{table}] keys differ from the code: "
            f"undescribed {missing or 'none'}, no longer in the code {stale or 'none'}; update the meanings here"
        )


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def tables() -> str:
    sys.path.insert(0, str(ROOT))
    from audits.policy import REQUIRED
    from privsynth.policy import DPGateRules, load_policy

    policy = load_policy()
    release = asdict(policy.release)
    gate = asdict(policy.dp_gate) if policy.dp_gate is not None else {}
    _same_keys("release", set(release), set(RELEASE))
    _same_keys("release", set(release), set(RELEASE_ACCEPTS))
    _same_keys("dp_gate", set(gate), set(DP_GATE))
    _same_keys("audit", set(policy.audit), set(AUDIT))

    out = ["### `[release]`", "", _row("key", "default", "accepts", "meaning"), "|---|---|---|---|"]
    out += [_row(f"`{k}`", _value(v), RELEASE_ACCEPTS[k], RELEASE[k]) for k, v in release.items()]

    out += ["", "### `[dp_gate]`", "", _row("key", "default", "accepts", "meaning"), "|---|---|---|---|"]
    ranges = DPGateRules._RANGES
    whole = {name for name, kind in DPGateRules.__annotations__.items() if kind in (int, "int")}
    for k, v in gate.items():
        lo, hi, closed = ranges[k]
        out.append(_row(f"`{k}`", _value(v), _range(lo, hi, closed, k in whole), DP_GATE[k]))

    out += [
        "",
        "### `[audit]`",
        "",
        _row("check", "`op`", "`bound`", "`on`", "`enabled`", "meaning"),
        "|---|---|---|---|---|---|",
    ]
    for name, t in policy.audit.items():
        enabled = "`false`" if t.get("enabled") is False else "`true`"
        if name in REQUIRED:
            enabled += " (required)"
        out.append(_row(f"`{name}`", f'`"{t["op"]}"`', _value(t["bound"]), f'`"{t["on"]}"`', enabled, AUDIT[name]))
    return "\n".join(out) + "\n"


def _page_with(block: str) -> tuple[str, str]:
    page = PAGE.read_text(encoding="utf-8")
    try:
        head, rest = page.split(START + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        sys.exit(f"docs/gen_policy.py: docs/policy.md lacks the markers {START!r} and {END!r}")
    return page, head + START + "\n" + block + END + tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the tables in docs/policy.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when docs/policy.md is out of date")
    args = ap.parse_args()
    block = tables()
    if not (args.write or args.check):
        sys.stdout.write(block)
        return
    page, new = _page_with(block)
    if args.write:
        PAGE.write_text(new, encoding="utf-8")
    elif page != new:
        sys.exit(
            "docs/policy.md: the policy tables differ from the shipped defaults; run: python docs/gen_policy.py --write"
        )


if __name__ == "__main__":
    main()
