"""Click commands of the release gate: `release`, `verify`, `policy show`, `budget show`.

Thin: each parses its options and calls a library function. Registered in the main group
(`privsynth.cli:cli`); each also works alone because user errors (exit 2) and gate refusals
(exit 3) are mapped here too.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from privsynth.errors import GateBlocked, UserError


def _judge_default() -> str:
    from privsynth.privacy.judge import DEFAULT_SHARE, JudgeConfig

    return (
        f"Not trained below {JudgeConfig().min_units:,} members (people) by the DP count, where DP-SGD trains "
        f"a poor judge; its share stays reserved. Default: {DEFAULT_SHARE:g}"
        + (" (off)." if DEFAULT_SHARE == 0 else ".")
    )


def dp_seed_options(fn):
    """--labels, --class-prompt, --class-check, --vote and --judge-share, shared by `release` and `generate`."""
    fn = click.option(
        "--vote",
        type=click.Choice(["all", "own-class"]),
        default="all",
        show_default=True,
        help="dp: which candidate a member votes for. 'all': its nearest of any class, counted only "
        "if that candidate has the member's class (candidates that drifted into another class "
        "lose their votes); 'own-class': its nearest of its own class. Same budget either way.",
    )(fn)
    fn = click.option(
        "--class-check",
        type=click.IntRange(min=0),
        default=None,
        help="replace an output that decoded into another class, up to N times (0 turns it off; "
        "default 2 in dp, 4 in none/noise: the settings measured for each). "
        "dp: 'another class' is what the DP class judge says (--judge-share), or without it "
        "a nearer survivor centroid (post-processing: no budget). "
        "none/noise: a logistic regression on the members' embeddings, which also picks among "
        "--candidates the closest one it puts in the target's class.",
    )(fn)
    fn = click.option(
        "--judge-share",
        type=float,
        default=None,
        metavar="SHARE",
        help="dp: share of --epsilon spent on the class judge, a logistic regression trained by "
        "DP-SGD on the members' embeddings; every decode then prefers a candidate it puts in "
        "the target's class and the class check asks it (0: off; the rounds get the rest of "
        "the budget). " + _judge_default(),
    )(fn)
    fn = click.option(
        "--class-prompt",
        "class_prompts",
        multiple=True,
        metavar="LABEL=INSTRUCTION",
        help="dp: a PUBLIC description of a class for the LM to seed Private Evolution "
        "with (repeat per class), e.g. --class-prompt spam='Write a spam text message "
        "offering a prize.' Never paste a record here. Without --labels, the prompts' labels "
        "are the declared label set.",
    )(fn)
    return click.option(
        "--labels",
        default=None,
        metavar="A,B,...",
        help="dp: the label set, declared (comma-separated) so that the data never decides what is "
        "public; a record with another label is refused. Default: the --class-prompt labels.",
    )(fn)


def parse_labels(value: str | None) -> list[str] | None:
    """``"spam,ham"`` -> ``["spam", "ham"]`` (None stays None)."""
    if value is None:
        return None
    labels = [x.strip() for x in value.split(",")]
    if not all(labels) or len(set(labels)) != len(labels):
        raise UserError(f"--labels takes distinct, non-empty labels separated by commas; got {value!r}")
    return labels


def _exits(fn):
    """UserError -> one line, exit 2; GateBlocked -> one line, exit 3; anything else -> traceback, 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            click.echo(f"privsynth: error: {err}", err=True)
            sys.exit(2)
        except GateBlocked as err:
            click.echo(f"privsynth: blocked: {err}", err=True)
            sys.exit(3)

    return wrapper


