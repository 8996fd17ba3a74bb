"""The CLI contract through click's CliRunner: reports, exit codes, one-line input errors, no PII out."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from audits.cli import audit_command

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "sms_spam.csv"
EMAIL = "jonas.whitfield@example.org"
PHONE = "+1 415 555 2671"


def _ham(n: int, start: int = 0) -> list[dict]:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == "ham" and len(r["text"]) > 40]
    seen, out = set(), []
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
    return out[start : start + n]


def _write(path: Path, rows: list[dict], fields=("id", "text", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _invoke(*args: str):
    return CliRunner().invoke(audit_command, ["--encoder", "hashing", *args])


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    members = _ham(60)
    members[0] = {**members[0], "text": f"mail me at {EMAIL} or ring {PHONE} after six"}
    holdout = _ham(60, start=60)
    synthetic = _ham(60, start=120)
    synthetic[5] = {**synthetic[5], "text": f"ok so {EMAIL} and {PHONE} then, see you"}
    synthetic[6] = {**synthetic[6], "text": "<script>alert(1)</script> see you at <b>eight</b>"}  # must stay inert
    return {
        "m": _write(d / "m.csv", members),
        "h": _write(d / "h.csv", holdout),
        "s": _write(d / "s.csv", synthetic),
        "dir": d,
    }


def test_planted_email_and_phone_leak_and_never_appear_in_outputs(sets, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG):
        r = _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(sets["s"]),
            "--out",
            str(out),
            "-v",
        )
    assert r.exit_code == 3, r.output
    report = json.loads((out / "audit_report.json").read_text())
    pii = next(c for c in report["checks"] if c["name"] == "pii_leaks")
    assert pii["value"] >= 2 and pii["passed"] is False
    assert pii["evidence"]["leaked_values_by_type"] == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    everything = r.output + caplog.text + "".join(p.read_text() for p in out.iterdir())
    for needle in (EMAIL, PHONE, "jonas", "whitfield", "4155552671", "555 2671"):
        assert needle.lower() not in everything.lower()


def test_report_follows_the_json_contract(sets, tmp_path):
    out = tmp_path / "out"
    _invoke("--members", str(sets["m"]), "--holdout", str(sets["h"]), "--synthetic", str(sets["s"]), "--out", str(out))
    report = json.loads((out / "audit_report.json").read_text())
    assert report["schema_version"] == 1 and report["decision"] in ("pass", "fail")
    assert "INTERNAL" in report["notice"]
    names = [c["name"] for c in report["checks"]]
    for required in (
        "exact_duplicates",
        "near_duplicates",
        "dcr_share",
        "mia_auc",
        "mia_tpr_at_1pct_fpr",
        "empirical_epsilon",
        "pii_leaks",
    ):
        assert required in names
    for c in report["checks"]:
        assert set(c) == {"name", "value", "ci_low", "ci_high", "threshold", "passed", "evidence"}
        assert set(c["threshold"]) == {"op", "bound", "on"} and c["threshold"]["op"] in ("<=", ">=", "==")
    tpr = next(c for c in report["checks"] if c["name"] == "mia_tpr_at_1pct_fpr")
    assert tpr["value"] is None and tpr["passed"] is False and "100" in tpr["evidence"]["why_null"]
    assert report["inputs"]["members"] == 60 and report["inputs"]["holdout"] == 60
    html = (out / "audit_report.html").read_text()
    assert "<svg" in html and "INTERNAL COMPLIANCE DOCUMENT" in html
    import re

    remote = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html) + re.findall(r"<script|<link|@import", html)
    assert not remote, remote
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_clean_audit_of_disjoint_records_exits_zero(tmp_path):
    # 150 disjoint ham records a side: enough for TPR at 1% FPR, too few for 0.1% (disabled here).
    policy = tmp_path / "p.toml"
    policy.write_text("[audit.mia_tpr_at_0_1pct_fpr]\nenabled = false\n[audit.pii_leaks_quasi]\nbound = 1\n")
    m, h, s = (_write(tmp_path / f"{k}.csv", _ham(150, start=150 * i)) for i, k in enumerate("mhs"))
    r = _invoke(
        "--members",
        str(m),
        "--holdout",
        str(h),
        "--synthetic",
        str(s),
        "--out",
        str(tmp_path / "o"),
        "--policy",
        str(policy),
    )
    report = json.loads((tmp_path / "o" / "audit_report.json").read_text())
    assert [c["name"] for c in report["checks"] if not c["passed"]] == []
    assert r.exit_code == 0 and report["decision"] == "pass"
    assert "mia_tpr_at_0_1pct_fpr" not in [c["name"] for c in report["checks"]]


def _one_line_error(r, *needles):
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_empty_set_is_an_input_error(sets, tmp_path):
    empty = _write(tmp_path / "e.csv", [])
    _one_line_error(
        _invoke(
            "--members",
            str(empty),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(sets["s"]),
            "--out",
            str(tmp_path / "o"),
        ),
        str(empty),
        "no records",
    )


def test_small_holdout_is_refused(sets, tmp_path):
    small = _write(tmp_path / "h.csv", _ham(19, start=60))
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(small),
            "--synthetic",
            str(sets["s"]),
            "--out",
            str(tmp_path / "o"),
        ),
        "19 records",
        "at least 20",
        "meaningless",
    )


def test_missing_text_column_names_file_and_option(sets, tmp_path):
    bad = _write(tmp_path / "s.csv", [{"id": "a", "body": "hi"}], fields=("id", "body"))
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ),
        str(bad),
        "no column 'text'",
        "--text-col",
    )


def test_row_with_wrong_field_count_names_the_row(sets, tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("id,text,label\na,hello there,ham\nb,too,many,fields\n", encoding="utf-8")
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ),
        str(bad),
        "row 3",
    )


def test_non_utf8_bytes_name_file_and_row(sets, tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_bytes(b"id,text\na,fine\nb,caf\xe9 latte\n")
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ),
        str(bad),
        "row 3",
        "UTF-8",
    )


def test_jsonl_input_and_custom_text_column(sets, tmp_path):
    rows = _ham(60, start=120)
    bad = tmp_path / "s.jsonl"
    bad.write_text("".join(json.dumps({"id": r["id"], "body": r["text"]}) + "\n" for r in rows))
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ),
        "row 1",
        "no column 'text'",
    )


def test_unknown_policy_check_is_a_usage_error(sets, tmp_path):
    p = tmp_path / "p.toml"
    p.write_text("[audit.mia_roc]\nbound = 1\n")
    _one_line_error(
        _invoke(
            "--members",
            str(sets["m"]),
            "--holdout",
            str(sets["h"]),
            "--synthetic",
            str(sets["s"]),
            "--out",
            str(tmp_path / "o"),
            "--policy",
            str(p),
        ),
        "unknown check 'mia_roc'",
    )


def test_quasi_check_counts_a_full_name_but_not_one_common_word():
    # NER tags "London" a place: one common word, in every corpus, identifies nobody. A full name
    # that only a member had and the synthetic text repeats is a leak.
    from audits.checks.pii import is_common_word, pii_leaks
    from audits.data import AuditData

    assert is_common_word("London") and is_common_word("email") and not is_common_word("Xandra Pemberton")
    members, holdout, synthetic = _ham(40), _ham(40, start=40), _ham(40, start=80)
    members[3] = {**members[3], "text": "Xandra Pemberton says the flat in London is lovely, call her tonight"}
    before = pii_leaks(AuditData.build(members, holdout, synthetic, seed=0, encoder="hashing"))[1].evidence
    synthetic[7] = {**synthetic[7], "text": "Ask Xandra Pemberton about the new flat please"}
    synthetic[9] = {**synthetic[9], "text": "We went to London for the weekend, it rained"}
    after = pii_leaks(AuditData.build(members, holdout, synthetic, seed=0, encoder="hashing"))[1].evidence
    # (real ham shares the odd NER false positive between slices: compare with and without the plants)
    assert after["leaked_values_by_type"].get("PERSON", 0) == before["leaked_values_by_type"].get("PERSON", 0) + 1
    assert after["leaked_values_by_type"].get("LOCATION", 0) == before["leaked_values_by_type"].get("LOCATION", 0)
    assert after["synthetic_records_with_leak"] == before["synthetic_records_with_leak"] + 1
    common = after["common_words_not_counted_by_type"]
    assert common.get("LOCATION", 0) == before["common_words_not_counted_by_type"].get("LOCATION", 0) + 1
