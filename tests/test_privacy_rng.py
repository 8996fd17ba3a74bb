"""The DP noise source: OS CSPRNG, standard normal, deaf to every seed."""

import numpy as np
import pytest
from scipy import stats

from privsynth.privacy.rng import secure_normal, secure_uniform


def test_seeding_numpy_does_not_replay_the_noise():
    np.random.seed(0)
    a = secure_normal(64)
    np.random.seed(0)
    b = secure_normal(64)
    assert not np.array_equal(a, b)


def test_samples_are_standard_normal_at_the_requested_scale():
    z = secure_normal(50_000, scale=3.0)
    assert stats.kstest(z / 3.0, "norm").pvalue > 1e-4
    assert np.std(z) == pytest.approx(3.0, rel=0.03)


def test_uniforms_stay_strictly_inside_the_unit_interval():
    u = secure_uniform(100_000)
    assert u.min() > 0 and u.max() < 1


def test_shape_and_negative_scale():
    assert secure_normal((2, 3)).shape == (2, 3)
    with pytest.raises(ValueError):
        secure_normal(3, scale=-1.0)
