"""The policy file: defaults, overrides, and clear errors for what it must not contain."""

from __future__ import annotations

import pytest

from audits.errors import AuditInputError
from audits.policy import REQUIRED, load_policy
from audits.result import Threshold


def test_default_policy_holds_the_documented_thresholds():
    p = load_policy()
    assert set(REQUIRED) <= set(p.thresholds)
    assert p.thresholds["mia_auc"] == Threshold("<=", 0.60, "ci_high")
    assert p.thresholds["mia_tpr_at_1pct_fpr"] == Threshold("<=", 0.05, "value")
    assert p.thresholds["exact_duplicates"] == Threshold("==", 0, "value")
    assert p.thresholds["near_duplicates"] == Threshold("<=", 0.005, "value")
    assert p.thresholds["pii_leaks"] == Threshold("==", 0, "value")
    assert p.thresholds["dcr_share"] == Threshold("<=", 0.50, "ci_low")
    assert p.thresholds["empirical_epsilon"] == Threshold("<=", 1.0, "value")


def test_user_policy_overrides_one_key_and_release_table_is_ignored(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[audit.mia_auc]\nbound = 0.55\n[release]\nepsilon_cap = 8.0\n")
    p = load_policy(f)
    assert p.thresholds["mia_auc"] == Threshold("<=", 0.55, "ci_high")
    assert p.release == {"epsilon_cap": 8.0}


@pytest.mark.parametrize(
    "text,needle",
    [
        ('[audit.mia_aucc]\nop = "<="\nbound = 0.5\non = "value"\n', "unknown check 'mia_aucc'"),
        ("[gate]\nx = 1\n", "unknown table [gate]"),
        ('[audit.mia_auc]\nop = "<"\n', "op must be one of"),
        ('[audit.mia_auc]\non = "median"\n', "on must be one of"),
        ('[audit.mia_auc]\nbound = "high"\n', "bound must be a finite number"),
        ("[audit.mia_auc]\nbound = nan\n", "bound must be a finite number"),
        ("[audit.mia_auc]\nbound = inf\n", "bound must be a finite number"),
        ('[audit.mia_auc]\nenabled = "no"\n', "enabled must be true or false"),
        ("audit = 5\n", "audit must be a table"),
        ("release = [1, 2]\n", "release must be a table"),
        ("[audit.mia_auc]\nlimit = 1\n", "unknown key 'limit'"),
        ("[audit.pii_leaks]\nenabled = false\n", "required"),
        ("[audit\n", "not valid TOML"),
    ],
)
def test_bad_policy_is_an_error_naming_the_problem(tmp_path, text, needle):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(AuditInputError, match=None) as e:
        load_policy(f)
    assert needle in str(e.value) and str(f) in str(e.value)


def test_optional_check_can_be_disabled(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[audit.mia_tpr_at_0_1pct_fpr]\nenabled = false\n")
    assert not load_policy(f).enabled("mia_tpr_at_0_1pct_fpr")


def test_null_value_fails_closed_and_says_why():
    r = load_policy().judge("mia_tpr_at_1pct_fpr", None, evidence={"why_null": "holdout too small"})
    assert r.passed is False and r.evidence["failed_closed"] and r.evidence["why_null"] == "holdout too small"
    r = load_policy().judge("mia_auc", 0.5, 0.45, None)
    assert r.passed is False  # judged on ci_high, which is missing
