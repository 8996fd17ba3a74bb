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
                chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`knn` for several column subsets of ``ref`` at once, plus the reverse direction.

    Returns ``(dist, ref_nearest)``: ``dist[j, i]`` holds the k nearest distances of query row i
    among the ref rows in ``subsets[j]`` ([n_subsets, n_query, k]); ``ref_nearest[r]`` is the
    distance of ref row r to its nearest query row. One matmul per chunk serves every subset and
    both directions, which is what makes repeated subsampling and the attacks cheap.
    """
    k = min([k] + [len(s) for s in subsets])
    out = np.empty((len(subsets), len(query), k), dtype=np.float32)
    ref_best = np.full(len(ref), -np.inf, dtype=np.float32)
    for sl, sim in iter_similarity(query, ref, chunk=chunk):
        np.maximum(ref_best, sim.max(axis=0), out=ref_best)
        for j, cols in enumerate(subsets):
            full = len(cols) == ref.shape[0] and len(subsets) == 1  # sole full subset: work in place
            out[j, sl] = _top_k_distances(sim if full else sim[:, cols], k)
    return out, np.clip(1.0 - ref_best, 0.0, 2.0)


def _top_k_distances(sim: np.ndarray, k: int) -> np.ndarray:
    """k smallest distances per row (may overwrite ``sim``)."""
    rows = np.arange(sim.shape[0])
    best = np.empty((sim.shape[0], k), dtype=np.float32)
    if k <= 2:  # argmax passes beat a full partition for the small k used here
        for j in range(k):
            idx = sim.argmax(axis=1)
            best[:, j] = sim[rows, idx]
            sim[rows, idx] = -np.inf
    else:
        part = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
        best = -np.sort(-part, axis=1)
    return np.clip(1.0 - best, 0.0, 2.0)
