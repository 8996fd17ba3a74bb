"""The gate-calibration benchmark's parts that need no model: the edit of a planted copy, one
run of the release's own gate on a pool made here, and the tally with its interval."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gate_calibration as gc  # noqa: E402
import splits  # noqa: E402

from audits.encoder import load_encoder  # noqa: E402


class TinyPool(gc.Pool):
    def __init__(self, n=600):
        self.enc = load_encoder("hashing")
        rng = np.random.default_rng(0)
        words = (
            "lunch prize call dinner late home cash win train movie tonight later ok sorry meet text phone "
            "free club week love work bus rain shop coffee friday"
        ).split()
        self.test = [splits.Record(f"r{i}", " ".join(rng.choice(words, 7)) + f" {i}", "a") for i in range(n)]
        self.et = self.enc.encode([r.text for r in self.test])
        syn = [f"synthetic line {i} of text" for i in range(300)]
        self.sets = [("tiny", syn, self.enc.encode(syn))]


def test_an_edit_keeps_the_record_recognisable_but_changes_it():
    rng = np.random.default_rng(0)
    for text in ("Are we still on for dinner tonight at eight?", "Call me now"):
        e = gc.edit(text, rng)
        assert e != text and e.lower().split()[0] in text.lower()


def test_the_release_gate_blocks_twenty_copied_members_and_passes_a_clean_set():
    policy, plan = gc.release_plan()
    pool = TinyPool()
    rng = np.random.default_rng(3)
    clean = [gc.one_run(pool, (200, 100, 150), rng, policy, plan) for _ in range(5)]
    leaky = [gc.one_run(pool, (200, 100, 150), rng, policy, plan, k=40) for _ in range(5)]
    assert all(r["exact_reproduced"] == 0 for r in clean) and all(r["exact_reproduced"] >= 40 for r in leaky)
    assert all(r["blocked"] and not r["checks"]["dp_members_reproduced"]["passed"] for r in leaky)
    t = gc.tally(clean)
    assert t["runs"] == 5 and 0 <= t["blocked"] <= 2 and t["ci95"][0] <= t["block_rate"] <= t["ci95"][1]


def test_clopper_pearson_is_exact_at_the_edges():
    assert gc.clopper_pearson(0, 100)[0] == 0.0 and gc.clopper_pearson(100, 100)[1] == 1.0
    lo, hi = gc.clopper_pearson(5, 100)
    assert 0.015 < lo < 0.02 and 0.11 < hi < 0.12


def test_expected_block_rate_follows_the_noise():
    policy, plan = gc.release_plan()
    sd = gc.noise_sd(plan)
    assert abs(gc.expected_block_rate([0] * 10, policy.dp_gate, sd) - (1 - policy.dp_gate.confidence)) < 1e-9
    assert gc.expected_block_rate([40], policy.dp_gate, sd) > 0.999
    assert gc.expected_block_rate([8], policy.dp_gate, sd) < gc.expected_block_rate([12], policy.dp_gate, sd)
