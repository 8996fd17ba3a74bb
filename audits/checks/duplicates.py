"""Exact duplicates, near duplicates (character n-gram Jaccard) and longest shared word n-grams.

The holdout is the control throughout: a synthetic text that matches a holdout record as well
as a member is ordinary language, not a copy of the member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from audits.io import as_records
from audits.policy import Policy, load_policy
from audits.result import CheckResult
from audits.text import normalize, words

WORST = 5


def exact_duplicates(
    members: Sequence[Any], holdout: Sequence[Any], synthetic: Sequence[Any], *, policy: Policy | None = None
) -> CheckResult:
    """Distinct synthetic texts equal to a member after normalisation, and to no holdout record."""
    policy = policy or load_policy()
    m, h, s = (as_records(x, role=r) for x, r in ((members, "member"), (holdout, "holdout"), (synthetic, "synthetic")))
    member_ids: dict[str, str] = {}
    for r in m:
        member_ids.setdefault(normalize(r.text), r.id)
    holdout_norm = {normalize(r.text) for r in h}
    copied: dict[str, list[str]] = {}
    explained = 0
    for r in s:
        key = normalize(r.text)
        if key in member_ids:
            if key in holdout_norm:
                explained += 1
            else:
                copied.setdefault(key, []).append(r.id)
    worst = sorted(copied.items(), key=lambda kv: -len(kv[1]))[:WORST]
    return policy.judge(
        "exact_duplicates",
        len(copied),
        evidence={
            "synthetic_records_copying_a_member": sum(len(v) for v in copied.values()),
            "distinct_member_texts_copied": len(copied),
            "synthetic_records_matching_member_and_holdout": explained,
            "worst": [{"synthetic_ids": ids[:3], "member_id": member_ids[k], "copies": len(ids)} for k, ids in worst],
        },
    )


def near_duplicates(
    members: Sequence[Any],
    holdout: Sequence[Any],
    synthetic: Sequence[Any],
    *,
    jaccard: float = 0.8,
    ngram: int = 5,
    policy: Policy | None = None,
) -> CheckResult:
    """Share of synthetic records with char n-gram Jaccard >= ``jaccard`` to a member but to no holdout record.

    Jaccard is exact (sparse shingle matrices multiplied in chunks), not a MinHash estimate.
    """
    policy = policy or load_policy()
    m, h, s = (as_records(x, role=r) for x, r in ((members, "member"), (holdout, "holdout"), (synthetic, "synthetic")))
    vec = CountVectorizer(analyzer="char", ngram_range=(ngram, ngram), binary=True, lowercase=False, dtype=np.float32)
    vec.fit([normalize(r.text) for r in (*m, *h, *s)])
    sm, sh, ss = (vec.transform([normalize(r.text) for r in x]).tocsr() for x in (m, h, s))
    jm, im = max_jaccard(ss, sm)
    jh, _ = max_jaccard(ss, sh)
    flagged = (jm >= jaccard) & (jh < jaccard)
    order = np.argsort(-jm * flagged, kind="stable")[: min(WORST, int(flagged.sum()))]
    return policy.judge(
        "near_duplicates",
        float(flagged.mean()),
        evidence={
            "jaccard_threshold": jaccard,
            "char_ngram": ngram,
            "flagged_records": int(flagged.sum()),
            "similar_to_a_member": int((jm >= jaccard).sum()),
            "also_similar_to_holdout": int(((jm >= jaccard) & (jh >= jaccard)).sum()),
            "worst": [
                {"synthetic_id": s[i].id, "member_id": m[im[i]].id, "jaccard": round(float(jm[i]), 4)} for i in order
            ],
        },
    )


def max_jaccard(query: Any, ref: Any, *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each row of binary sparse ``query``, the highest Jaccard to a ``ref`` row and its index."""
    qn = np.asarray(query.sum(axis=1)).ravel()
    rn = np.asarray(ref.sum(axis=1)).ravel()
    best = np.zeros(query.shape[0], dtype=np.float32)
    arg = np.zeros(query.shape[0], dtype=np.int64)
    ref_t = ref.T.tocsc()
    for start in range(0, query.shape[0], chunk):
        sl = slice(start, start + chunk)
        inter = (query[sl] @ ref_t).toarray()
        union = qn[sl, None] + rn[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            j = np.where(union > 0, inter / union, 0.0)
        arg[sl] = j.argmax(axis=1)
        best[sl] = j[np.arange(j.shape[0]), arg[sl]]
    return best, arg


def longest_shared_ngram(
    members: Sequence[Any],
    holdout: Sequence[Any],
    synthetic: Sequence[Any],
    *,
    margin_words: int = 4,
    policy: Policy | None = None,
) -> CheckResult:
    """Share of synthetic texts sharing a longer word run with a member than any shares with the holdout.

    The longest word n-gram each synthetic text shares with any member is set against the
    same figure for the never-seen holdout: the longest run any synthetic text shares with a
    holdout record is what ordinary language (and recurring templates) explains. Runs longer
    than that ceiling by more than ``margin_words`` point to copied passages (the margin keeps
    the maximum of one sample from flagging the maximum of an exchangeable other).
    """
    policy = policy or load_policy()
    m, h, s = (as_records(x, role=r) for x, r in ((members, "member"), (holdout, "holdout"), (synthetic, "synthetic")))
    sw = [words(r.text) for r in s]
    lm = longest_shared_runs(sw, [words(r.text) for r in m])
    lh = longest_shared_runs(sw, [words(r.text) for r in h])
    ceiling = int(lh.max(initial=0))
    over = lm > ceiling + margin_words
    order = np.argsort(-lm * over, kind="stable")[: min(WORST, int(over.sum()))]
    return policy.judge(
        "longest_shared_ngram",
        float(over.mean()),
        evidence={
            "longest_shared_with_members_words": int(lm.max(initial=0)),
            "longest_shared_with_holdout_words": ceiling,
            "margin_words": margin_words,
            "p99_shared_with_members_words": float(np.percentile(lm, 99)),
            "p99_shared_with_holdout_words": float(np.percentile(lh, 99)),
            "records_over_holdout_ceiling": int(over.sum()),
            "worst": [
                {"synthetic_id": s[i].id, "member_run_words": int(lm[i]), "holdout_run_words": int(lh[i])}
                for i in order
            ],
        },
    )


def longest_shared_runs(queries: list[list[str]], refs: list[list[str]]) -> np.ndarray:
    """Per query token list, the length of the longest contiguous run it shares with any ref.

    Level-wise search with pruning on both sides: a position can start a shared (n+1)-gram only
    if it and its right neighbour start shared n-grams. n-grams are keyed by chained hashes.
    """
    out = np.zeros(len(queries), dtype=np.int64)
    qh = [[hash(w) for w in q] for q in queries]
    rh = [[hash(w) for w in r] for r in refs]
    # alive: {(text, pos): hash of the n-gram starting there}
    q_alive = {(t, i): x for t, seq in enumerate(qh) for i, x in enumerate(seq)}
    r_alive = {(t, i): x for t, seq in enumerate(rh) for i, x in enumerate(seq)}
    n = 1
    while q_alive and r_alive:
        shared = set(q_alive.values()) & set(r_alive.values())
        q_alive = {k: v for k, v in q_alive.items() if v in shared}
        r_alive = {k: v for k, v in r_alive.items() if v in shared}
        for t, _i in q_alive:
            out[t] = n
        q_alive = _extend(q_alive, qh, n)
        r_alive = _extend(r_alive, rh, n)
        n += 1
    return out


def _extend(alive: dict[tuple[int, int], int], seqs: list[list[int]], n: int) -> dict[tuple[int, int], int]:
    nxt = {}
    for (t, i), x in alive.items():
        if i + n < len(seqs[t]) and (t, i + 1) in alive:
            nxt[(t, i)] = hash((x, seqs[t][i + n]))
    return nxt
