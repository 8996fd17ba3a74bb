"""What mode `noise` buys: a sweep of --noise-scale against leakage and utility on SMS.

Mode noise has NO formal guarantee; this measures, empirically, what each scale costs and buys.
For each scale s (noise norm in units of the members' median nearest-neighbour distance; s = 0 is mode none),
generate from the same members with the same seed and record:
- leakage: the auditor's membership-inference AUC and TPR at 1% FPR (members vs the real test
  split, which no generator saw), and the share of synthetic records closer to a member than to
  any holdout record (DCR share; 0.5 means no preference);
- utility: macro-F1 and spam F1 of TF-IDF + logistic regression trained on the synthetic text
  only and scored on the real test split, and class keeping (a classifier trained on real
  labels labels the synthetic records with their assigned class).

Usage: python benchmarks/noise_sweep.py [--scales 0,0.5,1,2] [--members 1000] [--n 200]
Writes benchmarks/results/noise_sweep.{json,md} (the JSON after every scale).
       python benchmarks/noise_sweep.py --merge a.json,b.json --out all.json
merges runs made separately (same members, n, candidates and seed) into one JSON, table and
plot (all.png: leakage against utility, one point per scale).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import utility  # noqa: E402
from splits import load_split, subsample  # noqa: E402

RESULTS = HERE / "results"
# What a scale means (privsynth.privacy.noise). Results made before the change carry
# "per-coordinate" (or nothing): their s times sqrt(384) = 19.6 is the same noise in norm units.
SCALE_UNIT = "norm"


def tfidf_scores(train_t, train_y, test_t, test_y) -> dict[str, float]:
    """The utility benchmark's TF-IDF + LR, trained on one set and scored on the real test split."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    pred = utility._fit_predict(vec.fit_transform(train_t), train_y, vec.transform(test_t), utility.Config.classifier_C)
    return utility.metrics(test_y, pred, "sms")


def minilm_scores(encoder, train_t, train_y, test_t, test_y, test_vectors, train_vectors=None) -> dict[str, float]:
    """The utility benchmark's other classifier: LR on MiniLM sentence vectors."""
    Xtr = encoder.encode(train_t) if train_vectors is None else train_vectors
    pred = utility._fit_predict(Xtr, train_y, test_vectors, utility.Config.classifier_C)
    return utility.metrics(test_y, pred, "sms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="0,0.5,1,2")
    ap.add_argument("--members", type=int, default=1000, help="SMS training records the generator sees")
    ap.add_argument("--n", type=int, default=200, help="synthetic records per scale")
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "noise_sweep.json"))
    ap.add_argument("--merge", default=None, help="comma list of result JSONs to merge into --out (no generation)")
    args = ap.parse_args(argv)
    if args.merge:
        return merge([Path(p) for p in args.merge.split(",")], Path(args.out))

    from audits.checks import distance, mia
    from audits.data import AuditData
    from audits.policy import load_policy
    from privsynth.bridge import Bridge
    from privsynth.encoder import Encoder
    from privsynth.privacy.noise import noise_transform
    from privsynth.smotext import SMOTExT

    train, test = load_split("sms")
    members = subsample(train, args.members, seed=args.seed)
    texts, labels = [r.text for r in members], [r.label for r in members]
    test_t, test_y = [r.text for r in test], [r.label for r in test]
    encoder, bridge = Encoder(), Bridge.load()
    X = encoder.encode(texts)
    policy = load_policy()
    test_vectors = encoder.encode(test_t)
    out = {
        "config": {**vars(args), "scale_unit": SCALE_UNIT},
        "real_members_tfidf": tfidf_scores(texts, labels, test_t, test_y),
        "real_members_minilm": minilm_scores(encoder, texts, labels, test_t, test_y, test_vectors, X),
        "runs": [],
    }
    for s in (float(x) for x in args.scales.split(",")):
        gen = SMOTExT(n_candidates=args.candidates, encoder=encoder, bridge=bridge, random_state=args.seed)
        gen.fit(texts, labels, vectors=X)
        t0 = time.time()
        syn_t, syn_y = gen.generate(n=args.n, transform=noise_transform(gen.X_, scale=s, seed=args.seed))
        wall = time.time() - t0
        data = AuditData.build(texts, test_t, syn_t, seed=args.seed)
        checks = {c.name: c for c in mia.membership_inference(data, policy=policy)[0]}
        dcr = distance.dcr_share(data, policy=policy)
        row = {
            "noise_scale": s,
            "n_synthetic": len(syn_t),
            "generate_s": round(wall, 1),
            "mia_auc": checks["mia_auc"].value,
            "mia_auc_ci": [checks["mia_auc"].ci_low, checks["mia_auc"].ci_high],
            "mia_tpr_at_1pct_fpr": checks["mia_tpr_at_1pct_fpr"].value,
            "dcr_share": dcr.value,
            "synthetic_only_tfidf": tfidf_scores(syn_t, syn_y, test_t, test_y),
            "synthetic_only_minilm": minilm_scores(encoder, syn_t, syn_y, test_t, test_y, test_vectors),
            "class_keeping": utility.class_keeping(texts, labels, syn_t, syn_y, utility.Config())["macro"],
            "examples": syn_t[:3],
            "synthetic": {"texts": syn_t, "labels": syn_y},
        }
        print(json.dumps({k: v for k, v in row.items() if k not in ("examples", "synthetic")}), flush=True)
        out["runs"].append(row)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    write_report(out, Path(args.out))
    return 0


