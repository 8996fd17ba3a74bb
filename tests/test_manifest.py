"""Keyed input ids, Ed25519 signatures and `privsynth verify` on a hand-built release folder."""

import hashlib
import json
import os
import stat

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privsynth.errors import UserError
from privsynth.manifest import dataset_hmac, file_hmac, load_hmac_key, manifest_bytes, sha256_file, sign, verify_release
from privsynth.privacy.ledger import PrivacyLedger
from privsynth.release_cli import verify_command


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def keypair(tmp_path, name="k"):
    key = Ed25519PrivateKey.generate()
    priv = tmp_path / f"{name}.pem"
    pub = tmp_path / f"{name}.pub.pem"
    priv.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key, priv, pub


def make_release(tmp_path, *, signed_with=None, dp=True):
    out = tmp_path / "rel"
    out.mkdir()
    (out / "synthetic.csv").write_text("text,label\nhello there,a\n")
    (out / "DATA_CARD.md").write_text("# Data card\n")
    privacy = {"mode": "none"}
    if dp:
        led = PrivacyLedger(delta=1e-5, accountant="rdp")
        led.record(purpose="votes", noise_multiplier=5.0, steps=3)
        (out / "ledger.json").write_text(json.dumps(led.to_dict(), indent=2))
        privacy = {"mode": "dp", "epsilon": led.epsilon, "delta": 1e-5, "ledger": "ledger.json"}
    manifest = {
        "schema_version": 1,
        "files": {p.name: sha256_file(p) for p in sorted(out.iterdir())},
        "privacy": privacy,
        "signature": {"signed": signed_with is not None},
    }
    raw = manifest_bytes(manifest)
    (out / "manifest.json").write_bytes(raw)
    if signed_with is not None:
        (out / "manifest.json.sig").write_bytes(sign(raw, signed_with))
    return out


