"""How often does the dp release gate block a release that leaked nothing, and what does it catch?

Every run goes through the functions a dp release runs: the auditor's per-record figures
(``audits.records.record_figures``, as ``privsynth release`` computes them) and the gate
(``privsynth.gate.decide_dp``), which draws its noise from the CSPRNG and records the gate
event in a fresh ledger of the release's own plan (``privsynth release --epsilon 4`` with the
demo's settings and the shipped policy). Writes benchmarks/results/gate_calibration.json.

- clean: a committed dp synthetic set (``utility_full_synthetic``: 1,000 records, epsilon 4)
  against members and holdout BOTH drawn from the benchmark's test split, which no generator
  saw: every block is a false block.
- leak: the same, with k of the synthetic records replaced by copies of k distinct members,
  verbatim or lightly edited (a word dropped, two words swapped, case and punctuation changed:
  what a generator that memorised a record writes).

Each row gives blocked/runs with a 95% Clopper-Pearson interval.

Usage: python benchmarks/gate_calibration.py [--runs 100] [--only 'sms 20 members edited'] [--out PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
from scipy.stats import beta

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import splits  # noqa: E402

from audits.checks import mia  # noqa: E402
from audits.data import AuditData  # noqa: E402
from audits.encoder import encode_unique, load_encoder  # noqa: E402
from audits.io import Record, write_atomic  # noqa: E402
from audits.records import record_figures  # noqa: E402
from privsynth.gate import decide_dp, noise_sd  # noqa: E402
from privsynth.generate import private_evolution  # noqa: E402
from privsynth.policy import load_policy  # noqa: E402
from privsynth.privacy.ledger import PrivacyLedger  # noqa: E402

SYNTHETIC = "utility_full_synthetic/{ds}-synth-dp-eps4-seed*.json"
#: (dataset, members, holdout, synthetic): the demo's sizes (RT: SMS's test split is too small
#: for them), the small-corpus sizes, and 1,000 synthetic records
CONFIGS = [
    ("rt", 1416, 476, 150),
    ("sms", 440, 150, 150),
    ("rt", 440, 150, 150),
    ("rt", 1416, 476, 1000),
    ("sms", 700, 300, 1000),
]
LEAK_CONFIGS = [("rt", 1416, 476, 150), ("sms", 440, 150, 150)]
LEAK_K = (1, 2, 5, 20)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def edit(text: str, rng: np.random.Generator) -> str:
    """A light edit of a record: one word dropped (if it has 4 or more), two neighbours swapped,
    the case changed and the final punctuation dropped."""
    words = text.split()
    if len(words) >= 4:
        del words[int(rng.integers(1, len(words)))]
    if len(words) >= 3:
        i = int(rng.integers(0, len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    out = " ".join(words).rstrip(".!?")
    return out.lower() if rng.random() < 0.5 else out.upper()


def release_plan():
    """The plan of `privsynth release --epsilon 4` with the demo's settings and the shipped policy."""
    from privsynth.release import ReleaseRequest

    policy = load_policy(None)
    req = ReleaseRequest(
        input=Path("x"),
        out=Path("y"),
        epsilon=4.0,
        rounds=2,
        population_per_class=16,
        n_candidates=4,
        n=150,
        class_prompts={"spam": "p", "ham": "q"},
    )
    pe = private_evolution(**req.dp_settings(), gate_share=policy.dp_gate.share)
    return policy, pe.plan(n_classes=2, n_synthetic=150)


class Pool:
    """A dataset's unseen real records and its committed dp sets, embedded once."""

    def __init__(self, ds: str, enc):
        _, test = splits.load_split(ds)
        self.test = [test[i] for i in mia._distinct(test)]
        self.et = encode_unique(enc, [r.text for r in self.test])
        self.sets = []
        for f in sorted((ROOT / "benchmarks" / "results").glob(SYNTHETIC.format(ds=ds))):
            texts = json.loads(f.read_text(encoding="utf-8"))["texts"]
            self.sets.append((f.name, texts, encode_unique(enc, texts)))
        self.enc = enc


