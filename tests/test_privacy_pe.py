"""Private Evolution end to end on a small problem, with a real retrieval decoder.

The encoder is TF-IDF + SVD fitted on public text; the decoder returns the public sentence
nearest to each vector. Members are Brown sentences of two genres, kept out of every public
pool, so PE can only move toward them through the noisy votes.
"""

import csv
import gzip
import io

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from test_privacy_accountant import assert_ledger_matches_libraries

from privsynth.errors import UserError
from privsynth.privacy.pe import PUBLIC_SENTENCES, PrivateEvolution
from privsynth.privacy.planner import PURPOSE_COUNTS, PURPOSE_VOTES

# Two classes defined by topic words; every other Brown sentence is background.
TOPICS = {
    "church": {"god", "church", "christ", "faith", "lord", "prayer", "religious", "spirit", "worship"},
    "sport": {"game", "team", "ball", "player", "players", "season", "coach", "league", "baseball", "football"},
}
GENRES = tuple(TOPICS)


def topic_of(text):
    words = set(text.lower().replace(",", " ").replace(".", " ").split())
    hits = [t for t, vocab in TOPICS.items() if words & vocab]
    return hits[0] if len(hits) == 1 else None


class TfidfEncoder:
    def __init__(self, corpus):
        self.tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit(corpus)
        self.svd = TruncatedSVD(300, random_state=0).fit(self.tfidf.transform(corpus))

    def encode(self, texts):
        V = self.svd.transform(self.tfidf.transform(texts))
        return (V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class RetrievalDecoder:
    """Decodes a vector to the nearest sentence of a public pool (counts its calls)."""

    def __init__(self, pool, encoder):
        self.pool = list(pool)
        self.P = encoder.encode(self.pool)
        self.calls = 0

    def decode(self, vectors, *, n_candidates=8, seed=0, encoder=None):
        self.calls += 1
        return [self.pool[i] for i in np.argmax(np.asarray(vectors) @ self.P.T, axis=1)]


@pytest.fixture(scope="module")
def world():
    with gzip.open(PUBLIC_SENTENCES, "rb") as f:
        rows = [r for r in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")) if len(r["text"].split()) >= 6]
    rng = np.random.default_rng(7)
    rng.shuffle(rows)
    by_topic = {t: [r for r in rows if topic_of(r["text"]) == t] for t in TOPICS}
    members = [r for t in TOPICS for r in by_topic[t][:150]]
    background = [r for r in rows if topic_of(r["text"]) is None]
    # Public text holds other topic sentences (never the members' own): 100 of each among
    # 1,500 background ones, about 6% per topic. The decoder and the seed pool draw on it.
    decode_pool = [r for t in TOPICS for r in by_topic[t][150:250]] + background[:1500]
    seed_pool = [decode_pool[i]["text"] for i in rng.choice(len(decode_pool), 600, replace=False)]
    genre_of = {r["text"]: topic_of(r["text"]) for r in decode_pool}
    encoder = TfidfEncoder([r["text"] for r in decode_pool] + seed_pool)
    X = encoder.encode([r["text"] for r in members])
    y = [topic_of(r["text"]) for r in members]
    return dict(
        X=X,
        y=y,
        encoder=encoder,
        decode_pool=[r["text"] for r in decode_pool],
        seed_pool=seed_pool,
        genre_of=genre_of,
        member_texts=[r["text"] for r in members],
    )


def PE(epsilon, **kw):
    """PrivateEvolution with the world's label set declared (dp never reads it from the data)."""
    kw.setdefault("labels", list(GENRES))
    return PrivateEvolution(epsilon, **kw)


def _run(world, pe, **kw):
    dec = RetrievalDecoder(world["decode_pool"], world["encoder"])
    out = pe.generate(world["X"], world["y"], world["encoder"], dec, public_texts=world["seed_pool"], **kw)
    return (out.texts, out.labels, out.ledger), dec


def _genre_share(texts, labels, world, genre):
    hits = [world["genre_of"].get(t) == genre for t, lab in zip(texts, labels) if lab == genre]
    return float(np.mean(hits))


def test_small_noise_pulls_the_population_toward_the_members_topics(world):
    pe = PE(20.0, rounds=3, population_per_class=64)
    (texts, labels, ledger), _ = _run(world, pe, n_per_class=40, rng_seed=2)

    def share(rec):
        return np.mean([_genre_share(rec.texts, [GENRES[c] for c in rec.classes], world, g) for g in GENRES])

    # public text is ~6% per topic; the noisy votes alone must raise it
    assert share(pe.history_[-1]) > share(pe.history_[0]) + 0.1
    assert np.mean([_genre_share(texts, labels, world, g) for g in GENRES]) > share(pe.history_[0]) + 0.1
    assert sorted(set(labels)) == sorted(GENRES) and len(texts) == 80


def test_votes_concentrate_on_candidates_near_the_members(world):
    pe = PE(20.0, rounds=1, population_per_class=64, vote="own-class")  # every vote counts
    _run(world, pe, n_per_class=5, rng_seed=3)
    r = pe.history_[0]
    C = world["encoder"].encode(r.texts)
    X, y = world["X"], np.array(world["y"])
    # closeness of a candidate to its class = similarity to its nearest member of that class
    near = np.array([(X[y == GENRES[c]] @ C[i]).max() for i, c in enumerate(r.classes)])
    rho = spearmanr(r.noisy_votes, near).statistic
    assert rho > 0.3
    # the noisy votes of each class add up to its member count (one vote per record)
    for c in range(len(GENRES)):
        assert r.noisy_votes[r.classes == c].sum() == pytest.approx(150, abs=25)


def test_ledger_has_one_event_per_round_and_passes_the_library_checks(world):
    pe = PE(4.0, rounds=2, population_per_class=16)
    (texts, labels, ledger), _ = _run(world, pe, n=60, rng_seed=0)
    d = ledger.to_dict()
    assert [(e["purpose"], e["steps"]) for e in d["events"]] == [(PURPOSE_COUNTS, 1), (PURPOSE_VOTES, 2)]
    assert all(e["sample_rate"] == 1.0 for e in d["events"])
    assert d["epsilon"] <= 4.0 and d["delta"] == pytest.approx(1e-6)
    assert_ledger_matches_libraries(d)
    assert len(texts) == 60  # DP class counts split n


def test_progress_log_names_each_round_and_never_a_member_text(world):
    heard: list[str] = []
    pe = PE(4.0, rounds=2, population_per_class=16)
    _run(world, pe, n_per_class=5, rng_seed=0, log=heard.append)
    assert [m.split(":")[0] for m in heard if m.startswith("round")] == ["round 1/2", "round 2/2"]
    assert heard[0].startswith("DP class counts") and heard[1].startswith("Private Evolution")
    assert "10 output records" in heard[-1]
    assert not [m for m in heard if any(t in m for t in world["member_texts"])]


def test_same_seed_gives_different_noise(world):
    runs = []
    for _ in range(2):
        pe = PE(8.0, rounds=1, population_per_class=16)
        _run(world, pe, n_per_class=4, rng_seed=11)
        runs.append(pe.history_[0])
    # same seed: same public seeds, same candidates, same exact votes ...
    assert runs[0].texts == runs[1].texts
    # ... yet the DP noise differs, so it cannot be replayed from the seed
    diff = runs[0].noisy_votes - runs[1].noisy_votes
    assert np.all(diff != 0)
    assert np.std(diff) > 0.3 * pe.plan().noise_multiplier


def test_one_vote_per_person_with_user_ids(world):
    people = np.repeat(np.arange(100), 3)  # 100 people with 3 records each, one genre each
    pe = PE(20.0, rounds=1, population_per_class=16, vote="own-class")  # every vote counts
    _run(world, pe, n_per_class=4, rng_seed=0, user_ids=people)
    assert pe.history_[0].noisy_votes.sum() == pytest.approx(100, abs=20)
    # the open vote: still at most one vote per person (some are dropped), never three per person
    pe = PE(20.0, rounds=1, population_per_class=16, vote="all")
    _run(world, pe, n_per_class=4, rng_seed=0, user_ids=people)
    assert 0 < pe.history_[0].noisy_votes.sum() <= 100 + 20


def test_a_class_too_small_by_its_dp_count_is_refused_before_any_decoding(world):
    X, y = world["X"][:150], world["y"][:150]  # 150 church, no sport
    # a large count share makes the count noise small against the vote threshold (about 4.5 sd)
    pe = PE(1.0, rounds=5, population_per_class=8, count_share=0.5)
    dec = RetrievalDecoder(world["decode_pool"][:50], world["encoder"])
    with pytest.raises(
        UserError,
        match=r"class\(es\) 'sport' \(about \d+\) have fewer than \d+ records by the DP "
        r"count.*raise --epsilon to about",
    ):
        pe.generate(X, y, world["encoder"], dec, n_per_class=5, public_texts=world["seed_pool"])
    assert dec.calls == 0


def test_labels_outside_the_given_label_set_are_refused(world):
    pe = PE(4.0, rounds=1, labels=["religion"])
    with pytest.raises(UserError, match="not in the declared label set"):
        pe.generate(world["X"], world["y"], world["encoder"], None, n_per_class=2)


class PromptedRetrievalDecoder(RetrievalDecoder):
    """Adds Aug-PE's random API: a 'prompt' is a topic word; samples are public pool sentences
    that contain it (what a public LM asked for that topic would write, in miniature)."""

    def __init__(self, pool, encoder):
        super().__init__(pool, encoder)
        self.prompted = []

    def sample_prompted(self, prompt, n, *, seed=0):
        self.prompted.append((prompt, n))
        on_topic = [t for t in self.pool if prompt in t.lower().split()]
        rng = np.random.default_rng(seed)
        return [on_topic[i] for i in rng.choice(len(on_topic), n, replace=len(on_topic) < n)]


def test_class_prompts_seed_the_population_with_on_topic_public_text(world):
    def run(prompts):
        pe = PE(4.0, rounds=2, population_per_class=32, class_prompts=prompts)
        dec = PromptedRetrievalDecoder(world["decode_pool"], world["encoder"])
        texts, labels, *_ = pe.generate(
            world["X"], world["y"], world["encoder"], dec, n_per_class=30, rng_seed=5, public_texts=world["seed_pool"]
        )
        first = pe.history_[0]
        start = np.mean([_genre_share(first.texts, [GENRES[c] for c in first.classes], world, g) for g in GENRES])
        return start, np.mean([_genre_share(texts, labels, world, g) for g in GENRES]), dec

    plain_start, plain_end, _ = run(None)
    start, end, dec = run({"church": "god", "sport": "game"})
    # 0.75 x 32 = 24 of each class's 32 seeds come from its prompt, the rest from the Brown pool
    assert sorted(dec.prompted) == [("game", 24), ("god", 24)]
    assert start > plain_start + 0.4
    assert end > plain_end + 0.2


def test_a_prompt_for_a_label_the_data_lacks_is_refused(world):
    pe = PrivateEvolution(4.0, rounds=1, population_per_class=8, class_prompts={"chruch": "god"})
    dec = PromptedRetrievalDecoder(world["decode_pool"], world["encoder"])
    with pytest.raises(UserError, match="chruch"):
        pe.generate(world["X"], world["y"], world["encoder"], dec, n_per_class=2, public_texts=world["seed_pool"])
    assert dec.calls == 0 and dec.prompted == []


def test_parse_class_prompts():
    from privsynth.privacy.pe import parse_class_prompts

    assert parse_class_prompts(["spam=Write a spam SMS: win = prize", " ham = Hi "]) == {
        "spam": "Write a spam SMS: win = prize",
        "ham": "Hi",
    }
    for bad in (["spam"], ["=x"], ["spam="], ["a=x", "a=y"]):
        with pytest.raises(UserError):
            parse_class_prompts(bad)


def test_the_output_starts_with_the_best_last_survivors_as_they_are(world):
    pe = PE(20.0, rounds=2, population_per_class=32, elite_fraction=0.25, tidy_rounds=0)
    (texts, labels, _), _ = _run(world, pe, n_per_class=40, rng_seed=4)
    last = pe.history_[-1]
    for c, genre in enumerate(GENRES):
        s = last.survivors[last.classes[last.survivors] == c]
        best = [last.texts[i] for i in s[np.argsort(-last.noisy_votes[s], kind="stable")][:10]]
        assert [t for t, y in zip(texts, labels) if y == genre][:10] == best
    assert len(texts) == 80


def test_class_check_replaces_outputs_that_decoded_into_another_class(world):
    # own-class votes: the open vote (the default) already leaves no mismatch to mend in this world
    pe = PE(
        20.0,
        rounds=2,
        population_per_class=32,
        elite_fraction=0.25,
        class_check_rounds=3,
        vote="own-class",
        tidy_rounds=0,
    )
    (texts, labels, _), _ = _run(world, pe, n_per_class=60, rng_seed=5)
    assert len(texts) == 120
    assert pe.class_mismatch_initial_ > 0 and pe.class_mismatch_ < pe.class_mismatch_initial_
    # what it counts is what the output holds: decoded records nearer another class's survivor centroid
    last = pe.history_[-1]
    S, cls = world["encoder"].encode([last.texts[i] for i in last.survivors]), last.classes[last.survivors]
    cent = np.stack([S[cls == c].mean(0) for c in range(len(GENRES))])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    n_verbatim = [min(int(0.25 * 60), int((cls == c).sum())) for c in range(len(GENRES))]
    decoded = [
        (t, y)
        for c, genre in enumerate(GENRES)
        for t, y in [(t, y) for t, y in zip(texts, labels) if y == genre][n_verbatim[c] :]
    ]
    E = world["encoder"].encode([t for t, _ in decoded])
    wrong = sum(GENRES[int(np.argmax(e @ cent.T))] != y for e, (_, y) in zip(E, decoded))
    assert wrong == pe.class_mismatch_


def test_open_vote_counts_only_a_nearest_candidate_of_the_voters_class_and_has_sensitivity_1():
    from privsynth.privacy.mechanisms import vote_histogram as _vote_histogram

    rng = np.random.default_rng(0)
    C = rng.standard_normal((6, 5))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    cand_class = np.array([0, 0, 0, 1, 1, 1])
    X = np.concatenate([C + 0.05 * rng.standard_normal(C.shape) for _ in range(4)])  # 4 members near each candidate
    member_class = np.tile([0, 1, 1, 1, 0, 1], 4)  # near candidates 1 and 2 (class 0) sit class-1 members
    own = _vote_histogram(X, member_class, C, cand_class, among="own-class")
    open_ = _vote_histogram(X, member_class, C, cand_class, among="all")
    np.testing.assert_array_equal(open_, [4, 0, 0, 4, 0, 4])  # the class-1 votes near 1, 2 are dropped
    # own-class: every member votes, the class-1 members near candidates 1 and 2 for class-1 ones
    assert own.sum() == len(X) and own[cand_class == 1].sum() == (member_class == 1).sum()
    for i in range(len(X)):  # removing any one member moves at most one count by 1
        keep = np.arange(len(X)) != i
        diff = np.abs(_vote_histogram(X[keep], member_class[keep], C, cand_class, among="all") - open_)
        assert diff.sum() <= 1


def test_open_vote_runs_end_to_end_and_a_bad_vote_is_refused(world):
    pe = PE(8.0, rounds=2, population_per_class=16, vote="all")
    (texts, labels, ledger), _ = _run(world, pe, n_per_class=10, rng_seed=0)
    assert len(texts) == 20 and [e["purpose"] for e in ledger.to_dict()["events"]] == [PURPOSE_COUNTS, PURPOSE_VOTES]
    with pytest.raises(UserError, match="vote must be one of own-class, all"):
        _run(world, PE(8.0, vote="nearest"), n_per_class=10)


class LengthAwareDecoder(RetrievalDecoder):
    """The retrieval decoder with a whitespace tokenizer; records the length floors it is given."""

    def __init__(self, pool, encoder):
        super().__init__(pool, encoder)
        self.floors = []

    @staticmethod
    def tokenizer(texts, add_special_tokens=False):
        from types import SimpleNamespace

        return SimpleNamespace(input_ids=[t.split() for t in texts])

    def decode(self, vectors, *, n_candidates=8, seed=0, encoder=None, min_new_tokens=None):
        self.floors.append(min_new_tokens)
        return super().decode(vectors, n_candidates=n_candidates, seed=seed, encoder=encoder)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_min_length_share_holds_each_variation_to_a_share_of_its_nearer_survivor(world, share):
    pe = PE(8.0, rounds=2, population_per_class=16, class_check_rounds=0, min_length_share=share, tidy_rounds=0)
    dec = LengthAwareDecoder(world["decode_pool"], world["encoder"])
    texts, *_ = pe.generate(
        world["X"], world["y"], world["encoder"], dec, public_texts=world["seed_pool"], n_per_class=10, rng_seed=0
    )
    # calls: the initial population (public seeds: no parents), one next population, the output
    assert len(dec.floors) == 3 and dec.floors[0] is None
    if share == 0:
        assert dec.floors == [None, None, None]
        return
    last = pe.history_[-1]
    allowed = {round(share * len(last.texts[i].split())) for i in last.survivors}
    elites = sum(min(int(pe.elite_fraction * 10), int(np.sum(last.classes[last.survivors] == c))) for c in (0, 1))
    final = dec.floors[-1]
    assert len(final) == len(texts) - elites and set(final.tolist()) <= allowed and all(f > 0 for f in final)
    first = pe.history_[0]
    assert set(dec.floors[1].tolist()) <= {round(share * len(first.texts[i].split())) for i in first.survivors}


def test_variations_name_the_nearer_parent_on_either_side_of_the_midpoint():
    """With two survivors per class the pair is fixed, so the nearer parent can be checked."""
    rng = np.random.default_rng(0)
    S = rng.normal(size=(4, 16)).astype(np.float32)
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    s_cls = np.array([0, 0, 1, 1])
    pe = PE(4.0, lam_range=(0.05, 0.95))
    Z, zc, parent = pe._variations(S, s_cls, {0: 50, 1: 50}, rng, np.ones(4))
    other = np.array([1, 0, 3, 2])[parent]
    assert (zc == s_cls[parent]).all()
    assert (np.einsum("nd,nd->n", Z, S[parent]) >= np.einsum("nd,nd->n", Z, S[other]) - 1e-6).all()
    assert len(set(parent[zc == 0].tolist())) == 2  # both sides of the midpoint occur


def test_a_min_length_share_outside_0_1_is_refused(world):
    with pytest.raises(UserError, match="min_length_share"):
        _run(world, PE(4.0, rounds=1, population_per_class=8, min_length_share=1.5), n_per_class=2)


def test_final_neighbors_spreads_the_output_over_more_survivor_pairs():
    """At lambda 0.5 each variation is its pair's midpoint, so distinct outputs count pairs."""
    rng = np.random.default_rng(0)
    S = rng.normal(size=(10, 16)).astype(np.float32)
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    s_cls = np.zeros(10, dtype=np.int64)
    pe = PE(4.0, lam_range=(0.5, 0.5), k_neighbors=1)

    def pairs(k):
        Z, _, _ = pe._variations(S, s_cls, {0: 400}, np.random.default_rng(1), np.ones(10), k=k)
        return len({tuple(np.round(z, 5)) for z in Z})

    assert pairs(None) <= 10  # k_neighbors = 1: each survivor with its nearest only
    assert pairs(9) >= 40  # every other survivor: up to 45 pairs


def test_final_neighbors_runs_end_to_end_and_a_bad_value_is_refused(world):
    pe = PE(8.0, rounds=2, population_per_class=16, final_neighbors=15)
    (texts, labels, _), _ = _run(world, pe, n_per_class=30, rng_seed=0)
    assert len(texts) == 60 and sorted(set(labels)) == sorted(GENRES)
    for bad in (0, 2.5, True):
        with pytest.raises(UserError, match="final_neighbors must be a positive integer"):
            _run(world, PE(4.0, rounds=1, population_per_class=8, final_neighbors=bad), n_per_class=2)


class SamplingRetrievalDecoder(RetrievalDecoder):
    """Like the bridge: n_candidates texts drawn (by seed) among each vector's nearest public
    sentences, and the bridge's own choice among them (closest cosine, ``avoid`` last)."""

    def decode(self, vectors, *, n_candidates=8, seed=0, encoder=None, avoid=None):
        from privsynth.bridge import _closest

        self.calls += 1
        rng = np.random.default_rng(seed)
        near = np.argsort(-(np.asarray(vectors) @ self.P.T), axis=1)[:, : 3 * n_candidates]
        cands = [[self.pool[i] for i in rng.choice(row, n_candidates, replace=False)] for row in near]
        return [t for t, _, _ in _closest(cands, np.asarray(vectors), encoder, avoid=avoid)]


def test_tidy_replaces_outputs_that_repeat_another_and_counts_what_is_left(world):
    from privsynth.diversity import repeats

    pe = PE(20.0, rounds=2, population_per_class=32, tidy_rounds=3)
    dec = SamplingRetrievalDecoder(world["decode_pool"], world["encoder"])
    out = pe.generate(world["X"], world["y"], world["encoder"], dec, public_texts=world["seed_pool"], n_per_class=60)
    assert pe.tidy_initial_ > 10  # a few public sentences lie near each class: decodes repeat
    assert int(repeats(out.texts).sum()) == pe.tidy_left_ < pe.tidy_initial_ / 2
    assert len(out.texts) == 120 and sorted(out.labels) == sorted([GENRES[0]] * 60 + [GENRES[1]] * 60)
    plain = PE(20.0, rounds=2, population_per_class=32, tidy_rounds=0)
    dec0 = SamplingRetrievalDecoder(world["decode_pool"], world["encoder"])
    plain.generate(world["X"], world["y"], world["encoder"], dec0, public_texts=world["seed_pool"], n_per_class=60)
    assert dec.calls > dec0.calls and not hasattr(plain, "tidy_initial_")


def test_tidy_cuts_lead_ins_and_replaces_template_slots(world):
    from privsynth import scaffolding

    pool = list(world["decode_pool"])
    for i in range(0, 200, 2):
        pool[i] = "Here's a potential text message: " + pool[i]
    for i in range(1, 200, 4):
        pool[i] = "Hi [friend's name], " + pool[i]
    found = {}
    for rounds in (0, 3):
        pe = PE(20.0, rounds=2, population_per_class=32, tidy_rounds=rounds)
        dec = SamplingRetrievalDecoder(pool, world["encoder"])
        out = pe.generate(
            world["X"], world["y"], world["encoder"], dec, public_texts=world["seed_pool"], n_per_class=60
        )
        found[rounds] = sum(bool(scaffolding.find(t)) for t in out.texts)
        if rounds:
            assert not any(t.startswith("Here's a potential") for t in out.texts)
    assert found[0] > 0 and found[3] < found[0]


def test_population_candidates_apply_to_population_decodes_only(world):
    class Recording(RetrievalDecoder):
        def decode(self, vectors, *, n_candidates=8, seed=0, encoder=None):
            self.asked = [*getattr(self, "asked", []), (len(vectors), n_candidates)]
            return super().decode(vectors, n_candidates=n_candidates, seed=seed, encoder=encoder)

    dec = Recording(world["decode_pool"], world["encoder"])
    pe = PE(4.0, rounds=2, population_per_class=16, n_candidates=3, population_candidates=1, class_check_rounds=0)
    pe.generate(world["X"], world["y"], world["encoder"], dec, n_per_class=5, public_texts=world["seed_pool"])
    asked = {k for _, k in dec.asked}
    assert asked == {1, 3}  # population members with 1 candidate, the output with 3
    assert dec.asked[0][1] == 1  # the initial population
    assert PE(4.0, n_candidates=3)._population_candidates == 3  # default: as many as the output
