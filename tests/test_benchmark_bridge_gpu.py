"""The int8 vectors that carry the bridge's training data to a GPU machine."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bridge_gpu import _pairs, dequantize, quantize  # noqa: E402


def test_int8_vectors_keep_their_direction():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q, s = quantize(v)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    back = dequantize(q, s)
    assert np.allclose(np.linalg.norm(back, axis=1), 1, atol=1e-5)
    assert (back * v).sum(1).min() > 0.9999


def test_pairs_are_fixed_distinct_and_short():
    texts = [" ".join(["w"] * (3 if i % 2 else 30)) for i in range(100)]
    a, b = _pairs(texts), _pairs(texts)
    assert (a == b).all() and (a[:, 0] != a[:, 1]).all()
    assert all(len(texts[i].split()) <= 14 for i in a.ravel())
