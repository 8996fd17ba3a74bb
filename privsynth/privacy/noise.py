"""Mode ``noise``: embedding-space noise on synthetic vectors. NO formal guarantee.

``z' = normalize(z + N(0, (s * d_nn / sqrt(d))^2 I))`` where ``d_nn`` is the median distance
from a member to its nearest other member and d the vector dimension, so the knob ``s``
(``--noise-scale``) means the same on every corpus and encoder: the noise vector's norm is
about ``s * d_nn``, so ``s = 1`` moves a vector by about one typical neighbour gap.

Why the norm and not the per-coordinate std: with ``s * d_nn`` per coordinate (the first
definition), s = 0.5 already moved a 384-d vector by ~10 neighbour gaps, and on SMS every
s >= 0.5 left a synthetic set from which no classifier could tell spam from ham
(benchmarks/results/noise_sweep_v2.md); the useful range sat at s ~ 0.02-0.2.

This mode reads member vectors without any DP mechanism (to measure ``d_nn`` and because
the synthetic vectors are interpolations of members) and carries no formal privacy
guarantee: what it buys is measured by the audit only. The noise here may come from the
seeded generator (reproducible), because nothing is claimed for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

NO_GUARANTEE = (
    "privacy mode 'noise' gives NO formal privacy guarantee (no epsilon): embedding noise "
    "only makes copying less likely; rely on the audit for what it buys"
)


def median_nn_distance(
    members: np.ndarray, *, max_points: int = 20000, rng: np.random.Generator | None = None
) -> float:
    """Median Euclidean distance from a member vector to its nearest other member.

    Exact duplicates count (distance 0) as they are real neighbours. Above ``max_points``
    members a random subset (from ``rng``) sets the scale, to keep the cost bounded.
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(members, dtype=np.float32)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"need at least 2 member vectors to measure a neighbour distance; got shape {X.shape}")
    if len(X) > max_points:
        rng = rng or np.random.default_rng(0)
        X = X[rng.choice(len(X), max_points, replace=False)]
    dist, _ = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    return float(np.median(dist[:, 1]))


def add_embedding_noise(
    vectors: np.ndarray, *, sigma: float, rng: np.random.Generator | None = None, secure: bool = False
) -> np.ndarray:
    """``normalize(v + N(0, sigma^2 I))`` row by row; ``sigma`` is absolute.

    ``secure=True`` draws the noise from the OS CSPRNG (``rng`` is then ignored); dp mode
    uses that even for its post-processing noise, so no dp-mode draw depends on the seed.
    """
    V = np.asarray(vectors, dtype=np.float64)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0; got {sigma!r}")
    if secure:
        from privsynth.privacy.rng import secure_normal

        noise = secure_normal(V.shape, scale=sigma)
    else:
        if rng is None:
            raise ValueError("add_embedding_noise needs rng when secure=False")
        noise = rng.normal(0.0, sigma, size=V.shape)
    Z = V + noise
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return cast(np.ndarray, (Z / np.maximum(norms, 1e-12)).astype(np.float32))


def noise_transform(members: np.ndarray, *, scale: float, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Mode noise as a function of target vectors, for ``SMOTExT.generate(transform=...)``: one
    seeded stream serves the first targets and any drawn later to replace a copy."""
    rng = np.random.default_rng([seed, 1])
    return lambda V: noise_mode(V, members, scale=scale, rng=rng)


def noise_mode(synthetic: np.ndarray, members: np.ndarray, *, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Mode ``noise``: move synthetic vectors by noise of norm ~ ``scale`` typical member NN distances.

    Raises ``UserError`` for a negative or non-finite ``scale`` (``--noise-scale``).
    """
    from privsynth.errors import UserError

    if not np.isfinite(scale) or scale < 0:
        raise UserError(
            f"--noise-scale must be a non-negative number (in units of the median "
            f"nearest-neighbour distance of the members); got {scale!r}"
        )
    if scale == 0:
        return np.asarray(synthetic, dtype=np.float32)
    d_nn = median_nn_distance(members, rng=rng)
    dim = np.asarray(synthetic).shape[1]
    return add_embedding_noise(synthetic, sigma=scale * d_nn / np.sqrt(dim), rng=rng)
