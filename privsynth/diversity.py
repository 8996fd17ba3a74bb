"""How much a synthetic set repeats itself: exact and near repeats, distinct bigrams, vocabulary.

A set that says the same sentence again and again is poor data even when each sentence is
good: a classifier trained on it sees fewer examples than its size suggests, and a reader
sees the generator's habits. ``repeats`` marks each text that repeats an earlier one (the
release redecodes those, see ``PrivateEvolution.tidy_rounds``); ``diversity`` summarises a set
the way the fidelity benchmark reports it. Synthetic text only: post-processing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

#: character 5-gram Jaccard above which two texts are near repeats of each other
NEAR_JACCARD = 0.7
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def normalize(text: str) -> str:
    """Lower case, words only, single spaces: what "the same text" means for exact repeats."""
    return " ".join(_WORD.findall(str(text).lower()))


def _char_grams(texts: Sequence[str], n: int = 5):
    from sklearn.feature_extraction.text import HashingVectorizer

    hv = HashingVectorizer(
        analyzer="char", ngram_range=(n, n), n_features=2**22, binary=True, norm=None, alternate_sign=False
    )
    return hv.transform([" ".join(str(t).lower().split()) for t in texts]).tocsr()


def repeats(texts: Sequence[str], *, jaccard: float = NEAR_JACCARD, block: int = 2048) -> np.ndarray:
    """Per text, whether it repeats an EARLIER text of the list: equal after ``normalize``, or
    character 5-gram Jaccard above ``jaccard``. The first of a group is not a repeat, so
    ``repeats(t).sum()`` is how many texts must change for the set to hold no repeats."""
    texts = [str(t) for t in texts]
    n = len(texts)
    out = np.zeros(n, dtype=bool)
    seen: set[str] = set()
    for i, t in enumerate(texts):
        key = normalize(t)
        if key in seen:
            out[i] = True
        seen.add(key)
    if n < 2 or jaccard >= 1.0:
        return out
    X = _char_grams(texts)
    size = np.asarray(X.sum(axis=1)).ravel()
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        inter = (X[lo:hi] @ X[:hi].T).tocoo()  # only pairs with an earlier text matter
        i, j, v = inter.row + lo, inter.col, inter.data
        earlier = j < i
        i, j, v = i[earlier], j[earlier], v[earlier]
        union = size[i] + size[j] - v
        near = (union > 0) & (v / np.maximum(union, 1) > jaccard)
        out[np.unique(i[near])] = True
    return out


def diversity(texts: Sequence[str]) -> dict[str, float]:
    """Exact and near repeat shares, the distinct share of word bigrams, and the vocabulary
    (distinct lower-cased words) of a set of texts."""
    texts = [str(t) for t in texts]
    n = max(len(texts), 1)
    keys = [normalize(t) for t in texts]
    exact = len(texts) - len(set(keys))
    bigrams: list[tuple[str, str]] = []
    vocab: set[str] = set()
    for k in keys:
        w = k.split()
        vocab.update(w)
        bigrams += list(zip(w, w[1:]))
    return {
        "records": len(texts),
        "exact_repeat_share": exact / n,
        "near_repeat_share": float(repeats(texts).sum()) / n,
        "distinct_bigram_share": len(set(bigrams)) / max(len(bigrams), 1),
        "vocabulary": len(vocab),
    }
