"""The split stage: members (used for generation) and holdout (the audit's control only).

Each record (or, with ``--user-col``, each person) is assigned by a keyed hash of its own
normalised text (or person id) alone, so adding or removing a record never moves another
record across the split: what the dp mode's sensitivity bounds need.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, NamedTuple

from privsynth.errors import UserError

#: below this (modes none and noise) the holdout cannot serve as the audit's control
MIN_HOLDOUT = 20


class Split(NamedTuple):
    members: Any  # privsynth.io.Corpus
    holdout: Any


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def split_holdout(texts: list[str], *, fraction: float, seed: int, key: bytes) -> tuple[list[int], list[int]]:
    """Members and holdout by a keyed hash of each normalised text: identical texts share a side.

    The key is the user's HMAC key and the seed, so the split can be reproduced by the data
    holder but not predicted from the seed alone.
    """
    members: list[int] = []
    holdout: list[int] = []
    salt = hashlib.sha256(b"privsynth split\0" + str(int(seed)).encode()).digest()
    for i, t in enumerate(texts):
        h = hmac.new(key, salt + _normalize(t).encode("utf-8"), hashlib.sha256).digest()
        (holdout if int.from_bytes(h[:8], "big") / 2**64 < fraction else members).append(i)
    return members, holdout


def split_corpus(corpus: Any, *, fraction: float, seed: int, key: bytes, by_person: bool) -> Split:
    """The corpus split by record text, or by person (a person's records all on one side)."""
    m_idx, h_idx = split_holdout(corpus.groups if by_person else corpus.texts, fraction=fraction, seed=seed, key=key)
    return Split(corpus.subset(m_idx), corpus.subset(h_idx))


def check_split(
    split: Split | tuple[Any, Any], *, source: Any, fraction: float, class_prompts: dict[str, str] | None
) -> None:
    """Modes none and noise: refuse a holdout too small to audit against, or a class left with
    fewer than 2 members. (Mode dp makes no exact check on the data: its DP counts decide.)"""
    members, holdout = split
    if len(holdout) < MIN_HOLDOUT:
        raise UserError(
            f"{source}: the holdout has {len(holdout)} records; the audit needs at least {MIN_HOLDOUT}: "
            f"add records or raise --holdout-fraction (now {fraction:g})"
        )
    all_labels = set(members.labels) | set(holdout.labels)
    unknown = sorted(set(class_prompts or {}) - {str(x) for x in all_labels})
    if unknown:
        raise UserError(
            f"--class-prompt names label(s) {unknown} that {source} does not have; "
            f"its labels are {sorted(str(x) for x in all_labels)}"
        )
    small = [lab for lab, c in members.class_counts().items() if c < 2]
    missing = sorted(all_labels - set(members.labels))
    if small or missing:
        lab = missing[0] if missing else small[0]
        raise UserError(
            f"{source}: class {lab!r} has fewer than 2 records left for generation after the "
            f"holdout split; add records or lower --holdout-fraction"
        )
