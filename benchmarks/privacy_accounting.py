"""Accounting benchmark: the noise a dp release plans, and its epsilon by three accountants.

For a grid of budgets and round counts, the plan of `privsynth release --epsilon E --rounds R`
(two declared classes, the shipped policy: class counts, the DP class judge, the rounds and the
release gate) is made as a release makes it; its events are then re-accounted by opacus PRV,
dp-accounting PLD and opacus RDP (its default orders, i.e. what an opacus user gets), called
directly. The plan reads no data, so no record count enters. Also times the planner and one PRV
evaluation. Writes benchmarks/results/privacy_accounting.json and .md.

Usage: python benchmarks/privacy_accounting.py [--eps 1,4,8] [--rounds 1,5,10]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from privsynth.generate import private_evolution  # noqa: E402
from privsynth.io import write_json_atomic  # noqa: E402
from privsynth.policy import load_policy  # noqa: E402


def _libraries(events, delta):
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant
    from opacus.accountants import PRVAccountant, RDPAccountant

    pld = pld_privacy_accountant.PLDAccountant(dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
    for s, q, t in events:
        ev = dp_accounting.GaussianDpEvent(s)
        pld.compose(ev if q == 1 else dp_accounting.PoissonSampledDpEvent(q, ev), t)
    prv, rdp = PRVAccountant(), RDPAccountant()
    prv.history = rdp.history = list(events)
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        e_prv = prv.get_epsilon(delta, eps_error=1e-3)
        t_prv = time.perf_counter() - t0
        e_rdp = rdp.get_epsilon(delta)
    return {
        "pld": pld.get_epsilon(delta),
        "prv": float(e_prv),
        "rdp_opacus_default": float(e_rdp),
        "prv_seconds": round(t_prv, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", default="1,4,8")
    ap.add_argument("--rounds", default="1,5,10")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "privacy_accounting.json"))
    a = ap.parse_args()
    rows = []
    for eps in [float(x) for x in a.eps.split(",")]:
        for rounds in [int(x) for x in a.rounds.split(",")]:
            t0 = time.perf_counter()
            pe = private_evolution(
                epsilon=eps, rounds=rounds, labels=["a", "b"], gate_share=load_policy(None).dp_gate.share
            )
            plan = pe.plan(n_classes=2)
            t_plan = time.perf_counter() - t0
            ledger = plan.ledger().to_dict()
            events = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in ledger["events"]]
            lib = _libraries(events, plan.delta)
            row = {
                "epsilon_budget": eps,
                "rounds": rounds,
                "delta": plan.delta,
                "noise_multiplier": round(plan.noise_multiplier, 4),
                "count_noise_multiplier": round(plan.count_noise_multiplier, 4),
                "gate_noise_multiplier": round(plan.gate_noise_multiplier, 4),
                "ledger_accountant": ledger["accountant"],
                "ledger_epsilon": ledger["epsilon"],
                **lib,
                "ledger_over_pld": ledger["epsilon"] / lib["pld"],
                "rdp_over_pld": lib["rdp_opacus_default"] / lib["pld"],
                "plan_seconds": round(t_plan, 2),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "command": "python benchmarks/privacy_accounting.py " + " ".join(sys.argv[1:]),
        "settings": "two declared classes, class judge share 0.25, counts 5% of rho, gate "
        f"{load_policy(None).dp_gate.share:g} of rho, threshold 2 sigma",
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    write_json_atomic(a.out, result)
    md = [
        "| eps budget | rounds | sigma (votes) | sigma (counts) | sigma (gate) | ledger eps | PLD | PRV (opacus, 1e-3) "
        "| RDP (opacus) | plan s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['epsilon_budget']:g} | {r['rounds']} | {r['noise_multiplier']:.2f} | "
            f"{r['count_noise_multiplier']:.2f} | {r['gate_noise_multiplier']:.2f} | {r['ledger_epsilon']:.3f} "
            f"({r['ledger_accountant']}) | {r['pld']:.3f} | {r['prv']:.3f} | {r['rdp_opacus_default']:.3f} | "
            f"{r['plan_seconds']:.1f} |"
        )
    Path(a.out).with_suffix(".md").write_text(
        f"The plan of a dp release ({result['settings']}), delta {rows[0]['delta']:g}.\n\n" + "\n".join(md) + "\n"
    )


if __name__ == "__main__":
    main()
