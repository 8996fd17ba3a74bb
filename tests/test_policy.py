"""The release policy: shipped defaults for both tables, user overrides, errors that name the key."""

import pytest
from click.testing import CliRunner

from privsynth.errors import UserError
from privsynth.policy import load_policy
from privsynth.release_cli import policy_group


def write(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_defaults_hold_both_tables():
    pol = load_policy()
    assert pol.release.max_epsilon_per_run == 10.0
    assert pol.release.max_epsilon_lifetime == 20.0
    assert pol.release.require_formal_guarantee is False
    assert pol.audit["mia_auc"] == {"op": "<=", "bound": 0.6, "on": "ci_high"}
    assert pol.audit_policy.thresholds["pii_leaks"].bound == 0


def test_user_file_overrides_keys_of_either_table(tmp_path):
    pol = load_policy(write(tmp_path, "[release]\nmax_epsilon_per_run = 2\n[audit.mia_auc]\nbound = 0.55\n"))
    assert pol.release.max_epsilon_per_run == 2.0
    assert pol.release.max_epsilon_lifetime == 20.0  # untouched keys keep their default
    assert pol.audit["mia_auc"]["bound"] == 0.55
    assert pol.audit_policy.thresholds["mia_auc"].bound == 0.55


@pytest.mark.parametrize(
    "text, named",
    [
        ("[release]\nmax_epsilon_per_rum = 2\n", "max_epsilon_per_rum"),
        ('[release]\nmax_epsilon_per_run = "ten"\n', "max_epsilon_per_run"),
        ("[release]\nmax_epsilon_per_run = -1\n", "max_epsilon_per_run"),
        ("[release]\nrequire_formal_guarantee = 1\n", "require_formal_guarantee"),
        ("[release]\nmax_epsilon_per_run = 30\n", "max_epsilon_lifetime"),
        ("[audit.mia_auk]\nbound = 0.5\n", "mia_auk"),
        ('[audit.mia_auc]\nbound = "low"\n', "mia_auc"),
        ("[gate]\nx = 1\n", "gate"),
        ("[release\n", "not valid TOML"),
    ],
)
def test_unknown_key_or_bad_value_is_an_error_naming_it(tmp_path, text, named):
    with pytest.raises(UserError, match=named):
        load_policy(write(tmp_path, text))


def test_missing_policy_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_policy(tmp_path / "nope.toml")


def test_epsilon_above_the_cap_and_modes_without_guarantee_are_refused(tmp_path):
    pol = load_policy(write(tmp_path, "[release]\nmax_epsilon_per_run = 3\nrequire_formal_guarantee = true\n"))
    pol.check_epsilon(3.0)
    with pytest.raises(UserError, match="max_epsilon_per_run = 3"):
        pol.check_epsilon(3.5)
    pol.check_mode("dp")
    with pytest.raises(UserError, match="require_formal_guarantee"):
        pol.check_mode("none")


def test_policy_show_prints_the_merged_policy_as_toml(tmp_path):
    import tomllib

    res = CliRunner().invoke(
        policy_group, ["show", "--policy", str(write(tmp_path, "[audit.mia_auc]\nbound = 0.55\n"))]
    )
    assert res.exit_code == 0, res.output
    shown = tomllib.loads(res.output)
    assert shown["release"]["max_epsilon_lifetime"] == 20.0
    assert shown["audit"]["mia_auc"]["bound"] == 0.55
    assert load_policy(write(tmp_path, res.output)).audit == load_policy(tmp_path / "p.toml").audit


def test_policy_show_with_a_bad_file_exits_2_with_one_line(tmp_path):
    res = CliRunner().invoke(policy_group, ["show", "--policy", str(write(tmp_path, "[release]\nbogus = 1\n"))])
    assert res.exit_code == 2
    assert "bogus" in res.output and "Traceback" not in res.output