def test_hmac_key_is_created_once_with_mode_0600(home):
    k1 = load_hmac_key()
    assert stat.S_IMODE(os.stat(home / "hmac.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert load_hmac_key() == k1 and len(k1) >= 32


def test_input_id_is_keyed_never_a_plain_hash(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("text,label\nsecret,a\n")
    k1, k2 = b"k" * 32, b"j" * 32
    assert file_hmac(f, k1) != file_hmac(f, k2)
    assert file_hmac(f, k1) != sha256_file(f) and file_hmac(f, k1) != hashlib.sha256(f.read_bytes()).hexdigest()


def test_dataset_id_ignores_record_order_but_not_content():
    k = b"k" * 32
    assert dataset_hmac(["a", "b"], ["x", "y"], k) == dataset_hmac(["b", "a"], ["y", "x"], k)
    assert dataset_hmac(["a", "b"], ["x", "y"], k) != dataset_hmac(["a", "b"], ["x", "x"], k)


def test_short_hmac_key_file_is_refused(tmp_path):
    (tmp_path / "k").write_bytes(b"short")
    with pytest.raises(UserError, match="at least 16"):
        load_hmac_key(tmp_path / "k")


def test_untouched_release_verifies_and_epsilon_is_recomputed(tmp_path):
    v = verify_release(make_release(tmp_path))
    assert v.ok, v.problems
    assert any("recomputed" in n for n in v.notes)


@pytest.mark.parametrize("name", ["synthetic.csv", "DATA_CARD.md", "ledger.json", "manifest.json"])
def test_one_flipped_byte_in_any_file_is_caught_and_named(tmp_path, name):
    # signed: an unsigned manifest can be rewritten at will; only a signature pins it
    key, _, pub = keypair(tmp_path)
    out = make_release(tmp_path, signed_with=key)
    p = out / name
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    v = verify_release(out, public_key_path=pub)
    assert not v.ok
    assert any(pr.startswith(name) for pr in v.problems), v.problems


def test_a_ledger_whose_epsilon_does_not_follow_from_its_events_is_caught(tmp_path):
    out = make_release(tmp_path)
    led = json.loads((out / "ledger.json").read_text())
    led["epsilon"] = led["epsilon"] / 2
    (out / "ledger.json").write_text(json.dumps(led))
    m = json.loads((out / "manifest.json").read_text())  # an attacker re-hashes too
    m["files"]["ledger.json"] = sha256_file(out / "ledger.json")
    m["privacy"]["epsilon"] = led["epsilon"]
    (out / "manifest.json").write_bytes(manifest_bytes(m))
    v = verify_release(out)
    assert any("ledger.json: epsilon" in p for p in v.problems), v.problems


def test_added_file_and_missing_file_are_mismatches(tmp_path):
    out = make_release(tmp_path)
    (out / "extra.txt").write_text("x")
    assert any(p.startswith("extra.txt") for p in verify_release(out).problems)
    (out / "extra.txt").unlink()
    assert verify_release(out).ok
    (out / "DATA_CARD.md").unlink()
    assert any(p.startswith("DATA_CARD.md: missing") for p in verify_release(out).problems)
    (out / "synthetic.csv").unlink()
    assert any(p.startswith("synthetic.csv: missing") for p in verify_release(out).problems)


def test_signature_round_trip_and_tamper_detection(tmp_path):
    key, _, pub = keypair(tmp_path)
    out = make_release(tmp_path, signed_with=key)
    assert verify_release(out, public_key_path=pub).ok
    _, _, other_pub = keypair(tmp_path, "other")
    assert any("does not match" in p for p in verify_release(out, public_key_path=other_pub).problems)
    sig = bytearray((out / "manifest.json.sig").read_bytes())
    sig[3] = ord("A") if sig[3] != ord("A") else ord("B")
    (out / "manifest.json.sig").write_bytes(bytes(sig))
    assert not verify_release(out, public_key_path=pub).ok


def test_unsigned_release_with_a_public_key_fails_and_says_unsigned(tmp_path):
    _, _, pub = keypair(tmp_path)
    v = verify_release(make_release(tmp_path), public_key_path=pub)
    assert any("missing" in p and "unsigned" in p for p in v.problems)


def test_verify_cli_exit_codes(tmp_path):
    key, _, pub = keypair(tmp_path)
    out = make_release(tmp_path, signed_with=key)
    runner = CliRunner()
    assert runner.invoke(verify_command, [str(out), "--public-key", str(pub)]).exit_code == 0
    assert runner.invoke(verify_command, [str(tmp_path / "nope")]).exit_code == 2
    (tmp_path / "bad.pem").write_text("not a key")
    assert runner.invoke(verify_command, [str(out), "--public-key", str(tmp_path / "bad.pem")]).exit_code == 2
    with open(out / "synthetic.csv", "ab") as fh:
        fh.write(b"x")
    res = runner.invoke(verify_command, [str(out), "--public-key", str(pub)])
    assert res.exit_code == 3 and "synthetic.csv" in res.output


@pytest.mark.parametrize(
    "edit, named",
    [
        (lambda m, led: m.update(signature=None), "'signature' has the wrong type"),
        (lambda m, led: m.update(privacy="dp"), "'privacy' has the wrong type"),
        (lambda m, led: led.update(events=5), "ledger.json: not a valid ledger"),
        (lambda m, led: led.update(events=[{"noise_multiplier": "loud"}]), "ledger.json: cannot recompute epsilon"),
    ],
)
def test_a_manifest_or_ledger_edited_into_another_shape_fails_verification_without_a_traceback(tmp_path, edit, named):
    out = make_release(tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    led = json.loads((out / "ledger.json").read_text())
    edit(m, led)
    (out / "ledger.json").write_text(json.dumps(led))
    m["files"]["ledger.json"] = sha256_file(out / "ledger.json")
    (out / "manifest.json").write_bytes(manifest_bytes(m))
    v = verify_release(out)
    assert not v.ok and any(named in p for p in v.problems), v.problems


def test_a_file_replaced_by_a_symlink_to_the_same_bytes_fails_verification(tmp_path):
    out = make_release(tmp_path)
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes((out / "synthetic.csv").read_bytes())
    (out / "synthetic.csv").unlink()
    (out / "synthetic.csv").symlink_to(outside)
    v = verify_release(out)
    assert not v.ok and any("symbolic link" in p for p in v.problems), v.problems
