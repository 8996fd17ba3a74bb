"""Repeats within a synthetic set, and the figures that summarise its diversity."""

import numpy as np

from privsynth.diversity import diversity, normalize, repeats


def test_repeats_marks_later_exact_and_near_copies_only():
    texts = [
        "See you at the pub at eight tonight, bring the cards",
        "see you at the pub at eight tonight -- bring the cards!",  # same words
        "See you at the pub at eight tonight, bring the cards please",  # near (5-gram Jaccard > 0.7)
        "The film is a great spectacle with a dull plot",
        "Call 0800 123 456 now to claim your free prize",
    ]
    assert repeats(texts).tolist() == [False, True, True, False, False]
    assert repeats(texts, jaccard=1.0).tolist() == [False, True, False, False, False]


def test_repeats_on_many_texts_in_blocks_matches_one_block():
    rng = np.random.default_rng(0)
    words = ["pub", "film", "free", "call", "now", "prize", "see", "you", "later", "plot"]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(300)]
    assert (repeats(texts, block=37) == repeats(texts, block=4096)).all()


def test_diversity_figures():
    d = diversity(["a b c", "a b c", "a b d"])
    assert d["records"] == 3 and d["exact_repeat_share"] == 1 / 3
    assert d["distinct_bigram_share"] == 3 / 6 and d["vocabulary"] == 4
    assert normalize("  Hello,  WORLD!! it's me ") == "hello world it's me"


def test_the_data_card_states_the_synthetic_sets_fidelity():
    from privsynth import datacard

    texts = ["see you at the pub", "see you at the pub", "Hi [friend's name], free tickets today", "the plot is dull"]
    fid = datacard.fidelity(texts)
    assert fid["exact_repeat_share"] == 0.25 and fid["records_with_lm_scaffolding"] == 1
    assert fid["words_p10_median_p90"][1] == 5
    card = datacard.render(
        synthetic_labels=["a", "a", "b", "b"],
        synthetic_texts=texts,
        privacy={"mode": "none"},
        models={},
        policy={},
        seed=0,
        created="2026-01-01T00:00:00Z",
        version="0",
        signed=False,
    )
    assert datacard.read_front_matter(card)["fidelity"] == fid
    assert "## Fidelity (computed from synthetic.csv alone)" in card and "| 25.0% |" in card
