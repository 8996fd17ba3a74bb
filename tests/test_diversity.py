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


def test_formula_like_texts_stay_verbatim_in_the_csv_and_the_card_counts_them():
    """synthetic.csv keeps a text that a spreadsheet would run exactly; the card warns and counts."""
    import csv
    import io

    from privsynth import datacard
    from privsynth.export import csv_bytes

    texts = ['=HYPERLINK("http://x","y")', "+1 call now", "-- the plot, again", "@home tonight", "plain text"]
    rows = list(csv.reader(io.StringIO(csv_bytes(texts, ["a"] * 5).decode("utf-8"), newline="")))
    assert [r[0] for r in rows[1:]] == texts
    assert datacard.fidelity(texts)["records_starting_like_a_formula"] == 4
    card = datacard.render(
        synthetic_labels=["<b>x</b>"] * 5,
        synthetic_texts=texts,
        privacy={"mode": "none"},
        models={},
        policy={},
        seed=0,
        created="t",
        version="v",
        signed=False,
    )
    assert "(4 of the records here start so)" in card and "<b>" not in card.split("---\n", 2)[2]
