"""What mode `noise` buys: a sweep of --noise-scale against leakage and utility on SMS.

Mode noise has NO formal guarantee; this measures, empirically, what each scale costs and buys.
For each scale s (units of the members' median nearest-neighbour distance; s = 0 is mode none),
generate from the same members with the same seed and record:
- leakage: the auditor's membership-inference AUC and TPR at 1% FPR (members vs the real test
  split, which no generator saw), and the share of synthetic records closer to a member than to
  any holdout record (DCR share; 0.5 means no preference);
- utility: macro-F1 and spam F1 of TF-IDF + logistic regression trained on the synthetic text
  only and scored on the real test split, and class keeping (a classifier trained on real
  labels labels the synthetic records with their assigned class).

Usage: python benchmarks/noise_sweep.py [--scales 0,0.5,1,2] [--members 1000] [--n 200]
Writes benchmarks/results/noise_sweep.{json,md} (the JSON after every scale).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import utility  # noqa: E402
from splits import load_split, subsample  # noqa: E402

RESULTS = HERE / "results"


def tfidf_scores(train_t, train_y, test_t, test_y) -> dict[str, float]:
    """The utility benchmark's TF-IDF + LR, trained on one set and scored on the real test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    pred = utility._fit_predict(vec.fit_transform(train_t), train_y, vec.transform(test_t), utility.Config.classifier_C)
    return utility.metrics(test_y, pred, "sms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="0,0.5,1,2")
    ap.add_argument("--members", type=int, default=1000, help="SMS training records the generator sees")
    ap.add_argument("--n", type=int, default=200, help="synthetic records per scale")
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "noise_sweep.json"))
    args = ap.parse_args(argv)

    from audits.checks import distance, mia
    from audits.data import AuditData
    from audits.policy import load_policy
    from privsynth.bridge import Bridge
    from privsynth.encoder import Encoder
    from privsynth.privacy.noise import noise_mode
    from privsynth.smotext import SMOTExT

    train, test = load_split("sms")
    members = subsample(train, args.members, seed=args.seed)
    texts, labels = [r.text for r in members], [r.label for r in members]
    test_t, test_y = [r.text for r in test], [r.label for r in test]
    encoder, bridge = Encoder(), Bridge.load()
    X = encoder.encode(texts)
    policy = load_policy()
    out = {"config": vars(args), "real_members_tfidf": tfidf_scores(texts, labels, test_t, test_y), "runs": []}
    for s in (float(x) for x in args.scales.split(",")):
        gen = SMOTExT(n_candidates=args.candidates, encoder=encoder, bridge=bridge, random_state=args.seed)
        gen.fit(texts, labels, vectors=X)
        t0 = time.time()
        V, Y, pairs = gen.sample_vectors(args.n)
        V = noise_mode(V, gen.X_, scale=s, rng=np.random.default_rng([args.seed, 1]))
        syn_t, syn_y = gen.decode(V, pairs), [str(y) for y in Y]
        wall = time.time() - t0
        data = AuditData.build(texts, test_t, syn_t, seed=args.seed)
        checks = {c.name: c for c in mia.membership_inference(data, policy=policy)[0]}
        dcr = distance.dcr_share(data, policy=policy)
        row = {"noise_scale": s, "n_synthetic": len(syn_t), "generate_s": round(wall, 1),
               "mia_auc": checks["mia_auc"].value, "mia_auc_ci": [checks["mia_auc"].ci_low, checks["mia_auc"].ci_high],
               "mia_tpr_at_1pct_fpr": checks["mia_tpr_at_1pct_fpr"].value, "dcr_share": dcr.value,
               "synthetic_only_tfidf": tfidf_scores(syn_t, syn_y, test_t, test_y),
               "class_keeping": utility.class_keeping(texts, labels, syn_t, syn_y, utility.Config())["macro"],
               "examples": syn_t[:3]}
        print(json.dumps({k: v for k, v in row.items() if k != "examples"}), flush=True)
        out["runs"].append(row)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Mode noise: what each scale buys (SMS, NO formal guarantee at any scale)", "",
             f"{args.members} members, {args.n} synthetic records, {args.candidates} candidates, seed {args.seed}. "
             "Leakage: auditor MIA (members vs the real test split) and DCR share. Utility: TF-IDF + LR trained "
             f"on the synthetic text only, scored on the real test split (trained on the {args.members} members "
             f"instead: macro-F1 {out['real_members_tfidf']['macro_f1']:.3f}, spam F1 "
             f"{out['real_members_tfidf']['spam_f1']:.3f}).", "",
             "| noise scale | MIA AUC [95% CI] | TPR@1%FPR | DCR share | macro-F1 | spam F1 | class kept | s/record |",
             "|---|---|---|---|---|---|---|---|"]
    for r in out["runs"]:
        lo, hi = r["mia_auc_ci"]
        lines.append(f"| {r['noise_scale']:g} | {r['mia_auc']:.3f} [{lo:.3f}, {hi:.3f}] | {r['mia_tpr_at_1pct_fpr']:.3f} | "
                     f"{r['dcr_share']:.3f} | {r['synthetic_only_tfidf']['macro_f1']:.3f} | "
                     f"{r['synthetic_only_tfidf']['spam_f1']:.3f} | {r['class_keeping']:.2f} | "
                     f"{r['generate_s'] / r['n_synthetic']:.2f} |")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
