"""What leaves the machine in a dp release, and what covers each field.

Every field of the release folder's files (``manifest.json``, ``ledger.json`` and the facts of
``DATA_CARD.md``) is listed here with its basis:

- ``declared``: a setting the user gave, or its documented default (public by declaration);
- ``public``: depends on no private record (time, versions, public models, file formats);
- ``ledger``: an output of a Gaussian mechanism of ``ledger.json``, or computed from such
  outputs and declared settings only (post-processing);
- ``accountant``: computed by an accountant from the ledger's events, which follow from the
  declared settings alone;
- ``synthetic``: computed from ``synthetic.csv``, itself a ledger output.

A test walks every key of a real dp release and fails on one missing here; SECURITY.md shows
the table (:func:`markdown_table`). Paths use ``/`` between keys, ``[]`` for list items, ``*``
for one key of any name and ``**`` for anything below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PUBLIC_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "manifest.json": {
        "schema_version": ("public", "the manifest's format version"),
        "tool": ("public", "the tool's name"),
        "created": ("public", "when the release was written"),
        "decision": ("ledger", "the gate's decision: post-processing of the gate event's noisy statistics"),
        "files/*": ("public", "SHA-256 of each released file (each covered itself)"),
        "command/[]": ("declared", "the command line, the input and key paths redacted"),
        "config/**": ("declared", "the run's settings (paths redacted)"),
        "seed/value": ("declared", "the seed of the non-private choices (never the DP noise)"),
        "seed/covers": ("public", "what the seed drives"),
        "privacy/mode": ("declared", "--epsilon, or --privacy"),
        "privacy/unit": ("declared", "record, or person with --user-col"),
        "privacy/epsilon": ("accountant", "the ledger's total epsilon"),
        "privacy/delta": ("declared", "--delta or its public default"),
        "privacy/accountant": ("accountant", "the accountant whose epsilon is the larger (PRV or PLD)"),
        "privacy/epsilon_by_accountant/*": ("accountant", "the ledger's epsilon by opacus PRV and dp-accounting PLD"),
        "privacy/epsilon_requested": ("declared", "--epsilon"),
        "privacy/ledger": ("public", "the ledger's file name"),
        "privacy/labels/[]": ("declared", "--labels, or the labels of --class-prompt"),
        "privacy/class_prompts/*": ("declared", "--class-prompt"),
        "privacy/class_judge": (
            "ledger",
            "off (declared), or whether the DP member count reached the judge's "
            "minimum: post-processing of the counts event",
        ),
        "privacy/guarantee": ("accountant", "the guarantee in words, from the fields above"),
        "counts/synthetic": ("ledger", "--n (declared), or the DP member count: post-processing of the counts event"),
        "counts/canaries": ("declared", "--canaries"),
        "versions/*": ("public", "package versions"),
        "models/**": ("public", "names and hashes of the public models"),
        "policy/**": ("declared", "the policy in force (--policy over the shipped defaults)"),
        "gate/decision": ("ledger", "the gate's decision: post-processing of the gate event"),
        "gate/reasons/[]": ("ledger", "which rule failed: post-processing of the gate event"),
        "gate/checks/[]/name": ("public", "the rule's name"),
        "gate/checks/[]/passed": ("ledger", "the rule's verdict: post-processing of the gate event"),
        "gate/checks/[]/detail": ("ledger", "the rule in words with the noisy values and the public noise level"),
        "gate/checks/[]/value": ("ledger", "a noisy statistic of the gate event"),
        "gate/checks/[]/ci_low": ("ledger", "the noisy value minus z x the public noise sd"),
        "gate/checks/[]/ci_high": ("ledger", "the noisy value plus z x the public noise sd"),
        "gate/checks/[]/threshold/*": ("declared", "the policy's rule ([dp_gate])"),
        "signature/**": ("public", "whether and with which public key the manifest is signed"),
    },
    "ledger.json": {
        "epsilon": ("accountant", "total epsilon of the events at delta"),
        "delta": ("declared", "--delta or its public default"),
        "accountant": ("accountant", "the accountant that computed epsilon (the larger of PRV and PLD)"),
        "adjacency": ("public", "add/remove one record (or person)"),
        "events/[]/mechanism": ("public", "gaussian"),
        "events/[]/purpose": ("public", "what the event released, and its reserved share when it did not run"),
        "events/[]/noise_multiplier": ("declared", "planned from the declared settings before any data is read"),
        "events/[]/sample_rate": ("declared", "planned from the declared settings (public Poisson rate)"),
        "events/[]/steps": ("declared", "planned from the declared settings"),
    },
    "DATA_CARD.md": {
        "data_card_version": ("public", "the card's format version"),
        "records": ("ledger", "rows of synthetic.csv: --n, or the DP member count"),
        "records_per_label/*": ("synthetic", "rows per label, counted in synthetic.csv"),
        "fidelity/**": ("synthetic", "repeats, bigram diversity, vocabulary, lengths and scaffolding of synthetic.csv"),
        "privacy_mode": ("declared", "--epsilon, or --privacy"),
        "unit": ("declared", "record, or person with --user-col"),
        "epsilon": ("accountant", "the ledger's total epsilon"),
        "delta": ("declared", "--delta or its public default"),
        "accountant": ("accountant", "the accountant that computed epsilon"),
        "seed": ("declared", "--seed"),
        "created": ("public", "when the release was written"),
        "privsynth_version": ("public", "the tool's version"),
        "signed": ("declared", "whether --sign-key was given"),
    },
}

BASES = ("declared", "public", "ledger", "accountant", "synthetic")


def walk(obj: Any, prefix: str = "") -> Iterator[str]:
    """Every leaf path of a JSON value (``a/b``, ``a/[]/c``); an empty dict or list is a leaf."""
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from walk(v, f"{prefix}/{k}" if prefix else str(k))
    elif isinstance(obj, list) and obj:
        for v in obj:
            yield from walk(v, f"{prefix}/[]")
    else:
        yield prefix


def basis(file: str, path: str) -> tuple[str, str] | None:
    """(basis, why) of ``path`` in ``file``, or None when nothing here covers it."""
    for pattern, why in PUBLIC_FIELDS.get(file, {}).items():
        if pattern.endswith("/**"):
            head = pattern[:-3]
            if path == head or path.startswith(head + "/"):
                return why
        elif _match(pattern, path) or _match(pattern, path + "/[]") or _match(pattern, path + "/*"):
            return why
    return None


def _match(pattern: str, path: str) -> bool:
    """Segment by segment: ``*`` stands for one key of any name (not a list item)."""
    p, q = pattern.split("/"), path.split("/")
    return len(p) == len(q) and all(a == b or (a == "*" and b != "[]") for a, b in zip(p, q))


def uncovered(file: str, obj: Any) -> list[str]:
    """Paths of ``obj`` (a file's parsed content) that no entry covers."""
    return [path for path in walk(obj) if basis(file, path) is None]


def markdown_table() -> str:
    """The table SECURITY.md shows: every field of a dp release and its basis."""
    rows = ["| file | field | basis | why |", "|---|---|---|---|"]
    for file, fields in PUBLIC_FIELDS.items():
        for pattern, (b, why) in fields.items():
            rows.append(f"| `{file}` | `{pattern}` | {b} | {why} |")
    return "\n".join(rows) + "\n"
