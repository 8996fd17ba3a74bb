"""Fidelity: is the synthetic set worth using? Figures beside the privacy checks; none is a gate.

- within-set repeats (exact, after normalisation; near, character 5-gram Jaccard > 0.7),
  distinct word-bigram share and vocabulary, for the synthetic set and, as the yardstick, for
  a seeded sample of the members of the same size (these figures grow with a set's size);
- lengths in words against the members' (percentiles and the Kolmogorov-Smirnov statistic);
- class shares against the members' (total variation distance), where records carry labels;
- train on synthetic, test on holdout: macro-F1 of a TF-IDF logistic regression and of a
  logistic regression on the audit's sentence embeddings, each beside the same model trained on
  that many members, with a seeded bootstrap interval over the holdout.

Every figure reads the members or the holdout (except the synthetic set's own figures), so they
belong in the internal report with the other audit statistics.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from audits.data import AuditData
from audits.text import normalize

NEAR_JACCARD = 0.7
N_BOOTSTRAP = 200
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def set_figures(texts: Sequence[str]) -> dict[str, Any]:
    """Repeats, diversity and lengths of one set of texts (no other set read)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [str(t) for t in texts]
    n = len(texts)
    keys = [normalize(t) for t in texts]
    exact = n - len(set(keys))
    near = 0
    if n > 1:
        grams = CountVectorizer(analyzer="char", ngram_range=(5, 5), binary=True, lowercase=False, dtype=np.float32)
        try:
            X = grams.fit_transform(keys).tocsr()
        except ValueError:  # no text of five characters
            X = None
        if X is not None:
            size = np.asarray(X.sum(axis=1)).ravel()
            flagged = np.zeros(n, dtype=bool)
            for lo in range(0, n, 1024):
                inter = (X[lo : lo + 1024] @ X.T).toarray()
                union = size[lo : lo + 1024, None] + size[None, :] - inter
                with np.errstate(divide="ignore", invalid="ignore"):
                    j = np.where(union > 0, inter / union, 0.0)
                rows = np.arange(lo, min(n, lo + 1024))
                earlier = np.arange(n)[None, :] < rows[:, None]  # a repeat of an earlier text only
                flagged[rows] = ((j > NEAR_JACCARD) & earlier).any(axis=1)
            near = int(flagged.sum())
    words = [_WORD.findall(t.lower()) for t in texts]
    bigrams = [(a, b) for w in words for a, b in zip(w, w[1:])]
    lengths = np.array([len(w) for w in words]) if words else np.zeros(1)
    return {
        "records": n,
        "exact_repeat_share": round(exact / n, 4) if n else 0.0,
        "near_repeat_share": round(near / n, 4) if n else 0.0,
        "distinct_bigram_share": round(len(set(bigrams)) / len(bigrams), 4) if bigrams else 0.0,
        "vocabulary": len({w for ws in words for w in ws}),
        "words_p10_median_p90": [int(np.percentile(lengths, q)) for q in (10, 50, 90)],
    }


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    if not len(x) or not len(y):
        return 0.0
    grid = np.concatenate([x, y])
    gap = np.searchsorted(x, grid, "right") / len(x) - np.searchsorted(y, grid, "right") / len(y)
    return float(np.max(np.abs(gap)))


def _macro_f1_ci(y_true: np.ndarray, y_pred: np.ndarray, *, seed: int) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    value = float(f1_score(y_true, y_pred, average="macro"))
    rng = np.random.default_rng([seed, 20_011])
    boots = [
        f1_score(y_true[i], y_pred[i], average="macro")
        for i in (rng.integers(0, len(y_true), len(y_true)) for _ in range(N_BOOTSTRAP))
    ]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"value": round(value, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}


def _train_test(kind: str, train: Any, y_train: np.ndarray, test: Any, y_test: np.ndarray, seed: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if kind == "tfidf_lr":
        model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
            LogisticRegression(max_iter=2000, random_state=seed),
        )
    else:
        model = LogisticRegression(max_iter=2000, random_state=seed)
    return model.fit(train, y_train).predict(test)


def train_on_synthetic(data: AuditData, *, seed: int) -> dict[str, Any] | None:
    """Macro-F1 on the holdout of models trained on the synthetic set and on as many members.

    None where the synthetic set, the members or the holdout lack labels, or where the synthetic
    set holds a single class (nothing to learn)."""
    syn, mem, hold = data.synthetic, data.members, data.holdout
    if any(r.label is None for r in (*syn, *mem, *hold)):
        return None
    y_syn = np.array([str(r.label) for r in syn])
    y_hold = np.array([str(r.label) for r in hold])
    if len(set(y_syn)) < 2:
        return None
    rng = np.random.default_rng([seed, 20_023])
    ref = np.sort(rng.choice(len(mem), size=min(len(mem), len(syn)), replace=False))
    y_ref = np.array([str(mem[i].label) for i in ref])
    if len(set(y_ref)) < 2:
        return None
    e_mem, e_hold, e_syn = data.embeddings()
    inputs = {
        "tfidf_lr": (
            [r.text for r in syn],
            [mem[i].text for i in ref],
            [r.text for r in hold],
        ),
        "embedding_lr": (e_syn, e_mem[ref], e_hold),
    }
    out: dict[str, Any] = {
        "test_set": f"holdout ({len(hold)} records)",
        "reference": f"the same model trained on {len(ref)} members (a seeded sample the synthetic set's size)",
        "encoder": data.encoder_name,
    }
    for kind, (x_syn, x_ref, x_hold) in inputs.items():
        on_syn = _macro_f1_ci(y_hold, _train_test(kind, x_syn, y_syn, x_hold, y_hold, seed), seed=seed)
        on_ref = _macro_f1_ci(y_hold, _train_test(kind, x_ref, y_ref, x_hold, y_hold, seed), seed=seed)
        out[kind] = {
            "synthetic_macro_f1": on_syn,
            "members_macro_f1": on_ref,
            "share_of_members": round(on_syn["value"] / on_ref["value"], 4) if on_ref["value"] > 0 else None,
        }
    return out


def class_shares(records: Sequence[Any]) -> dict[str, float]:
    counts = Counter(str(r.label) for r in records)
    total = sum(counts.values()) or 1
    return {k: round(v / total, 4) for k, v in sorted(counts.items())}


def fidelity(data: AuditData, *, seed: int = 0) -> dict[str, Any]:
    """All of the figures above, as one plain dict (see the module docstring)."""
    syn = [r.text for r in data.synthetic]
    rng = np.random.default_rng([seed, 20_029])
    sample = rng.choice(len(data.members), size=min(len(data.members), len(syn)), replace=False)
    members_sample = [data.members[i].text for i in np.sort(sample)]
    out: dict[str, Any] = {
        "synthetic": set_figures(syn),
        "members_same_size": set_figures(members_sample),
        "length_words": {
            "ks_statistic_vs_members": round(
                ks_statistic([len(_WORD.findall(t)) for t in syn], [len(_WORD.findall(r.text)) for r in data.members]),
                4,
            ),
        },
    }
    if all(r.label is not None for r in (*data.synthetic, *data.members)):
        s, m = class_shares(data.synthetic), class_shares(data.members)
        out["class_shares"] = {
            "synthetic": s,
            "members": m,
            "total_variation": round(0.5 * sum(abs(s.get(k, 0.0) - m.get(k, 0.0)) for k in set(s) | set(m)), 4),
        }
    tstr = train_on_synthetic(data, seed=seed)
    if tstr is not None:
        out["train_on_synthetic"] = tstr
    return out
