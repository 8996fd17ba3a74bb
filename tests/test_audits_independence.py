"""Separation of duties: the auditor never imports the generator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

from audits.encoder import HashingEncoder, load_encoder

AUDITS = Path(__file__).resolve().parents[1] / "audits"


def test_no_module_in_audits_imports_privsynth():
    offenders = []
    for path in AUDITS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "privsynth"]
    assert offenders == []


def test_importing_every_audits_module_loads_no_privsynth():
    code = (
        "import sys, audits, audits.cli, audits.runner, audits.checks, audits.report, audits.html; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'privsynth']; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=AUDITS.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hashing_encoder_is_unit_norm_deterministic_and_stateless():
    texts = ["call me later", "CALL me later!", "the weather is nice", ""]
    a = HashingEncoder().encode(texts)
    b = HashingEncoder().encode(texts[::-1])[::-1]
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, atol=1e-5)
    assert a[0] @ a[1] > a[0] @ a[2]


def test_object_encoder_output_is_renormalised():
    class Doubling:
        def encode(self, texts):
            return np.array([[2.0 * len(t), 1.0] for t in texts])

    v = load_encoder(Doubling()).encode(["ab", "abc"])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