@click.command("release")
@click.argument("input", type=click.Path(path_type=Path))
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the encoder, the decoder and the auditor compute: auto (CUDA when torch sees one), cpu, cuda, cuda:N.",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Embed, decode and count Private Evolution's votes on a Ray cluster: 'local' (start one on this "
    "machine), 'auto' (the cluster `ray start` joined), or an address (ray://host:10001). Needs "
    "pip install 'privsynth[ray]'. Same seed, same output as without.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Release folder (must not exist unless --force)."
)
@click.option("--epsilon", type=float, default=None, help="dp release with this total epsilon (e.g. 4).")
@click.option(
    "--delta",
    type=float,
    default=None,
    help="dp delta (default 1e-6, a public constant: suits up to 100,000 records or people).",
)
@click.option(
    "--privacy",
    type=click.Choice(["none", "noise", "dp"]),
    default=None,
    help="none|noise: NO formal guarantee, empirical audit only. dp needs --epsilon.",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path),
    default=None,
    help="Policy TOML ([audit], [release], [dp_gate]) over the defaults (`privsynth policy show`).",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the internal audit reports (exact statistics of the private data: never share "
    "them). Default: DIR.internal beside --out.",
)
@click.option(
    "--holdout-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of records kept out of generation as the audit's control.",
)
@click.option(
    "--canaries",
    type=int,
    default=0,
    show_default=True,
    help="Plant N canaries with random secrets and measure their exposure.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the non-private choices (never the DP noise)."
)
@click.option(
    "--n",
    "n",
    type=int,
    default=None,
    help="Total synthetic records (default: as many as members; in dp, as many as the DP member count).",
)
@click.option("--n-per-class", type=int, default=None, help="Synthetic records per class.")
@click.option(
    "--noise-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="--privacy noise: noise norm in units of the members' median nearest-neighbour distance.",
)
@click.option(
    "--rounds",
    type=int,
    default=5,
    show_default=True,
    help="dp: Private Evolution rounds (more rounds, more noise per round).",
)
@click.option(
    "--population",
    "population_per_class",
    type=int,
    default=64,
    show_default=True,
    help="dp: candidates per class in each Private Evolution round (decoding cost grows with it).",
)
@click.option(
    "--candidates",
    "n_candidates",
    type=int,
    default=8,
    show_default=True,
    help="Decoded candidates per synthetic record; the closest re-embedding wins.",
)
@click.option(
    "--population-candidates",
    type=int,
    default=None,
    help="dp: decoded candidates per Private Evolution population member (default: --candidates). "
    "A member counts only through its text's embedding; fewer candidates make each round cheaper.",
)
@click.option("--text-col", default="text", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@click.option(
    "--user-col",
    default=None,
    help="Column naming the person behind each record: dp then protects whole people (one vote per "
    "person per round) and a person's records stay on one side of the holdout split.",
)
@dp_seed_options
@click.option("--dry-run", is_flag=True, help="Show the plan and the budget; spend and write nothing.")
@click.option("--force", is_flag=True, help="Replace an existing --out (and --rejected-out).")
@click.option(
    "--sign-key",
    type=click.Path(path_type=Path),
    default=None,
    help="Ed25519 private key (PKCS8 PEM) to sign manifest.json.",
)
@click.option(
    "--hmac-key-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Key for the input's keyed hash (default: a per-user key in $PRIVSYNTH_HOME).",
)
@click.option(
    "--rejected-out",
    type=click.Path(path_type=Path),
    default=None,
    help="If blocked, write the rejected synthetic data here (never inside --out).",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
@_exits
def release_command(
    input,
    device,
    ray_address,
    out,
    epsilon,
    delta,
    privacy,
    policy,
    report_dir,
    holdout_fraction,
    canaries,
    seed,
    n,
    n_per_class,
    noise_scale,
    rounds,
    population_per_class,
    n_candidates,
    population_candidates,
    text_col,
    label_col,
    user_col,
    labels,
    class_prompts,
    judge_share,
    class_check,
    vote,
    dry_run,
    force,
    sign_key,
    hmac_key_file,
    rejected_out,
    quiet,
):
    """Generate, audit and gate a synthetic release of INPUT into --out.

    A privacy choice is required: --epsilon E (formal DP; declare the labels with --labels or
    --class-prompt) or --privacy none|noise (no formal guarantee). The internal audit reports
    go to --report-dir (default DIR.internal), never into DIR. Exit 0 released, 3 blocked by
    the gate (nothing in DIR; the reports say why), 2 usage or input error, 1 internal error.
    """
    from privsynth.privacy.pe import parse_class_prompts
    from privsynth.release import ReleaseRequest, run_release

    req = ReleaseRequest(
        input=input,
        out=out,
        epsilon=epsilon,
        delta=delta,
        privacy=privacy,
        policy=policy,
        report_dir=report_dir,
        holdout_fraction=holdout_fraction,
        canaries=canaries,
        seed=seed,
        dry_run=dry_run,
        force=force,
        sign_key=sign_key,
        hmac_key_file=hmac_key_file,
        rejected_out=rejected_out,
        quiet=quiet,
        text_col=text_col,
        label_col=label_col,
        user_col=user_col,
        labels=parse_labels(labels),
        n=n,
        n_per_class=n_per_class,
        noise_scale=noise_scale,
        rounds=rounds,
        population_per_class=population_per_class,
        n_candidates=n_candidates,
        population_candidates=population_candidates,
        class_prompts=parse_class_prompts(class_prompts) or None,
        judge_share=judge_share,
        class_check=class_check,
        vote=vote,
        device=device,
        ray=ray_address,
        command=["privsynth", *sys.argv[1:]],
    )
    result = run_release(req)
    if result.status == "dry-run":
        click.echo(json.dumps(result.plan, indent=2, default=str))


@click.command("verify")
@click.argument("dir", type=click.Path(path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(path_type=Path),
    default=None,
    help="Ed25519 public key (PEM) to check manifest.json.sig.",
)
@_exits
def verify_command(dir, public_key):
    """Recheck every hash in DIR/manifest.json, the signature and the ledger's epsilon.

    Exit 0 when everything matches, 3 on any mismatch (each named), 2 usage error.
    """
    from privsynth.manifest import verify_release

    v = verify_release(dir, public_key_path=public_key)
    for note in v.notes:
        click.echo(f"ok: {note}")
    for problem in v.problems:
        click.echo(f"MISMATCH: {problem}", err=True)
    if not v.ok:
        sys.exit(3)
    click.echo(f"verified: {dir}")


@click.group("policy")
def policy_group():
    """The release policy ([audit] thresholds, [release] rules, [dp_gate] bounds)."""


@policy_group.command("show")
@click.option(
    "--policy", type=click.Path(path_type=Path), default=None, help="User policy TOML merged over the defaults."
)
@_exits
def policy_show(policy):
    """Print the policy in force (both tables) as TOML."""
    from privsynth.policy import load_policy

    click.echo(load_policy(policy).to_toml(), nl=False)


@click.group("budget")
def budget_group():
    """The lifetime privacy budget spent per dataset ($PRIVSYNTH_HOME/budget.json)."""


@budget_group.command("show")
@click.argument("input", required=False, type=click.Path(path_type=Path))
@click.option("--policy", type=click.Path(path_type=Path), default=None)
@click.option("--hmac-key-file", type=click.Path(path_type=Path), default=None)
@click.option("--text-col", default="text", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@_exits
def budget_show(input, policy, hmac_key_file, text_col, label_col):
    """Print the epsilon spent per dataset (or for INPUT only) against the lifetime cap."""
    from privsynth.budget import BudgetStore
    from privsynth.manifest import dataset_hmac, load_hmac_key, privsynth_home
    from privsynth.policy import load_policy

    cap = load_policy(policy).release.max_epsilon_lifetime
    store = BudgetStore(privsynth_home())
    if input is not None:
        from privsynth.io import read_corpus

        corpus, _ = read_corpus(input, text_col=text_col, label_col=label_col)
        from privsynth.budget import record_keys

        key = load_hmac_key(hmac_key_file)
        spends = [
            store.spent(dataset_hmac(corpus.texts, corpus.labels, key), record_keys(corpus.texts, corpus.labels, key))
        ]
    else:
        spends = store.all()
    click.echo(f"lifetime cap per dataset: epsilon {cap:g} ({store.path})")
    if not spends:
        click.echo("no dp runs recorded")
    for s in spends:
        click.echo(
            f"dataset {s.dataset_id[:16]}: spent epsilon {s.epsilon:.4g}, delta {s.delta:.3g}, "
            f"{s.runs} run(s), {s.remaining(cap):.4g} left"
        )