def one_run(pool: Pool, sizes, rng, policy, plan, *, k: int = 0, edited: bool = False) -> dict:
    nm, nh, ns = sizes
    name, texts, es_all = pool.sets[int(rng.integers(len(pool.sets)))]
    si = rng.choice(len(texts), ns, replace=False)
    p = rng.permutation(len(pool.test))
    mi, hi = p[:nm], p[nm : nm + nh]
    syn = [texts[i] for i in si]
    es = es_all[si].copy()
    if k:
        leaked = rng.choice(nm, k, replace=False)
        slots = rng.choice(ns, k, replace=False)
        planted = [pool.test[mi[j]].text for j in leaked]
        if edited:
            planted = [edit(t, rng) for t in planted]
        for s, t in zip(slots, planted):
            syn[s] = t
        es[slots] = encode_unique(pool.enc, planted)
    data = AuditData(
        [Record(f"m{i}", pool.test[j].text) for i, j in enumerate(mi)],
        [Record(f"h{i}", pool.test[j].text) for i, j in enumerate(hi)],
        [Record(f"s{i}", t) for i, t in enumerate(syn)],
        _embeddings=(pool.et[mi], pool.et[hi], es),
    )
    figs = record_figures(
        data, jaccard=policy.dp_gate.jaccard, similarity=policy.dp_gate.similarity, min_words=policy.dp_gate.min_words
    )
    ledger = PrivacyLedger(delta=plan.delta, accountant=plan.accountant)
    decision = decide_dp(figs, rules=policy.dp_gate, ledger=ledger, plan=plan)
    return {
        "blocked": not decision.passed,
        "set": name,
        "exact_reproduced": int(figs.member_reproduced.sum()),
        "checks": {c["name"]: {"passed": c["passed"], "value": c["value"]} for c in decision.checks},
    }


def expected_block_rate(counts: list[int], rules, sd: float) -> float:
    """The members rule's block rate expected from the exact counts and the known noise:
    the mean over runs of P(count + N(0, sd) - z sd > bound). The measured rate adds the
    noise of 100 draws to this; the other rules can only add blocks."""
    z = NormalDist().inv_cdf(rules.confidence)
    return float(np.mean([NormalDist().cdf((c - rules.members_reproduced_max - z * sd) / sd) for c in counts]))


def tally(rows: list[dict], rules=None, sd: float | None = None) -> dict:
    n, k = len(rows), sum(r["blocked"] for r in rows)
    lo, hi = clopper_pearson(k, n)
    names = rows[0]["checks"]
    counts = [r["exact_reproduced"] for r in rows]
    extra = {}
    if rules is not None and sd is not None:
        extra = {
            "expected_block_rate_members_rule": round(expected_block_rate(counts, rules, sd), 4),
            "exact_reproduced_histogram": np.bincount(counts).tolist(),
        }
    return {
        "runs": n,
        "blocked": k,
        "block_rate": round(k / n, 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "blocked_by": {c: sum(not r["checks"][c]["passed"] for r in rows) for c in names},
        "exact_reproduced_mean": round(float(np.mean(counts)), 2),
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gate_calibration.json")
    ap.add_argument(
        "--only", default=None, help="run one experiment, named as its row ('sms 20 members edited', 'rt clean')"
    )
    ap.add_argument(
        "--similarity", type=float, default=None, help="the paraphrase bound to try instead of the policy's"
    )
    a = ap.parse_args()
    policy, plan = release_plan()
    if a.similarity is not None:
        policy = dataclasses.replace(policy, dp_gate=dataclasses.replace(policy.dp_gate, similarity=a.similarity))
    enc = load_encoder(None)
    pools: dict[str, Pool] = {}
    rows = []
    t0 = time.time()
    experiments = [(c, 0, False) for c in CONFIGS] + [
        (c, k, e) for c in LEAK_CONFIGS for k in LEAK_K for e in (False, True)
    ]
    for index, ((ds, *sizes), k, edited) in enumerate(experiments):
        name = "clean" if not k else f"{k} members {'edited' if edited else 'verbatim'}"
        if a.only is not None and a.only != f"{ds} {name}":
            continue
        pool = pools.setdefault(ds, Pool(ds, enc))
        rng = np.random.default_rng([index, *sizes, k, int(edited)])
        runs = [one_run(pool, sizes, rng, policy, plan, k=k, edited=edited) for _ in range(a.runs)]
        row = {
            "dataset": ds,
            "members": sizes[0],
            "holdout": sizes[1],
            "synthetic": sizes[2],
            "experiment": name,
            **tally(runs, policy.dp_gate, noise_sd(plan)),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {
        "benchmark": "gate_calibration",
        "command": "python benchmarks/gate_calibration.py " + " ".join(sys.argv[1:]),
        "gate_noise_sd": round(noise_sd(plan), 3),
        "epsilon": plan.epsilon_planned,
        "delta": plan.delta,
        "policy": {k: v for k, v in policy.to_dict()["dp_gate"].items()},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "seconds": round(time.time() - t0),
        "rows": rows,
    }
    write_atomic(a.out, json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
