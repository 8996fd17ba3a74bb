"""The robustness benchmark: its case table, its verdicts, and a few of its cases run through the real CLI
(one or two per family), each held to the outcome the table states for it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import robustness as rb  # noqa: E402

SUBSET = [
    "csv_baseline",  # success, every row read
    "csv_rtl_marks_only",  # success, the invisible texts removed and counted
    "csv_non_utf8_middle",  # user_error naming the file and the encoding
    "jsonl_invalid_json_line",  # user_error naming the row
    "parquet_text_list",  # user_error naming the row, the value never echoed
    "policy_unknown_release_key",  # user_error naming the key
    "verify_flipped_byte_synthetic",  # gate: verify names the changed file
    "out_existing_file",  # user_error naming --out, before the input is read
]


def test_every_case_has_a_unique_name_a_family_and_a_stated_outcome():
    assert len(rb.CASES_BY_NAME) == len(rb.CASES) >= 60
    assert {c.expect for c in rb.CASES} <= {"success", "user_error", "gate"}
    families = {"input_csv", "input_jsonl", "input_parquet", "policy", "manifest", "filesystem"}
    assert {c.family for c in rb.CASES} == families
    assert set(SUBSET) <= set(rb.CASES_BY_NAME)


@pytest.mark.parametrize("name", SUBSET)
def test_a_case_run_through_the_cli_gets_its_stated_outcome(name, tmp_path):
    r = rb.run_case(rb.CASES_BY_NAME[name], tmp_path)
    assert r["ok"], r
    assert r["actual"] == r["expected"] and not r["traceback"]
    assert r["private_text_in_logs"] == 0 and r["rows_lost"] == 0 and not r["partial_release"]


def test_the_outcome_is_what_a_user_saw():
    progress = "privsynth: [1/6] validate: reading f.csv (0s elapsed)\n"
    assert rb.classify(0, "{}", progress) == "success"
    assert rb.classify(2, "", progress + "privsynth: error: f.csv: row 3: empty label\n") == "user_error"
    assert rb.classify(2, "", "privsynth: error: f.csv: one\nprivsynth: error: f.csv: two\n") == "unclear_error"
    assert (
        rb.classify(2, "", "Usage: privsynth release [OPTIONS] INPUT\nError: No such option: --x\n") == "unclear_error"
    )
    assert rb.classify(2, "", progress + "privsynth: error: f.csv: bad\nwarning: trailing line\n") == "unclear_error"
    assert rb.classify(1, "", rb.TRACEBACK + "\n  File ...\nValueError: x\n") == "traceback"
    assert rb.classify(3, "", "MISMATCH: synthetic.csv: SHA-256 does not match\n") == "gate"
    assert rb.classify(None, "", "") == "timeout"


def test_the_checks_catch_lost_rows_leaked_text_and_an_error_that_names_nothing():
    case = rb.CASES_BY_NAME["csv_baseline"]
    run = rb.Run([], rows=80, names="csv_baseline.csv")
    _, why, counts = rb.check(case, run, 0, "", "privsynth: read 70 rows, kept 70\n")
    assert counts["rows_lost"] == 10 and any("read 70" in w for w in why)
    _, why, _ = rb.check(case, run, 0, "", "privsynth: read 80 rows, kept 78\n")
    assert any("removed 2" in w for w in why)
    _, why, counts = rb.check(case, run, 0, f"{rb.MARK}0001", "privsynth: read 80 rows, kept 80\n")
    assert counts["private_text_in_logs"] == 1 and why
    error = rb.CASES_BY_NAME["csv_empty_file"]
    _, why, _ = rb.check(error, rb.Run([], names="csv_empty_file.csv"), 2, "", "privsynth: error: file is empty\n")
    assert any("does not name" in w for w in why)
