"""`privsynth generate` dp/noise options: refusals write nothing, --dry-run reads only the count."""

import json

import pytest
from click.testing import CliRunner

from privsynth.cli import cli

ROWS = 1200


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "in.csv"
    lines = ["id,text,label"] + [f"r{i},message number {i} about {'prizes' if i % 3 else 'lunch'},{'spam' if i % 3 else 'ham'}"
                                 for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["generate", *map(str, args)])


def test_dry_run_prints_the_plan_and_the_ledger_and_writes_nothing(data, tmp_path):
    out = tmp_path / "syn.csv"
    res = _run(data, "--out", out, "--privacy", "dp", "--epsilon", 4, "--dry-run")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["n_records"] == ROWS and plan["rounds"] == 5
    assert plan["ledger"]["epsilon"] <= 4 and plan["ledger"]["delta"] == pytest.approx(1e-5)
    assert plan["noise_multiplier"] > 0 and plan["expected_decodes"] is None
    assert list(tmp_path.iterdir()) == [data]


@pytest.mark.parametrize("args, says", [
    (["--privacy", "dp", "--epsilon", "0", "--dry-run"], "--epsilon must be a positive number"),
    (["--privacy", "dp", "--epsilon", "1", "--delta", "0.01", "--dry-run"], "not below 1/n"),
    (["--privacy", "dp", "--epsilon", "1e-5", "--dry-run"], "smallest workable budget"),
    (["--privacy", "dp", "--dry-run"], "--privacy dp needs a budget"),
    (["--epsilon", "4"], "--epsilon applies to --privacy dp only"),
    (["--privacy", "noise", "--dry-run"], "--dry-run applies to --privacy dp only"),
    (["--class-prompt", "spam=Write a spam SMS."], "--class-prompt applies to --privacy dp only"),
    (["--adapt-bridge"], "--adapt-bridge applies to --privacy dp only"),
    (["--privacy", "dp", "--epsilon", "4", "--adapt-bridge", "--adapt-share", "1.5", "--dry-run"], "share"),
    (["--privacy", "dp", "--epsilon", "4", "--class-prompt", "spam", "--dry-run"], "takes LABEL=INSTRUCTION"),
    (["--judge-share", "0.25"], "--judge-share applies to --privacy dp only"),
    (["--privacy", "dp", "--epsilon", "4", "--judge-share", "1.5", "--dry-run"], "--judge-share must be within [0, 1)"),
    (["--centroid-share", "0.4"], "--centroid-share applies to --privacy dp only"),
    (["--privacy", "dp", "--epsilon", "4", "--centroid-share", "1", "--dry-run"], "--centroid-share must be within [0, 1)"),
])
def test_bad_dp_options_exit_2_with_one_line_and_write_nothing(data, tmp_path, args, says):
    res = _run(data, "--out", tmp_path / "syn.csv", *args)
    assert res.exit_code == 2, res.output
    assert says in res.output and len(res.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [data]


def test_bad_budget_is_refused_without_dry_run_before_any_model_loads(data, tmp_path):
    res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", "-1", "--quiet")
    assert res.exit_code == 2 and "--epsilon must be a positive number" in res.output
    assert list(tmp_path.iterdir()) == [data]


def test_dry_run_with_adapt_bridge_plans_the_dp_sgd_event_first(data, tmp_path):
    res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", 4, "--adapt-bridge",
               "--judge-share", "0", "--dry-run")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    events = plan["ledger"]["events"]
    assert events[0]["purpose"].startswith("bridge adaptation") and events[0]["sample_rate"] < 1
    assert plan["ledger"]["epsilon"] <= 4 and len(events) == 3


@pytest.mark.parametrize("share", ["0", "0.25"])
def test_judge_share_plans_the_judge_event_before_the_rounds_or_none_at_0(data, tmp_path, share):
    res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", 4, "--judge-share", share,
               "--dry-run")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    purposes = [e["purpose"].split(":")[0] for e in plan["ledger"]["events"]]
    assert purposes == (["class judge"] if share != "0" else []) + ["class counts", "PE vote histogram"]
    assert plan["ledger"]["epsilon"] <= 4


def test_centroid_share_plans_its_event_and_the_rounds_pay_for_it(data, tmp_path):
    plans = []
    for share in ("0", "0.4"):
        res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", 4, "--centroid-share", share,
                   "--dry-run")
        assert res.exit_code == 0, res.output
        plans.append(json.loads(res.output))
    purposes = [e["purpose"].split(":")[0] for e in plans[1]["ledger"]["events"]]
    assert "survivor centroids" in purposes and plans[1]["ledger"]["epsilon"] <= 4
    assert "survivor centroids" not in [e["purpose"].split(":")[0] for e in plans[0]["ledger"]["events"]]
    assert plans[1]["noise_multiplier"] > plans[0]["noise_multiplier"]
    from privsynth.release import ReleaseRequest

    assert ReleaseRequest(input=None, out=None, epsilon=4.0, centroid_share=0.4).pe_options()["centroid_share"] == 0.4


def test_class_check_reaches_private_evolution(data, tmp_path):
    res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", "4", "--class-check", "-1")
    assert res.exit_code == 2 and "--class-check" in res.output and list(tmp_path.iterdir()) == [data]
    from privsynth.release import ReleaseRequest

    assert ReleaseRequest(input=None, out=None, epsilon=4.0).pe_options()["class_check_rounds"] == 2
    assert ReleaseRequest(input=None, out=None, epsilon=4.0, class_check=0).pe_options()["class_check_rounds"] == 0
    # without --class-check each mode gets its measured default: 2 rounds in dp, 4 in none/noise
    assert ReleaseRequest(input=None, out=None, privacy="none").config()["class_check"] == 4
    assert ReleaseRequest(input=None, out=None, privacy="noise", class_check=1).class_check_rounds == 1


def test_vote_option_offers_the_library_choices_and_reaches_private_evolution(data, tmp_path):
    from privsynth.cli import _dp_preflight
    from privsynth.privacy.pe import DEFAULT_VOTE, VOTES
    from privsynth.release import ReleaseRequest

    opt = next(p for p in cli.commands["generate"].params if p.name == "vote")
    assert sorted(opt.type.choices) == sorted(VOTES) and opt.default == DEFAULT_VOTE
    assert ReleaseRequest(input=None, out=None, epsilon=4.0).pe_options()["vote"] == DEFAULT_VOTE
    assert _dp_preflight(data, "dp", 4.0, None, 5, None, False, None, None, 8, vote="own-class").vote == "own-class"
    assert _dp_preflight(data, "dp", 4.0, None, 5, None, False, None, None, 8).vote == DEFAULT_VOTE
    res = _run(data, "--out", tmp_path / "syn.csv", "--privacy", "dp", "--epsilon", "4", "--vote", "nearest")
    assert res.exit_code == 2 and "--vote" in res.output and list(tmp_path.iterdir()) == [data]
