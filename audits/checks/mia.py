"""Membership inference: can an attacker holding the synthetic set tell members from holdout?

Every distinct member and holdout text is scored by each attack (higher = "member"):
- ``embedding_nn``: minus the embedding distance of the record to its nearest synthetic record;
- ``ngram_lm``: mean per-token log-likelihood under a word 3-gram model fitted on the synthetic
  text (the synthetic-only attack of Meeus et al. 2025, "The Canary's Echo").
For each figure the strongest attack decides; evidence lists every attack.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from audits.data import AuditData
from audits.io import Record
from audits.neighbors import knn
from audits.policy import Policy, load_policy
from audits.result import CheckResult
from audits.stats import auc_with_ci, empirical_epsilon, min_holdout_for_fpr, roc, tpr_at_fpr
from audits.text import NGramLM, lm_tokens, normalize

DELTA = 1e-5
FPRS = {"mia_tpr_at_1pct_fpr": 0.01, "mia_tpr_at_0_1pct_fpr": 0.001}


def _distinct(records: list[Record]) -> list[int]:
    """Indices of the first record of each distinct normalised text."""
    seen: set[str] = set()
    keep = []
    for i, r in enumerate(records):
        key = normalize(r.text)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return keep


def attack_scores(data: AuditData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{attack: (member scores, holdout scores)} over distinct member and holdout texts."""
    mi, hi = _distinct(data.members), _distinct(data.holdout)
    em, eh, es = data.embeddings()
    dm = data.cache.get("member_to_synthetic")
    dh = data.cache.get("holdout_to_synthetic")
    if dm is None or dh is None:  # run alone: the distance check has not computed them
        dm, dh = knn(em, es, 1)[:, 0], knn(eh, es, 1)[:, 0]
    scores = {"embedding_nn": (-dm[mi], -dh[hi])}
    lm = NGramLM(order=3).fit(lm_tokens(r.text) for r in data.synthetic)
    scores["ngram_lm"] = (
        np.array([lm.mean_logprob(lm_tokens(data.members[i].text)) for i in mi]),
        np.array([lm.mean_logprob(lm_tokens(data.holdout[i].text)) for i in hi]),
    )
    return scores


def membership_inference(
    data: AuditData,
    *,
    policy: Policy | None = None,
    delta: float = DELTA,
    scores: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """mia_auc, TPR at 1% and 0.1% FPR and empirical_epsilon, plus the ROC of the strongest attack."""
    policy = policy or load_policy()
    scores = scores or attack_scores(data)
    per: dict[str, dict[str, Any]] = {}
    for k, (name, (pos, neg)) in enumerate(sorted(scores.items())):
        auc, lo, hi = auc_with_ci(pos, neg, seed=data.seed + 10 + k)
        eps = empirical_epsilon(pos, neg, seed=data.seed + 20 + k, delta=delta)
        per[name] = {"auc": auc, "ci": (lo, hi), "eps": eps, **{m: tpr_at_fpr(pos, neg, f) for m, f in FPRS.items()}}
    n_members, n_holdout = len(next(iter(scores.values()))[0]), len(next(iter(scores.values()))[1])
    attacks_evidence = {
        n: {
            "auc": round(p["auc"], 4),
            "auc_ci": [round(x, 4) for x in p["ci"]],
            **{m: p[m] for m in FPRS},
            "empirical_epsilon": round(p["eps"].epsilon, 4),
        }
        for n, p in per.items()
    }
    common = {
        "scored_members": n_members,
        "scored_holdout": n_holdout,
        "note": "distinct texts (after normalisation) of each set are scored once",
    }

    best = max(per, key=lambda n: per[n]["auc"])
    results = [
        policy.judge(
            "mia_auc",
            per[best]["auc"],
            *cast("tuple[float, float]", per[best]["ci"]),
            evidence={"strongest_attack": best, "attacks": attacks_evidence, **common},
        )
    ]
    for metric, fpr in FPRS.items():
        vals = {n: p[metric] for n, p in per.items() if p[metric] is not None}
        ev: dict[str, Any] = {"fpr": fpr, "chance_level": fpr, **common}
        if vals:
            top = max(vals, key=lambda n: vals[n])
            ev["strongest_attack"] = top
            value = vals[top]
        else:
            need = min_holdout_for_fpr(fpr)
            ev["why_null"] = (
                f"the holdout has {n_holdout} distinct records; at least {need} are needed "
                f"to observe a {fpr:.1%} false-positive rate"
            )
            value = None
        results.append(policy.judge(metric, value, evidence=ev))
    top = max(per, key=lambda n: per[n]["eps"].epsilon)
    e = per[top]["eps"]
    results.append(
        policy.judge(
            "empirical_epsilon",
            e.epsilon,
            evidence={
                "strongest_attack": top,
                "delta": delta,
                "confidence": 0.95,
                "direction": e.direction,
                "evaluation_half": {
                    "true_positives": e.true_positives,
                    "members": e.n_members,
                    "false_positives": e.false_positives,
                    "holdout": e.n_holdout,
                    "tpr_low": round(e.tpr_low, 6),
                    "fpr_high": round(e.fpr_high, 6),
                },
                "note": "threshold chosen on one half of the records, bound computed on the other half",
            },
        )
    )
    roc_fpr, roc_tpr = roc(*scores[best])
    keep = np.unique(np.linspace(0, len(roc_fpr) - 1, min(len(roc_fpr), 400)).astype(int))
    figures = {
        "roc": {"attack": best, "auc": per[best]["auc"], "fpr": roc_fpr[keep].tolist(), "tpr": roc_tpr[keep].tolist()}
    }
    return results, figures
