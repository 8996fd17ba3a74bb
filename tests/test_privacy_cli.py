"""`privsynth generate` dp/noise options: refusals write nothing, --dry-run spends nothing."""

import json

import pytest
from click.testing import CliRunner

from privsynth.cli import cli

ROWS = 1200
DP = ["--privacy", "dp", "--labels", "spam,ham"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))
    path = tmp_path / "in.csv"
    lines = ["id,text,label"] + [
        f"r{i},message number {i} about {'prizes' if i % 3 else 'lunch'},{'spam' if i % 3 else 'ham'}"
        for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["generate", *map(str, args)])


def _files(tmp_path, data):
    return sorted(p for p in tmp_path.iterdir() if p.name != "home")


def test_dry_run_prints_the_plan_and_the_exact_sizes_to_the_holder_and_writes_nothing(data, tmp_path):
    out = tmp_path / "syn.csv"
    res = _run(data, "--out", out, *DP, "--epsilon", 4, "--dry-run")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["rounds"] == 5 and "n_records" not in plan
    assert plan["your_data"]["members_per_class"] == {"ham": 400, "spam": 800}
    assert plan["ledger"]["epsilon"] <= 4 and plan["ledger"]["delta"] == pytest.approx(1e-6)
    assert plan["noise_multiplier"] > 0 and plan["n_classes"] == 2
    assert _files(tmp_path, data) == [data] and not (tmp_path / "home" / "budget.json").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        ([*DP, "--epsilon", "0", "--dry-run"], "--epsilon must be a positive number"),
        ([*DP, "--epsilon", "1", "--delta", "0.01", "--dry-run"], "--delta"),
        ([*DP, "--dry-run"], "--privacy dp needs a budget"),
        (["--privacy", "dp", "--epsilon", "4"], "--labels"),
        ([*DP[:2], "--labels", "spam", "--epsilon", "4"], "row 2: label 'ham' is not in the declared label set"),
        (["--epsilon", "4"], "--epsilon applies to --privacy dp only"),
        (["--privacy", "noise", "--dry-run"], "--dry-run applies to --privacy dp only"),
        (["--class-prompt", "spam=Write a spam SMS."], "--class-prompt applies to --privacy dp only"),
        (["--labels", "spam"], "--labels applies to --privacy dp only"),
        ([*DP, "--epsilon", "4", "--class-prompt", "spam", "--dry-run"], "takes LABEL=INSTRUCTION"),
        (["--judge-share", "0.25"], "--judge-share applies to --privacy dp only"),
        ([*DP, "--epsilon", "4", "--judge-share", "1.5", "--dry-run"], "--judge-share must be within [0, 1)"),
    ],
)
def test_bad_dp_options_exit_2_with_one_line_and_write_nothing(data, tmp_path, args, says):
    res = _run(data, "--out", tmp_path / "syn.csv", *args)
    assert res.exit_code == 2, res.output
    assert says in res.output and len(res.output.strip().splitlines()) == 1
    assert _files(tmp_path, data) == [data] and not (tmp_path / "home" / "budget.json").exists()


def test_bad_budget_is_refused_without_dry_run_before_any_model_loads(data, tmp_path):
    res = _run(data, "--out", tmp_path / "syn.csv", *DP, "--epsilon", "-1", "--quiet")
    assert res.exit_code == 2 and "--epsilon must be a positive number" in res.output
    assert _files(tmp_path, data) == [data]


@pytest.mark.parametrize("share", ["0", "0.25"])
def test_judge_share_plans_the_judge_event_after_the_counts_or_none_at_0(data, tmp_path, share):
    res = _run(data, "--out", tmp_path / "syn.csv", *DP, "--epsilon", 4, "--judge-share", share, "--dry-run")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    purposes = [e["purpose"].split(":")[0] for e in plan["ledger"]["events"]]
    assert purposes == ["counts"] + (["class judge"] if share != "0" else []) + ["votes"]
    assert plan["ledger"]["epsilon"] <= 4


def test_class_check_reaches_private_evolution(data, tmp_path):
    res = _run(data, "--out", tmp_path / "syn.csv", *DP, "--epsilon", "4", "--class-check", "-1")
    assert res.exit_code == 2 and "--class-check" in res.output and _files(tmp_path, data) == [data]
    from privsynth.generate import private_evolution
    from privsynth.release import ReleaseRequest

    req = ReleaseRequest(input=None, out=None, epsilon=4.0, labels=["a", "b"])
    assert private_evolution(**req.dp_settings()).class_check_rounds == 2
    req = ReleaseRequest(input=None, out=None, epsilon=4.0, labels=["a", "b"], class_check=0)
    assert private_evolution(**req.dp_settings()).class_check_rounds == 0
    # without --class-check each mode gets its measured default: 2 rounds in dp, 4 in none/noise
    assert ReleaseRequest(input=None, out="x", privacy="none").config()["class_check"] == 4
    assert ReleaseRequest(input=None, out=None, privacy="noise", class_check=1).class_check_rounds == 1


def test_vote_option_offers_the_library_choices_and_reaches_private_evolution(data, tmp_path):
    from privsynth.cli import _dp_preflight
    from privsynth.generate import private_evolution
    from privsynth.privacy.pe import DEFAULT_VOTE, VOTES
    from privsynth.release import ReleaseRequest

    opt = next(p for p in cli.commands["generate"].params if p.name == "vote")
    assert sorted(opt.type.choices) == sorted(VOTES) and opt.default == DEFAULT_VOTE
    req = ReleaseRequest(input=None, out=None, epsilon=4.0, labels=["a", "b"])
    assert private_evolution(**req.dp_settings()).vote == DEFAULT_VOTE
    assert _dp_preflight("dp", 4.0, None, 5, None, False, 8, labels="a,b", vote="own-class").vote == "own-class"
    assert _dp_preflight("dp", 4.0, None, 5, None, False, 8, labels="a,b").vote == DEFAULT_VOTE
    res = _run(data, "--out", tmp_path / "syn.csv", *DP, "--epsilon", "4", "--vote", "nearest")
    assert res.exit_code == 2 and "--vote" in res.output and _files(tmp_path, data) == [data]
