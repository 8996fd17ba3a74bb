"""DCR / NNDR shares: exact neighbours from the pooled top K, and an interval that holds when
synthetic records cluster (as Private Evolution's output does)."""

import numpy as np

from audits.checks import distance
from audits.data import AuditData
from audits.io import Record
from audits.neighbors import PoolNeighbours
from audits.stats import bootstrap_mean_ci, permutation_interval, permutation_p_value


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _data(em: np.ndarray, eh: np.ndarray, es: np.ndarray, seed: int = 0) -> AuditData:
    recs = lambda n, p: [Record(f"{p}{i}", "x") for i in range(n)]  # noqa: E731
    return AuditData(recs(len(em), "m"), recs(len(eh), "h"), recs(len(es), "s"), seed=seed, _embeddings=(em, eh, es))


def test_two_nearest_from_the_pooled_top_k_equal_brute_force_also_when_k_is_short():
    rng = np.random.default_rng(0)
    pool, syn = _unit(rng.standard_normal((300, 6))), _unit(rng.standard_normal((40, 6)))
    nb = PoolNeighbours(syn, pool, k=5)  # small K: most rows need the exact fallback
    for frac in (0.5, 0.05):
        mask = rng.random(len(pool)) < frac
        exact = np.sort(1.0 - syn @ pool[mask].T, axis=1)[:, :2]
        np.testing.assert_allclose(nb.two_nearest(mask), np.clip(exact, 0, 2), atol=1e-6)


def test_permutation_interval_and_p_value():
    null = np.random.default_rng(1).normal(0.5, 0.05, 2000)
    lo, hi = permutation_interval(0.5, null)
    assert lo < 0.5 < hi and abs((hi - lo) - 2 * 1.96 * 0.05) < 0.02
    assert permutation_interval(0.62, null)[0] > 0.5  # beyond the 97.5th percentile (0.598)
    assert permutation_interval(0.58, null)[0] <= 0.5
    assert permutation_p_value(0.62, null) < 0.025 < permutation_p_value(0.58, null)


def _clustered_release(rng: np.random.Generator, centres: np.ndarray, copies: int) -> np.ndarray:
    return _unit(
        np.repeat(centres, copies, axis=0) + 0.02 * rng.standard_normal((len(centres) * copies, centres.shape[1]))
    )


def test_clustered_release_that_saw_no_member_gets_a_wide_interval_and_passes():
    # 20 independent draws, each copied 10 times with a little noise: 200 records but 20 coin
    # flips. A bootstrap over the 200 records would call most of these releases leaky.
    passed, boot_excludes_half, widths = 0, 0, []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        em, eh = _unit(rng.standard_normal((400, 8))), _unit(rng.standard_normal((200, 8)))
        es = _clustered_release(rng, _unit(rng.standard_normal((20, 8))), 10)
        data = _data(em, eh, es, seed)
        d = distance.nearest_distances(data, permutations=100)
        res = distance.dcr_share(data, distances=d)
        boot = bootstrap_mean_ci(distance._closer_share(d["member"][..., 0], d["holdout"][..., 0]), seed=seed)
        passed += res.passed
        boot_excludes_half += not (boot[0] <= 0.5 <= boot[1])
        widths.append((res.ci_high - res.ci_low) / (boot[1] - boot[0]))
    assert passed >= 7
    assert np.median(widths) > 2.0
    assert boot_excludes_half >= 3  # what the old interval did with the same data


def test_clustered_release_around_members_is_still_blocked():
    rng = np.random.default_rng(3)
    em, eh = _unit(rng.standard_normal((400, 8))), _unit(rng.standard_normal((200, 8)))
    es = _clustered_release(rng, em[:40], 5)  # variations of 40 members
    res = distance.dcr_share(_data(em, eh, es), distances=None)
    # members are subsampled to the holdout's size, so the source member is absent half the time
    assert res.value > 0.7 and res.ci_low > 0.6 and not res.passed
    assert res.evidence["p_value"] < 0.01


def test_a_one_record_subset_gives_its_record_as_both_neighbours():
    rng = np.random.default_rng(2)
    pool, syn = _unit(rng.standard_normal((50, 4))), _unit(rng.standard_normal((5, 4)))
    mask = np.zeros(50, dtype=bool)
    mask[7] = True
    d = PoolNeighbours(syn, pool, k=10).two_nearest(mask)
    np.testing.assert_allclose(d[:, 0], np.clip(1 - syn @ pool[7], 0, 2), atol=1e-6)
    np.testing.assert_array_equal(d[:, 0], d[:, 1])


def test_paraphrases_of_two_members_escape_the_test_but_not_the_level_ceiling():
    rng = np.random.default_rng(4)
    em, eh = _unit(rng.standard_normal((200, 8))), _unit(rng.standard_normal((200, 8)))
    data = _data(em, eh, _clustered_release(rng, em[:2], 100))
    d = distance.nearest_distances(data, permutations=100)
    test, level = distance.dcr_share(data, distances=d), distance.dcr_share_level(data, distances=d)
    assert test.value == level.value == 1.0
    assert test.passed  # two coin flips: never significant
    assert not level.passed and level.threshold.on == "ci_high" and level.threshold.bound == 0.80


def test_the_level_ceiling_fails_a_release_too_clustered_to_test_and_passes_a_spread_one():
    rng = np.random.default_rng(5)
    em, eh = _unit(rng.standard_normal((200, 8))), _unit(rng.standard_normal((200, 8)))
    # paraphrases of 2 members and 2 holdout records: share about 0.5, but only 4 coin flips
    few = _data(em, eh, _clustered_release(rng, np.r_[em[:2], eh[:2]], 50))
    d = distance.nearest_distances(few, permutations=100)
    level = distance.dcr_share_level(few, distances=d)
    assert abs(level.value - 0.5) < 0.15 and level.ci_high > 0.80 and not level.passed
    # one paraphrase each of 100 holdout records: many coin flips, a narrow interval
    spread = _data(em, eh, _clustered_release(rng, eh[:100], 1))
    level = distance.dcr_share_level(spread, distances=distance.nearest_distances(spread, permutations=100))
    assert level.ci_high < 0.80 and level.passed