def merge(paths: list[Path], out_path: Path) -> int:
    """One result from several runs of the same setting (refuses runs that differ in it)."""
    parts = [json.loads(p.read_text()) for p in paths]
    same = ("members", "n", "candidates", "seed")
    for d in parts:
        d["config"].setdefault("scale_unit", "per-coordinate")
    for p, d in zip(paths[1:], parts[1:]):
        if any(d["config"][k] != parts[0]["config"][k] for k in same):
            raise SystemExit(f"{p}: config differs from {paths[0]} in {same}")
    unit = parts[0]["config"]["scale_unit"]
    # scale 0 (no noise) means the same in every unit; other scales only merge within one unit
    runs = {
        r["noise_scale"]: r
        for d in parts
        for r in d["runs"]
        if d["config"]["scale_unit"] == unit or r["noise_scale"] == 0
    }
    out = {
        "config": {
            **{k: parts[0]["config"][k] for k in same},
            "scale_unit": unit,
            "merged_from": [p.name for p in paths],
        },
        "real_members_tfidf": parts[0]["real_members_tfidf"],
        "runs": [runs[k] for k in sorted(runs)],
    }
    out_path.write_text(json.dumps(out, indent=2) + "\n")
    write_report(out, out_path)
    return 0


def write_report(out: dict, out_path: Path) -> None:
    """The .md table and a .png of leakage against utility beside ``out_path``."""
    args = argparse.Namespace(**{k: out["config"][k] for k in ("members", "n", "candidates", "seed")})
    unit = out["config"].get("scale_unit", "per-coordinate")
    lines = [
        "# Mode noise: what each scale buys (SMS, NO formal guarantee at any scale)",
        "",
        f"{args.members} members, {args.n} synthetic records, {args.candidates} candidates, seed {args.seed}. "
        "Leakage: auditor MIA (members vs the real test split) and DCR share. Utility: TF-IDF + LR trained "
        f"on the synthetic text only, scored on the real test split (trained on the {args.members} members "
        f"instead: macro-F1 {out['real_members_tfidf']['macro_f1']:.3f}, spam F1 "
        f"{out['real_members_tfidf']['spam_f1']:.3f}). Noise scale: "
        + (
            "noise norm in units of the members' median nearest-neighbour distance d_nn."
            if unit == "norm"
            else "per-coordinate noise std in units of d_nn (the first definition: x 19.6 in norm units)."
        ),
        "",
        "| noise scale | MIA AUC [95% CI] | TPR@1%FPR | DCR share | TF-IDF macro-F1 | TF-IDF spam F1 | "
        "MiniLM-LR macro-F1 | class kept | s/record |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["runs"]:
        lo, hi = r["mia_auc_ci"]
        lines.append(
            f"| {r['noise_scale']:g} | {r['mia_auc']:.3f} [{lo:.3f}, {hi:.3f}] | {r['mia_tpr_at_1pct_fpr']:.3f} | "
            f"{r['dcr_share']:.3f} | {r['synthetic_only_tfidf']['macro_f1']:.3f} | "
            f"{r['synthetic_only_tfidf']['spam_f1']:.3f} | "
            f"{r['synthetic_only_minilm']['macro_f1'] if 'synthetic_only_minilm' in r else float('nan'):.3f} | "
            f"{r['class_keeping']:.2f} | "
            f"{r['generate_s'] / r['n_synthetic']:.2f} |"
        )
    out_path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the table is the result; the plot is a convenience
        return
    runs = out["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, (key, name) in zip(axes, (("mia_auc", "MIA AUC"), ("mia_tpr_at_1pct_fpr", "MIA TPR at 1% FPR"))):
        clf = "synthetic_only_minilm" if all("synthetic_only_minilm" in r for r in runs) else "synthetic_only_tfidf"
        x = [r[clf]["macro_f1"] for r in runs]
        y = [r[key] for r in runs]
        ax.plot(x, y, "o-")
        for r, xi, yi in zip(runs, x, y):
            ax.annotate(f"s={r['noise_scale']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(f"utility: {'MiniLM-LR' if 'minilm' in clf else 'TF-IDF'} macro-F1, synthetic-only")
        ax.set_ylabel(name + " (leakage)")
        ax.axhline(0.5 if key == "mia_auc" else 0.01, color="grey", lw=0.8, ls="--")
    fig.suptitle("mode noise on SMS: leakage against utility per noise scale (no formal guarantee)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
