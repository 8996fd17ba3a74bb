"""Noise that cannot be replayed: Gaussian draws from the operating system's CSPRNG.

Every draw that a DP guarantee rests on comes from here. It never reads the user's
``--seed`` and is never recorded anywhere (ledger, manifest, logs), so knowing the seed and
the code does not let anyone subtract the noise back out of a release.

Uniforms are 53-bit integers from ``os.urandom`` mapped to the open interval (0, 1) and
turned into standard normals by the inverse CDF (``scipy.special.ndtri``). Against the
floating-point attacks on Gaussian samplers (Holohan & Braghin 2021, arXiv:2107.10138;
the opacus attack arXiv:2112.05307) each returned value is the sum of four independent
draws divided by two, which is again N(0, 1): the same defence as opacus' ``secure_mode``
(section 5.1 of arXiv:2107.10138, n = 2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

import numpy as np
from scipy.special import ndtri

_MANTISSA_BITS = 53


def secure_uniform(n: int) -> np.ndarray:
    """``n`` uniforms in the open interval (0, 1) from the OS CSPRNG (53-bit resolution)."""
    raw = np.frombuffer(os.urandom(8 * n), dtype=np.uint64) >> np.uint64(64 - _MANTISSA_BITS)
    # (k + 0.5) / 2^53 lies strictly inside (0, 1), so ndtri never returns +-inf.
    return cast(np.ndarray, (raw.astype(np.float64) + 0.5) / float(2**_MANTISSA_BITS))


def secure_normal(size: int | Sequence[int], *, scale: float = 1.0) -> np.ndarray:
    """N(0, scale^2) samples of shape ``size`` from the OS CSPRNG (float64).

    Not seedable by design. Use it for every draw a privacy guarantee depends on.
    """
    if scale < 0:
        raise ValueError(f"scale must be >= 0; got {scale!r}")
    shape = (cast(int, size),) if np.isscalar(size) else tuple(cast("Sequence[int]", size))
    n = int(np.prod(shape, dtype=np.int64))
    z = ndtri(secure_uniform(4 * n)).reshape(4, n).sum(axis=0) / 2.0
    return cast(np.ndarray, (scale * z).reshape(shape))
