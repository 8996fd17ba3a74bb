"""Exact k-nearest neighbours by cosine distance: brute-force BLAS matmul in row chunks.

Vectors are unit norm, so cosine distance is ``1 - q @ r.T``. Chunking keeps memory at
``chunk x len(ref)`` floats whatever the set sizes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 2048


def iter_similarity(query: np.ndarray, ref: np.ndarray, *, chunk: int = CHUNK) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (row slice, cosine similarity block) for query rows against every ref row."""
    ref = np.ascontiguousarray(ref, dtype=np.float32)
    for start in range(0, len(query), chunk):
        sl = slice(start, min(start + chunk, len(query)))
        yield sl, np.asarray(query[sl], dtype=np.float32) @ ref.T


def knn(query: np.ndarray, ref: np.ndarray, k: int = 1, *, chunk: int = CHUNK) -> np.ndarray:
    """Cosine distances of each query row to its k nearest ref rows, sorted ascending: [n, k]."""
    k = min(k, len(ref))
    out = np.empty((len(query), k), dtype=np.float32)
    for sl, sim in iter_similarity(query, ref, chunk=chunk):
        out[sl] = _top_k_distances(sim, k)
    return out


def knn_subsets(query: np.ndarray, ref: np.ndarray, subsets: list[np.ndarray], k: int = 1, *,
                chunk: int = CHUNK) -> np.ndarray:
    """Like :func:`knn` for several column subsets of ``ref`` at once: [n_subsets, n, k].

    One matmul per chunk serves every subset, which is what makes repeated subsampling cheap.
    """
    k = min([k] + [len(s) for s in subsets])
    out = np.empty((len(subsets), len(query), k), dtype=np.float32)
    for sl, sim in iter_similarity(query, ref, chunk=chunk):
        for j, cols in enumerate(subsets):
            out[j, sl] = _top_k_distances(sim[:, cols], k)
    return out


def _top_k_distances(sim: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        best = sim.max(axis=1, keepdims=True)
    else:
        part = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
        best = -np.sort(-part, axis=1)
    return np.clip(1.0 - best, 0.0, 2.0)


