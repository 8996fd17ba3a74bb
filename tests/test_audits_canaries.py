"""Canaries: the helper writes a planting file; exposure is high for copied secrets, low otherwise."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from audits.checks.canaries import canary_exposure, make_canaries, read_canaries, write_canaries
from audits.errors import AuditInputError

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "sms_spam.csv"


@pytest.fixture(scope="module")
def texts():
    with DATA.open(encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f)]


def test_canary_file_round_trips_and_is_seeded(tmp_path):
    cs = make_canaries(5, seed=3)
    assert cs == make_canaries(5, seed=3) and cs != make_canaries(5, seed=4)
    assert all(c.text.endswith(c.secret) and len(c.secret) == 8 for c in cs)
    write_canaries(tmp_path / "c.jsonl", cs)
    assert read_canaries(tmp_path / "c.jsonl") == cs


def test_copied_canaries_show_high_exposure(texts):
    # positive control: canaries repeated in members and copied into the synthetic text
    cs = make_canaries(4, seed=1)
    synthetic = texts[:1500] + [c.text for c in cs for _ in range(3)]
    r = canary_exposure(cs, synthetic, n_alternatives=2000)
    assert r.value > 10.0 and not r.passed
    assert r.evidence["secrets_verbatim_in_synthetic"] == 4
    assert all(w["share_of_secret_surfacing"] == 1.0 for w in r.evidence["worst"])


def test_unplanted_canaries_show_chance_exposure(texts):
    cs = make_canaries(6, seed=2)
    r = canary_exposure(cs, texts[:1500], n_alternatives=2000)
    assert r.passed and r.evidence["mean_exposure_bits"] < 3.5 and r.evidence["secrets_verbatim_in_synthetic"] == 0


def test_bad_canary_file_names_the_row(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(
        '{"id": "a", "text": "code ABC", "secret": "ABC"}\n{"id": "b", "text": "no secret", "secret": "XYZ"}\n'
    )
    with pytest.raises(AuditInputError, match=r"row 2: the secret does not occur"):
        read_canaries(f)


def test_canaries_carry_no_input_text(texts):
    """A canary's words come from the public word list, never from a record: make_canaries takes
    no texts, and no canary (or its prefix) is a record of a real corpus."""
    cs = make_canaries(50, seed=0)
    corpus = {t.casefold() for t in texts}
    assert not any(c.text.casefold() in corpus or c.prefix.casefold().strip() in corpus for c in cs)
    import inspect

    assert "texts" not in inspect.signature(make_canaries).parameters
