"""Per-record figures of members and holdout against one fixed synthetic set.

Every figure here is a function of ONE record and the synthetic set, never of another member
or holdout record: adding or removing a record changes its own figure and nothing else. That
is what lets a release sum them under a differential-privacy bound (one record moves a count
of flags by at most 1) where the audit's shares cannot be (a holdout record can flip many
synthetic records' "closer to a member than to any holdout record").

- ``reproduced``: the synthetic set holds the record exactly (after normalisation), nearly
  (character 5-gram Jaccard >= ``jaccard``) or as a close paraphrase (embedding cosine >=
  ``similarity``) -- counted for records of at least ``min_words`` words: "ok lor" or "see you
  soon" written again is not evidence of copying -- or holds a direct identifier (email, phone,
  card, IBAN, SSN, IP) found in the record, whatever its length;
- ``score``: the membership score of the embedding attack, minus the cosine distance to the
  nearest synthetic record (higher = more member-like).

Measured on the benchmark's dp releases (1,000 records, epsilon 4) against real records no
generator saw: no record of SMS (1,007) or RT (2,549) reached cosine 0.85 or Jaccard 0.5 to a
synthetic record, so a clean release flags about none and a planted copy or paraphrase is
flagged once per record copied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from audits.checks.duplicates import max_jaccard
from audits.data import AuditData
from audits.text import normalize

JACCARD = 0.8
SIMILARITY = 0.85
MIN_WORDS = 4
REASONS = ("exact", "near", "paraphrase", "identifier")


@dataclass
class RecordFigures:
    """Per-record figures (numpy arrays aligned with the sets' records) and, for the internal
    report only, how many members were flagged for each reason."""

    member_reproduced: np.ndarray
    member_score: np.ndarray
    holdout_reproduced: np.ndarray
    holdout_score: np.ndarray
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)


def _flags(
    texts: list[str],
    synthetic: list[str],
    vectors: np.ndarray,
    syn_vectors: np.ndarray,
    *,
    jaccard: float,
    similarity: float,
    min_words: int,
    identifiers: list[set[tuple[str, str]]],
) -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0), Counter()
    syn_norm = {normalize(t) for t in synthetic}
    exact = np.array([normalize(t) in syn_norm for t in texts], dtype=bool)
    vec = CountVectorizer(analyzer="char", ngram_range=(5, 5), binary=True, lowercase=False, dtype=np.float32)
    vec.fit([normalize(t) for t in (*texts, *synthetic)] + ["     "])  # never an empty vocabulary
    jq, _ = max_jaccard(
        vec.transform([normalize(t) for t in texts]).tocsr(), vec.transform([normalize(t) for t in synthetic]).tocsr()
    )
    near = jq >= jaccard
    sims = np.full(n, -1.0)
    for start in range(0, n, 2048):
        sims[start : start + 2048] = (vectors[start : start + 2048] @ syn_vectors.T).max(axis=1)
    para = sims >= similarity
    long = np.array([len(normalize(t).split()) >= min_words for t in texts], dtype=bool)
    exact, near, para = exact & long, near & long, para & long
    from audits.checks.pii import value_pattern

    corpus = "\n".join(synthetic)
    ident = np.array(
        [any(value_pattern(kind, v).search(corpus) for kind, v in values) for values in identifiers], dtype=bool
    )
    reasons = Counter(
        {
            "exact": int(exact.sum()),
            "near": int((near & ~exact).sum()),
            "paraphrase": int((para & ~near & ~exact).sum()),
            "identifier": int((ident & ~para & ~near & ~exact).sum()),
        }
    )
    return exact | near | para | ident, sims, reasons


def direct_identifiers(texts: list[str]) -> list[set[tuple[str, str]]]:
    """(type, value) of the direct identifiers presidio finds in each text (values stay in
    memory, never reported). Each text is analysed on its own."""
    from audits.checks.pii import DIRECT, find_member_entities

    out: list[set[tuple[str, str]]] = [set() for _ in texts]
    for (kind, value), rows in find_member_entities(list(texts)).items():
        if kind in DIRECT:
            for i in rows:
                out[i].add((kind, value))
    return out


def record_figures(
    data: AuditData,
    *,
    jaccard: float = JACCARD,
    similarity: float = SIMILARITY,
    min_words: int = MIN_WORDS,
    identifiers: bool = True,
) -> RecordFigures:
    """Per-record figures of ``data``'s members and holdout against its synthetic set.

    ``identifiers`` False skips presidio (the identifier reason then never fires); the holdout's
    flags never use it."""
    em, eh, es = data.embeddings()
    syn = [r.text for r in data.synthetic]
    out = {}
    reasons = {}
    for role, recs, vecs in (("member", data.members, em), ("holdout", data.holdout, eh)):
        texts = [r.text for r in recs]
        # presidio only where a flag is counted: the holdout's flags (a comparison for the report)
        # leave the identifier reason out
        ids = direct_identifiers(texts) if identifiers and role == "member" else [set() for _ in texts]
        flags, sims, why = _flags(
            texts,
            syn,
            np.asarray(vecs, dtype=np.float32),
            np.asarray(es, dtype=np.float32),
            jaccard=jaccard,
            similarity=similarity,
            min_words=min_words,
            identifiers=ids,
        )
        out[role] = (flags, np.clip(sims, -1.0, 1.0) - 1.0)  # minus the cosine distance
        reasons[role] = {k: int(why.get(k, 0)) for k in REASONS}
    return RecordFigures(
        out["member"][0],
        out["member"][1],
        out["holdout"][0],
        out["holdout"][1],
        reasons,
        {"jaccard": jaccard, "similarity": similarity, "min_words": min_words},
    )
