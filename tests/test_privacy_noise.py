"""Mode noise: the scale is in units of the members' median nearest-neighbour distance."""

import numpy as np
import pytest

from privsynth.errors import UserError
from privsynth.privacy.noise import NO_GUARANTEE, median_nn_distance, noise_mode


def _grid(spacing, d=16):
    """Points on a line with a known neighbour gap, lifted onto the unit sphere's tangent."""
    X = np.zeros((50, d))
    X[:, 0] = 1.0
    X[:, 1] = spacing * np.arange(50)
    return X


def test_median_nn_distance_is_the_neighbour_gap():
    assert median_nn_distance(_grid(0.01)) == pytest.approx(0.01, rel=1e-5)


@pytest.mark.parametrize("spacing", [0.005, 0.05])
def test_same_scale_means_the_same_on_a_tight_and_a_loose_corpus(spacing):
    members = _grid(spacing, d=384)
    assert median_nn_distance(members) == pytest.approx(spacing, rel=0.01)
    z = np.zeros((4000, 384), dtype=np.float32)
    z[:, 0] = 1.0
    out = noise_mode(z, members, scale=0.5, rng=np.random.default_rng(0))
    # the noise vector's norm is about scale * d_nn, whatever the dimension
    assert np.median(np.linalg.norm(out - z, axis=1)) == pytest.approx(0.5 * spacing, rel=0.1)


def test_noise_mode_output_is_unit_norm_and_reproducible_from_the_seed():
    members = np.random.default_rng(1).normal(size=(100, 32))
    members /= np.linalg.norm(members, axis=1, keepdims=True)
    a = noise_mode(members[:10], members, scale=1.0, rng=np.random.default_rng(5))
    b = noise_mode(members[:10], members, scale=1.0, rng=np.random.default_rng(5))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, b)  # noise mode is not DP: the seeded rng is allowed
    assert not np.allclose(a, members[:10])


def test_scale_zero_is_the_identity_and_negative_scale_is_a_user_error():
    members = np.eye(4)
    assert np.array_equal(noise_mode(members, members, scale=0.0, rng=np.random.default_rng()), members)
    with pytest.raises(UserError, match="--noise-scale must be a non-negative number"):
        noise_mode(members, members, scale=-1.0, rng=np.random.default_rng())


def test_the_mode_says_it_has_no_formal_guarantee():
    assert "NO formal privacy guarantee" in NO_GUARANTEE
