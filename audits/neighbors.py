"""Exact k-nearest neighbours by cosine distance: brute-force BLAS matmul in row chunks.

Vectors are unit norm, so cosine distance is ``1 - q @ r.T``. Chunking keeps memory at
``chunk x len(ref)`` floats whatever the set sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

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


class PoolNeighbours:
    """Each query row's K nearest pool rows, nearest first (the auditor: synthetic records
    against members and holdout pooled), from one chunked matmul.

    The two nearest rows of any subset of the pool are the first two of these that belong to
    it; the rare query with fewer than two inside falls back to an exact search. As a
    by-product, ``pool_best`` holds each pool row's highest similarity to any query (the
    reverse direction, which the membership attack uses).
    """

    def __init__(self, synthetic: np.ndarray, pool: np.ndarray, k: int):
        self.synthetic, self.pool = synthetic, pool
        k = min(k, len(pool))
        self.idx = np.empty((len(synthetic), k), dtype=np.int64)
        self.sim = np.empty((len(synthetic), k), dtype=np.float32)
        self.pool_best = np.full(len(pool), -np.inf, dtype=np.float32)
        for sl, sim in iter_similarity(synthetic, pool):
            np.maximum(self.pool_best, sim.max(axis=0), out=self.pool_best)
            part = (
                sim.argpartition(sim.shape[1] - k, axis=1)[:, -k:]
                if k < sim.shape[1]
                else np.broadcast_to(np.arange(sim.shape[1]), sim.shape)
            )
            s = np.take_along_axis(sim, part, axis=1)
            order = np.argsort(-s, axis=1, kind="stable")
            self.idx[sl], self.sim[sl] = np.take_along_axis(part, order, axis=1), np.take_along_axis(s, order, axis=1)

    def two_nearest(self, in_subset: np.ndarray) -> np.ndarray:
        """Distances [n_synthetic, 2] to the two nearest pooled records where ``in_subset``."""
        hits = in_subset[self.idx]
        rows = np.arange(len(self.idx))
        first = hits.argmax(axis=1)
        found = hits[rows, first]
        hits[rows, first] = False
        second = hits.argmax(axis=1)
        found &= hits[rows, second]
        sims = np.stack([self.sim[rows, first], self.sim[rows, second]], axis=1)
        short = np.flatnonzero(~found)
        if len(short):
            exact = self.synthetic[short] @ self.pool[in_subset].T
            exact = -np.sort(-exact, axis=1)[:, :2]
            sims[short] = exact if exact.shape[1] == 2 else np.repeat(exact, 2, axis=1)  # a one-record subset
        return np.clip(1.0 - sims, 0.0, 2.0)


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
    return cast(np.ndarray, np.clip(1.0 - best, 0.0, 2.0))
