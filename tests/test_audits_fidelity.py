"""The fidelity figures: repeats and diversity of a set, lengths, class shares, and train on
synthetic / test on holdout against the same model trained on members."""

from __future__ import annotations

import random

import pytest

import audits
from audits.fidelity import ks_statistic, set_figures
from audits.html import render_html

TOPICS = {
    "sport": "the team won the game and the players played football in the league season",
    "food": "the cook baked bread and the soup had onions garlic and fresh tomatoes for dinner",
}


def _records(n: int, seed: int, role: str) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "sport" if i % 2 else "food"
        words = TOPICS[label].split()
        out.append(
            {"id": f"{role}{i}", "text": " ".join(rng.sample(words, 8)) + f" {rng.randrange(10**6)}", "label": label}
        )
    return out


def test_set_figures_count_exact_and_near_repeats_once_per_extra_copy():
    texts = ["See you at noon!", "see you at noon", "a completely different sentence here", "see you at noon."]
    f = set_figures(texts)
    assert f["records"] == 4 and f["exact_repeat_share"] == 0.5  # two texts repeat the first
    assert f["near_repeat_share"] >= 0.5 and f["vocabulary"] == 9
    assert set_figures(["one two three", "four five six"])["exact_repeat_share"] == 0.0


def test_ks_statistic_is_0_for_the_same_sample_and_1_for_disjoint_ones():
    assert ks_statistic([1, 2, 3], [3, 2, 1]) == 0.0
    assert ks_statistic([1, 2, 3], [10, 11]) == 1.0
    assert 0 < ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) < 1


@pytest.mark.parametrize("shuffle_labels", [False, True])
def test_train_on_synthetic_tracks_whether_the_labels_carry_signal(shuffle_labels):
    members, holdout = _records(120, 0, "m"), _records(80, 1, "h")
    synthetic = _records(100, 2, "s")
    if shuffle_labels:  # labels that say nothing about the text: the share must fall
        rng = random.Random(3)
        labels = [r["label"] for r in synthetic]
        rng.shuffle(labels)
        synthetic = [{**r, "label": y} for r, y in zip(synthetic, labels)]
    report = audits.run(members, holdout, synthetic, encoder="hashing", seed=0)
    fid = report.to_dict()["fidelity"]
    tstr = fid["train_on_synthetic"]
    for kind in ("tfidf_lr", "embedding_lr"):
        t = tstr[kind]
        lo, hi = t["synthetic_macro_f1"]["ci95"]
        assert lo <= t["synthetic_macro_f1"]["value"] <= hi
        assert t["members_macro_f1"]["value"] > 0.9
        if shuffle_labels:
            assert t["share_of_members"] < 0.8
        else:
            assert t["share_of_members"] > 0.9
    assert fid["class_shares"]["members"] == {"food": 0.5, "sport": 0.5}
    html = render_html(report)
    assert "Fidelity: is the data worth using?" in html and "trained on synthetic" in html


def test_without_labels_the_figures_of_the_texts_alone_are_reported():
    members, holdout, synthetic = (
        [r["text"] for r in _records(n, s, p)] for n, s, p in ((60, 0, "m"), (40, 1, "h"), (50, 2, "s"))
    )
    fid = audits.run(members, holdout, synthetic, encoder="hashing", seed=0).to_dict()["fidelity"]
    assert "train_on_synthetic" not in fid and "class_shares" not in fid
    assert fid["synthetic"]["records"] == 50 and 0 <= fid["length_words"]["ks_statistic_vs_members"] <= 1
