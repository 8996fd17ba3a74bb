"""The gate-calibration benchmark's parts that need no model: the planted leak vectors, one
gate run on vectors made here, and the tally."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gate_calibration as gc  # noqa: E402
import splits  # noqa: E402
from audits.policy import load_policy  # noqa: E402


def _unit(rng, n, d=16):
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_planted_vectors_sit_at_exactly_the_cosine_asked():
    rng = np.random.default_rng(0)
    v = _unit(rng, 50)
    for c in (0.9, 0.6):
        t = gc._turn(v, c, rng)
        assert np.allclose(np.linalg.norm(t, axis=1), 1.0)
        assert np.allclose((t * v).sum(axis=1), c)


def test_gate_blocks_copies_of_members_and_the_tally_counts_them():
    rng = np.random.default_rng(1)
    em, eh = _unit(rng, 120), _unit(rng, 60)
    members = [splits.Record(f"m{i}", f"member text {i}", "a") for i in range(120)]
    holdout = [splits.Record(f"h{i}", f"holdout text {i}", "a") for i in range(60)]
    policy = load_policy()
    leaked = gc.gate(policy, members, holdout, [f"s {i}" for i in range(60)], em, eh,
                     gc._turn(em[:60], 0.95, rng).astype(np.float32), seed=0)
    unseen = gc.gate(policy, members, holdout, [f"s {i}" for i in range(60)], em, eh,
                     _unit(rng, 60).astype(np.float32), seed=0)
    assert not leaked["dcr_share"]["passed"] and not leaked["mia_auc"]["passed"]
    assert unseen["dcr_share"]["passed"]
    t = gc._tally([leaked, unseen])
    assert t["runs"] == 2 and t["blocked"]["any"] >= 1 and t["blocked"]["dcr_share"] == 1
    assert t["block_rate"]["dcr_share"] == 0.5
