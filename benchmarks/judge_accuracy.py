"""How good a class judge DP-SGD can train, by member count and budget (mode dp's --judge-share).

The DP class judge (privsynth.privacy.judge) is a logistic regression on the members' MiniLM
vectors trained by DP-SGD with fixed settings; Private Evolution trusts it to tell which class
a decoded text reads as. A judge trained on too few members is mostly noise and would steer
decoding wrong, so this measures its macro-F1 on the fixed real test split (which no judge
sees) for stratified subsets of the training split and for several budgets, against the same
logistic regression fitted without noise (sklearn), 3 runs each (the DP noise differs per run).

Usage: python benchmarks/judge_accuracy.py [--datasets sms,rt] [--members 440,1000,4460]
       [--epsilons 0.25,0.5,1,2]
Writes benchmarks/results/judge_accuracy.{json,md}.
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

from splits import load_split, subsample  # noqa: E402

RESULTS = HERE / "results"


def macro_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="sms,rt")
    ap.add_argument("--members", default="440,1000,4460", help="training records (stratified subsets; 0: all)")
    ap.add_argument("--epsilons", default="0.25,0.5,1,2", help="epsilon the judge spends alone")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "judge_accuracy.json")
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression

    from privsynth.encoder import Encoder
    from privsynth.privacy.judge import JudgeConfig, fit_dp_judge, judge_event
    from privsynth.privacy.ledger import PrivacyLedger
    from privsynth.privacy.planner import DEFAULT_DELTA

    enc = Encoder()
    rows = []
    for dataset in [d for d in args.datasets.split(",") if d]:
        train, test = load_split(dataset)
        labels = sorted({r.label for r in train})
        Xt = enc.encode([r.text for r in test])
        yt = np.array([labels.index(r.label) for r in test])
        X_all = dict(zip([r.text for r in train], enc.encode([r.text for r in train])))
        for m in [int(x) for x in args.members.split(",")]:
            sub = train if m == 0 or m >= len(train) else subsample(train, m, seed=0)
            X = np.stack([X_all[r.text] for r in sub])
            y = np.array([labels.index(r.label) for r in sub])
            plain = macro_f1(yt, LogisticRegression(max_iter=1000).fit(X, y).predict(Xt))
            delta = DEFAULT_DELTA
            for eps in [float(e) for e in args.epsilons.split(",")]:
                cfg = JudgeConfig(share=0.5)  # the event spends share * (2 eps) = eps alone
                t0 = time.perf_counter()
                event = judge_event(epsilon=2 * eps, delta=delta, cfg=cfg)
                f1s = [
                    macro_f1(
                        yt,
                        fit_dp_judge(
                            X,
                            y,
                            len(labels),
                            event=event,
                            ledger=PrivacyLedger(delta=delta),
                            cfg=cfg,
                            n_units_noisy=len(sub),
                        ).predict(Xt),
                    )
                    for _ in range(args.runs)
                ]
                row = {
                    "dataset": dataset,
                    "members": len(sub),
                    "epsilon_alone": eps,
                    "delta": delta,
                    "noise_multiplier": event.noise_multiplier,
                    "steps": event.steps,
                    "sample_rate": event.sample_rate,
                    "macro_f1": f1s,
                    "macro_f1_mean": float(np.mean(f1s)),
                    "nonprivate_macro_f1": plain,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")
    lines = [
        "# DP class judge: macro-F1 on the real test split",
        "",
        "DP-SGD logistic regression on MiniLM vectors (privsynth.privacy.judge, fixed settings: 20 epochs, "
        "sample rate 1/16, lr 0.5, momentum 0.9, C 1), 3 runs each; `benchmarks/judge_accuracy.py`.",
        "",
        "| data | members | epsilon (judge alone) | sigma | macro-F1 (runs) | without noise |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['members']} | {r['epsilon_alone']:g} | {r['noise_multiplier']:.2f} | "
            f"{r['macro_f1_mean']:.3f} ({', '.join(f'{v:.3f}' for v in r['macro_f1'])}) | "
            f"{r['nonprivate_macro_f1']:.3f} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
