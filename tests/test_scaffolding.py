"""The LM-scaffolding detector: each detector on what it is for, cutting, and recall on hand labels."""

import json
from pathlib import Path

import pytest

from privsynth import scaffolding
from privsynth.bridge import clean_sample

LABELS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "scaffolding_labels.jsonl"


@pytest.mark.parametrize(
    "text, detector",
    [
        ("Here's a potential SMS to a friend or family member: pub at 8?", "lead_in"),
        ("Sure! Here is a short spam text message: WIN a cruise", "lead_in"),
        ("SMS: call me later", "lead_in"),
        ("SEND THIS NOW:\nToday only, 50% off", "lead_in"),
        ("Hi [friend's name], see you at 5", "placeholder"),
        ("Dear {name}, your parcel is waiting", "placeholder"),
        ("Meet me at <address> at noon", "placeholder"),
        ("Pub at 8? I hope this helps!", "task_talk"),
        ("As an AI language model I cannot send texts", "task_talk"),
        ('"Call me." This simple, yet powerful message conveys comfort', "commentary"),
        ("The review said the film was dull", "commentary"),
        ("**Subject:** free tickets", "markdown"),
        ("This week's good news includes:", "dangling_lead_in"),
    ],
)
def test_each_detector_finds_what_it_is_for(text, detector):
    assert detector in scaffolding.find(text)


@pytest.mark.parametrize(
    "text",
    [
        "Ok. She'll be ok. I guess",
        "Sure, it's contrived and predictable, but its performances are so well tuned.",
        "Let me know if you need anything else. Salad or desert?",
        "Neither [in sterm voice] - i'm studying. All fine with me!",
        "URGENT! You have won a 1 week FREE membership in our 100,000 Prize Jackpot! Txt the word: CLAIM to 81010",
        "Do well :) all will be fine",
    ],
)
def test_ordinary_text_of_the_corpora_is_not_scaffolding(text):
    assert scaffolding.find(text) == []


def test_strip_cuts_lead_ins_quotes_and_trailing_talk_but_not_the_message():
    assert scaffolding.cut('Here\'s a potential SMS: "Hey, pub at 8?" I hope this helps!') == "Hey, pub at 8?"
    assert scaffolding.cut("Sure! Here is a short spam text message: WIN a cruise") == "WIN a cruise"
    assert scaffolding.cut("Ok. She'll be ok") == "Ok. She'll be ok"
    assert scaffolding.clean("Hi [friend's name], see you") is None  # a slot cannot be cut
    assert scaffolding.clean("Today's news includes:") is None
    assert scaffolding.clean("  see you at 5 ") == "see you at 5"


def test_lm_samples_with_a_slot_left_in_are_drawn_again():
    assert clean_sample("Hey [friend_name]!\n\nHow have you been?") == ""
    answer = 'Here\'s a possible SMS message:\n\n"WIN a free cruise! Text YES"'
    assert clean_sample(answer) == "WIN a free cruise! Text YES"


def test_recall_on_the_hand_labelled_outputs():
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 100 and {r["split"] for r in rows} == {"dev", "check"}
    pos = [r for r in rows if r["scaffolding"]]
    neg = [r for r in rows if not r["scaffolding"]]
    found = sum(bool(scaffolding.find(r["text"])) for r in pos)
    assert found / len(pos) >= 0.95, [r["id"] for r in pos if not scaffolding.find(r["text"])]
    assert sum(bool(scaffolding.find(r["text"])) for r in neg) <= 0.02 * len(neg)
