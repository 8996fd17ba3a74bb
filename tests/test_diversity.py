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
