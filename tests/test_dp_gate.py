"""The dp gate end to end: a release that copies its members is blocked by the noisy count of
members reproduced, through the ledger's gate event; the block writes the internal reports only."""

import json

import pytest
from click.testing import CliRunner
from test_release_support import tiny_engine, write_input

from privsynth import release as release_mod
from privsynth.release_cli import release_command


@pytest.fixture
def copying_engine(tmp_path, monkeypatch):
    """The tiny engine, except that its synthetic records are the first members, copied."""
    engine = tiny_engine()

    def generate(texts, labels, **kw):
        out = engine.generate(texts, labels, **kw)
        out.texts = list(texts[: len(out.texts)])
        out.labels = list(labels[: len(out.labels)])
        return out

    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(
        release_mod,
        "default_engine",
        lambda: release_mod.Engine(generate=generate, audit=engine.audit, write_reports=engine.write_reports),
    )
    write_input(tmp_path / "in.csv", n=240)
    return tmp_path


def test_a_dp_release_copying_its_members_is_blocked_by_the_dp_gate(copying_engine):
    env = copying_engine
    args = ["--epsilon", "4", "--labels", "a,b", "--n", "40", "--holdout-fraction", "0.5", "--seed", "1"]
    res = CliRunner().invoke(
        release_command, [str(env / "in.csv"), "--out", str(env / "rel"), *args], catch_exceptions=False
    )
    assert res.exit_code == 3, res.output
    assert "dp_members_reproduced" in res.output and not (env / "rel").exists()
    report = json.loads((env / "rel.internal" / "audit_report.json").read_text())["release"]
    check = next(c for c in report["gate_checks"] if c["name"] == "dp_members_reproduced")
    assert not check["passed"] and check["value"] > 20  # 40 copies, noise sd about 4
    assert report["internal"]["members_flagged_by_reason"]["exact"] == 40
    assert "In dp mode they decided nothing" in report["not_covered"]
