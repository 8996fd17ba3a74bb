"""Every field a dp release publishes is covered: declared, public, or an output of the ledger.

Walks every key of a real dp release (tiny models, the real pipeline) and fails on a key the
table in ``privsynth.disclosure`` does not name; SECURITY.md shows that same table.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_release_support import LENIENT_POLICY, tiny_engine, write_input

from privsynth import disclosure
from privsynth import release as release_mod
from privsynth.datacard import read_front_matter
from privsynth.release_cli import release_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dp_release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("disclosure")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRIVSYNTH_HOME", str(tmp / "home"))
    engine = tiny_engine()
    mp.setattr(release_mod, "default_engine", lambda: engine)
    (tmp / "lenient.toml").write_text(LENIENT_POLICY)
    write_input(tmp / "in.csv", n=240)
    key = Ed25519PrivateKey.generate()
    (tmp / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    args = [
        tmp / "in.csv",
        "--out",
        tmp / "rel",
        "--epsilon",
        "4",
        "--policy",
        tmp / "lenient.toml",
        "--class-prompt",
        "a=write a short note",
        "--class-prompt",
        "b=write a longer note",
        "--canaries",
        "3",
        "--sign-key",
        tmp / "k.pem",
        "--holdout-fraction",
        "0.5",
        "--seed",
        "1",
    ]
    res = CliRunner().invoke(release_command, [str(a) for a in args], catch_exceptions=False)
    mp.undo()
    assert res.exit_code == 0, res.output
    return tmp / "rel"


@pytest.mark.parametrize("name", ["manifest.json", "ledger.json", "DATA_CARD.md"])
def test_every_field_of_a_real_dp_release_is_declared_public_or_covered_by_the_ledger(dp_release, name):
    text = (dp_release / name).read_text(encoding="utf-8")
    obj = read_front_matter(text) if name.endswith(".md") else json.loads(text)
    assert obj, name
    assert disclosure.uncovered(name, obj) == []
    assert {disclosure.basis(name, p)[0] for p in disclosure.walk(obj)} <= set(disclosure.BASES)


def test_the_release_folder_holds_only_what_the_guarantee_covers(dp_release):
    assert sorted(p.name for p in dp_release.iterdir()) == [
        "DATA_CARD.md",
        "ledger.json",
        "manifest.json",
        "manifest.json.sig",
        "synthetic.csv",
    ]
    m = json.loads((dp_release / "manifest.json").read_text())
    keys = {seg for path in disclosure.walk(m) if not path.startswith("policy/") for seg in path.split("/")}
    assert not keys & {
        "members",
        "holdout",
        "records_read",
        "dataset_id",
        "file_hmac",
        "empirical_epsilon",
        "internal_files",
    }


def test_the_check_fails_on_a_field_the_table_does_not_name(dp_release):
    m = json.loads((dp_release / "manifest.json").read_text())
    m["counts"]["members"] = 1234
    m["input"] = {"dataset_id": "ab"}
    assert disclosure.uncovered("manifest.json", m) == ["counts/members", "input/dataset_id"]


def test_security_md_shows_the_table():
    assert disclosure.markdown_table() in (ROOT / "SECURITY.md").read_text(encoding="utf-8")


def test_the_ledger_of_a_real_dp_release_is_recomputed_by_opacus_prv_and_dp_accounting_pld(dp_release):
    from test_privacy_accountant import assert_ledger_matches_libraries, golden_pld, golden_prv

    ledger = json.loads((dp_release / "ledger.json").read_text())
    assert [e["purpose"].split(":")[0].split(",")[0] for e in ledger["events"]] == [
        "counts",
        "class judge",
        "votes",
        "gate",
    ]
    assert_ledger_matches_libraries(ledger)  # within 1% of each, never below PLD
    events = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in ledger["events"]]
    prv, pld = golden_prv(events, ledger["delta"]), golden_pld(events, ledger["delta"])
    m = json.loads((dp_release / "manifest.json").read_text())
    assert m["privacy"]["epsilon"] == ledger["epsilon"] == pytest.approx(max(prv, pld), rel=2e-3)
    assert ledger["epsilon"] <= 4.0
