"""Releases on a Ray cluster equal the single-process ones: same seed, same synthetic.csv.

The Ray tests start a local cluster with two worker processes (marker ``ray``; they need
``pip install 'privsynth[ray]'`` and are skipped without it). Sharding itself is tested
without Ray.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from test_release_support import LENIENT_POLICY, tiny_engine, write_input

from privsynth.cluster import shard_rows
from privsynth.privacy.mechanisms import vote_histogram

TESTS = Path(__file__).resolve().parent


def test_shards_hold_whole_people_and_every_row_once():
    users = [f"u{i % 7}" for i in range(50)]
    shards = shard_rows(50, 3, users)
    rows = np.concatenate(shards)
    assert sorted(rows.tolist()) == list(range(50))
    owner = {}
    for s, part in enumerate(shards):
        for r in part:
            assert owner.setdefault(users[r], s) == s  # a person never spans two shards
    assert [len(s) for s in shard_rows(10, 3)] == [4, 3, 3]
    assert len(shard_rows(2, 5)) == 2  # empty shards are left out


def test_summed_shard_histograms_equal_the_whole_histogram():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    C = rng.standard_normal((12, 8)).astype(np.float32)
    cc = np.repeat(np.arange(3), 4)
    for among in ("all", "own-class"):
        whole = vote_histogram(X, y, C, cc, among=among)
        parts = sum(vote_histogram(X[r], y[r], C, cc, among=among) for r in shard_rows(200, 3))
        assert np.array_equal(whole, parts)


# ---- on a local two-worker Ray cluster ----------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    path = os.pathsep.join([str(TESTS), str(TESTS.parent), *sys.path])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="error",
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


def _release(tmp_path: Path, name: str, *, mode: str, ray: str | None):
    from privsynth.release import ReleaseRequest, run_release

    src = tmp_path / "in.csv"
    if not src.exists():
        write_input(src, n=400)  # a holdout of 120: enough to measure the ROC curve's tail
        (tmp_path / "policy.toml").write_text(LENIENT_POLICY, encoding="utf-8")
    kw = {"epsilon": 4.0, "labels": ["a", "b"]} if mode == "dp" else {"privacy": mode}
    req = ReleaseRequest(
        input=src,
        out=tmp_path / name,
        policy=tmp_path / "policy.toml",
        n=24,
        seed=3,
        quiet=True,
        device="cpu",
        ray=ray,
        holdout_fraction=0.3,
        **kw,
    )
    return run_release(req, engine=tiny_engine())


@pytest.mark.ray
@pytest.mark.parametrize("mode", ["none", "noise"])
def test_a_release_on_ray_writes_the_same_synthetic_csv(ray_cluster, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))
    _release(tmp_path, "one", mode=mode, ray=None)
    _release(tmp_path, "ray", mode=mode, ray="local")
    one = (tmp_path / "one" / "synthetic.csv").read_bytes()
    assert one == (tmp_path / "ray" / "synthetic.csv").read_bytes()
    report = (tmp_path / "ray.internal" / "audit_report.json").read_text(encoding="utf-8")
    ray_summary = json.loads(report)["release"]["generation"]["ray"]
    assert ray_summary["workers"] == 2
    assert len(ray_summary["processed_by_worker"]) == 2  # both workers processed shards
    assert all(n > 0 for n in ray_summary["processed_by_worker"].values())
    manifest = (tmp_path / "ray" / "manifest.json").read_text(encoding="utf-8")
    assert '"ray": "local"' in manifest and "processed_by_worker" not in manifest


@pytest.mark.ray
def test_a_dp_release_on_ray_is_the_same_given_the_same_noise(ray_cluster, tmp_path, monkeypatch):
    """dp noise never comes from a seed: this test alone replaces the noise source (every
    privsynth module that imported it) with fixed draws, so both runs see the same noise."""
    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))

    def fixed_normal(size, *, scale=1.0):
        return np.full(size, 0.25 * scale)

    def fixed_uniform(n):
        return np.full(n, 0.5)

    for mod in [m for name, m in sys.modules.items() if name.startswith("privsynth")]:
        if hasattr(mod, "secure_normal"):
            monkeypatch.setattr(mod, "secure_normal", fixed_normal)
        if hasattr(mod, "secure_uniform"):
            monkeypatch.setattr(mod, "secure_uniform", fixed_uniform)
    one = _release(tmp_path, "one", mode="dp", ray=None)
    two = _release(tmp_path, "ray", mode="dp", ray="local")
    assert (tmp_path / "one" / "synthetic.csv").read_bytes() == (tmp_path / "ray" / "synthetic.csv").read_bytes()
    assert one.status == two.status == "released"
    gen = json.loads((tmp_path / "ray.internal" / "audit_report.json").read_text(encoding="utf-8"))["release"]
    assert len(gen["generation"]["ray"]["processed_by_worker"]) == 2  # votes and decodes ran on both workers


def test_chunked_votes_equal_one_pass(monkeypatch):
    from privsynth.privacy import mechanisms

    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    C = rng.standard_normal((9, 8)).astype(np.float32)
    cc = np.repeat(np.arange(3), 3)
    whole = {a: vote_histogram(X, y, C, cc, among=a) for a in ("all", "own-class")}
    monkeypatch.setattr(mechanisms, "VOTE_CHUNK", 7)
    for a, v in whole.items():
        assert np.array_equal(v, vote_histogram(X, y, C, cc, among=a))


@pytest.mark.slow
@pytest.mark.ray
def test_the_real_models_on_ray_write_the_same_csv(tmp_path):
    """The embedded encoder and bridge, copied to two Ray workers of one thread each, give the
    same synthetic.csv as the 2-thread process: same embedding batches, same decode batches."""
    pytest.importorskip("ray")
    import subprocess

    sample = TESTS.parent / "privsynth" / "data" / "sample_sms.csv"
    outs = []
    for name, extra in (("one", []), ("ray", ["--ray", "local"])):
        out = tmp_path / f"{name}.csv"
        args = ["generate", str(sample), "--privacy", "none", "--out", str(out), "--n", "24", "--candidates", "2"]
        cmd = [sys.executable, "-m", "privsynth.cli", *args, "--seed", "1", "--device", "cpu", "--quiet", *extra]
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PRIVSYNTH_HOME": str(tmp_path)})
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.ray
def test_cluster_votes_reuse_the_member_shards_and_equal_the_whole_histogram(ray_cluster):
    from privsynth.cluster import RayCluster

    rng = np.random.default_rng(2)
    X = rng.standard_normal((120, 8)).astype(np.float32)
    y = rng.integers(0, 3, 120)
    C = rng.standard_normal((9, 8)).astype(np.float32)
    cc = np.repeat(np.arange(3), 3)
    cluster = RayCluster("local")
    cluster.attach(object(), type("B", (), {})())  # voting needs neither encoder nor bridge
    try:
        first = cluster.vote_histogram(X, y, C, cc, among="all")
        refs = list(cluster._shard_refs)
        second = cluster.vote_histogram(X, y, C[::-1].copy(), cc, among="all")  # a later round
        assert cluster._shard_refs == refs  # the members went to the object store once
        assert np.array_equal(first, vote_histogram(X, y, C, cc, among="all"))
        assert np.array_equal(second, vote_histogram(X, y, C[::-1].copy(), cc, among="all"))
    finally:
        cluster.close()
