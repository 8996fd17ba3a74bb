"""`privsynth release`: validate, split, generate, audit, gate, export -- or export nothing.

:func:`run_release` reads as its stages, each in the module named after it: :mod:`privsynth.io`
(validate), :mod:`privsynth.split`, :mod:`privsynth.generate`, :mod:`privsynth.audit`,
:mod:`privsynth.gate`, :mod:`privsynth.export` and :mod:`privsynth.manifest`.

Order matters: every refusal that does not need the data (privacy choice, policy caps, an
existing --out, unreadable keys) comes before the input is read; the lifetime budget is
checked and charged before any mechanism runs; the release folder and the internal report
folder are built in hidden staging folders and renamed at the very end.

In mode dp nothing after reading the file decides on exact private data: the output size,
the class sizes, the class judge and the release decision follow DP outputs only, and the
release folder holds only what the epsilon covers.

The generator, the auditor and the report writer are called through an :class:`Engine` of
plain functions, so tests (and other front ends) can swap in small models while the stages
stay the same. The holdout is given only to the auditor.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO, cast

from privsynth.errors import GateBlocked, UserError

MODES = ("none", "noise", "dp")
REDACTED_INPUT = "<input: named in the internal report only>"


def default_class_check(mode: str) -> int:
    """Class-check rounds when --class-check is not given: SMOTExT's default in none/noise,
    Private Evolution's in dp (each is the setting measured for that mode)."""
    if mode == "dp":
        from privsynth.privacy.pe import DEFAULT_CLASS_CHECK
    else:
        from privsynth.smotext import DEFAULT_CLASS_CHECK
    return DEFAULT_CLASS_CHECK


@dataclass
class ReleaseRequest:
    """Everything `privsynth release` was asked to do (recorded in the manifest's config)."""

    input: Path
    out: Path
    epsilon: float | None = None
    delta: float | None = None
    privacy: str | None = None
    policy: Path | None = None
    report_dir: Path | None = None  # None: DIR.internal beside DIR
    holdout_fraction: float = 0.2
    canaries: int = 0
    seed: int = 0
    dry_run: bool = False
    force: bool = False
    sign_key: Path | None = None
    hmac_key_file: Path | None = None
    rejected_out: Path | None = None
    quiet: bool = False
    text_col: str = "text"
    label_col: str = "label"
    id_col: str | None = "id"
    user_col: str | None = None
    labels: list[str] | None = None  # dp: the declared label set (else the class prompts' labels)
    n: int | None = None
    n_per_class: int | None = None
    noise_scale: float = 1.0
    rounds: int = 5
    population_per_class: int = 64
    n_candidates: int = 8
    population_candidates: int | None = None  # dp: candidates per population member (None: n_candidates)
    class_prompts: dict[str, str] | None = None
    judge_share: float | None = None  # None: judge.DEFAULT_SHARE; 0: no DP class judge
    class_check: int | None = None  # None: 2 rounds in dp, 4 in none/noise (class_check_rounds)
    vote: str = "all"
    device: str = "auto"  # auto: CUDA when torch sees one (privsynth.device.resolve)
    ray: str | None = None  # a Ray address, "auto" or "local": embed, decode and vote there (privsynth.cluster)
    command: list[str] = field(default_factory=list)

    def dp_settings(self) -> dict[str, Any]:
        """The settings of :func:`privsynth.generate.private_evolution`, the same for the plan and the run."""
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rounds": self.rounds,
            "population_per_class": self.population_per_class,
            "n_candidates": self.n_candidates,
            "population_candidates": self.population_candidates,
            "labels": self.labels,
            "class_prompts": self.class_prompts,
            "judge_share": self.judge_share,
            "class_check": self.class_check_rounds,
            "vote": self.vote,
        }

    @property
    def class_check_rounds(self) -> int:
        """--class-check, or the mode's measured default."""
        return default_class_check(self.mode) if self.class_check is None else self.class_check

    @property
    def mode(self) -> str:
        return "dp" if self.epsilon is not None else (self.privacy or "")

    @property
    def reports(self) -> Path:
        """Where the internal reports go: --report-dir, or DIR.internal beside DIR."""
        return Path(self.report_dir) if self.report_dir is not None else Path(f"{Path(self.out)}.internal")

    def config(self) -> dict[str, Any]:
        """The declared settings, as the public manifest records them (paths redacted)."""
        d = asdict(self)
        d.pop("command")
        d["mode"] = self.mode
        d["class_check"] = self.class_check_rounds
        # a file name can say what the data is ("hiv_clinic_notes.csv"): the input is named only in
        # the internal report, and key, policy and report paths are nobody's business
        d["input"] = REDACTED_INPUT
        d["out"] = Path(self.out).name
        for k in ("policy", "report_dir", "sign_key", "hmac_key_file", "rejected_out"):
            d[k] = None if d[k] is None else "<given>"
        if d["ray"] not in (None, "local", "auto"):  # a cluster's address is infrastructure, not a setting
            d["ray"] = "<given>"
        return d

    def redacted_command(self) -> list[str]:
        paths = {
            str(p) for p in (self.policy, self.report_dir, self.sign_key, self.hmac_key_file, self.rejected_out) if p
        }
        if self.ray not in (None, "local", "auto"):
            paths.add(str(self.ray))
        return [REDACTED_INPUT if a == str(self.input) else "<given>" if a in paths else a for a in self.command]


@dataclass
class ReleaseResult:
    status: str  # "released" | "blocked" | "dry-run"
    out: Path | None
    decision: Any = None
    plan: dict[str, Any] | None = None
    reports: Path | None = None


# ---- progress and log (counts only: never a record's text or a PII value) --------------------
class Progress:
    """Stage lines on stderr with elapsed time and a rough time left; silent with quiet."""

    STAGES = ("validate", "split", "generate", "audit", "gate", "export")

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.estimates: dict[str, float] = {}
        self.i = 0
        self.seconds: dict[str, float] = {}  # each stage's wall time, closed when the next begins
        self._current: tuple[str, float] | None = None

    @property
    def interactive(self) -> bool:
        return not self.quiet and getattr(self.stream, "isatty", lambda: False)()

    def stage(self, name: str, detail: str = "", estimate_s: float | None = None) -> None:
        self.close()
        self._current = (name, time.monotonic())
        self.i += 1
        if estimate_s is not None:
            self.estimates[name] = estimate_s
        left = (
            sum(self.estimates.get(s, 0) for s in self.STAGES[self.STAGES.index(name) :]) if name in self.STAGES else 0
        )
        eta = f", about {left:.0f}s left" if left >= 1 else ""
        self.info(
            f"[{self.i}/{len(self.STAGES)}] {name}{': ' + detail if detail else ''} "
            f"({time.monotonic() - self.t0:.0f}s elapsed{eta})"
        )

    def close(self) -> None:
        """End the current stage's timer (the next stage, or the end of the run, calls it)."""
        if self._current is not None:
            name, t = self._current
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - t, 3)
            self._current = None

    def info(self, msg: str) -> None:
        if not self.quiet:
            print(f"privsynth: {msg}", file=self.stream, flush=True)


# ---- the engine: generator, auditor and report writer as plain functions -------------------
@dataclass
class Engine:
    generate: Callable[..., Any]
    audit: Callable[..., Any]
    write_reports: Callable[[Any, Path, dict[str, Any]], None]


def default_engine() -> Engine:
    from privsynth.audit import audit_default
    from privsynth.generate import generate_default
    from privsynth.report import write_reports_default

    return Engine(generate=generate_default, audit=audit_default, write_reports=write_reports_default)


# ---- the run -----------------------------------------------------------------------------------
def _check_request(req: ReleaseRequest) -> None:
    if req.epsilon is not None and req.privacy not in (None, "dp"):
        raise UserError(f"--epsilon makes a dp release; it cannot be combined with --privacy {req.privacy}")
    if req.epsilon is None and req.privacy is None:
        raise UserError(
            "choose a privacy mode: --epsilon E for a formal DP guarantee (e.g. --epsilon 4), "
            "or --privacy none|noise for an empirical audit only"
        )
    if req.privacy == "dp" and req.epsilon is None:
        raise UserError("--privacy dp needs --epsilon E (e.g. --epsilon 4)")
    if req.delta is not None and req.epsilon is None:
        raise UserError("--delta applies to dp releases only; give --epsilon too")
    if req.epsilon is not None and not (req.epsilon > 0 and req.epsilon < float("inf")):
        raise UserError(f"--epsilon must be a positive number; got {req.epsilon!r}")
    if not 0 < req.holdout_fraction < 1:
        raise UserError(f"--holdout-fraction must be within (0, 1); got {req.holdout_fraction!r}")
    for option, value in (
        ("--rounds", req.rounds),
        ("--population", req.population_per_class),
        ("--candidates", req.n_candidates),
        ("--population-candidates", 1 if req.population_candidates is None else req.population_candidates),
    ):
        if value < 1:
            raise UserError(f"{option} must be >= 1; got {value}")
    if req.canaries < 0:
        raise UserError(f"--canaries must be >= 0; got {req.canaries!r}")
    if req.n is not None and req.n < 1:
        raise UserError(f"--n must be a positive integer; got {req.n!r}")
    for given, option in (
        (req.judge_share, "--judge-share"),
        (req.class_prompts, "--class-prompt"),
        (req.labels, "--labels"),
    ):
        if given is not None and req.mode != "dp":
            raise UserError(f"{option} applies to dp releases only; add --epsilon E or drop {option}")
    if req.mode == "dp":
        from privsynth.generate import check_labels_declared
        from privsynth.privacy.judge import judge_config

        judge_config(req.judge_share)  # refuses a share outside [0, 1)
        check_labels_declared(req.labels, req.class_prompts)
    out, reports = Path(req.out).resolve(), req.reports.resolve()
    if reports == out or out in reports.parents or reports in out.parents:
        raise UserError(
            f"--report-dir {req.reports} and --out {req.out} must not contain each other: the internal "
            "reports hold exact statistics of the private data and never sit in the release folder"
        )
    if req.rejected_out is not None:
        rej = Path(req.rejected_out).resolve()
        if rej == out or out in rej.parents:
            raise UserError(
                f"--rejected-out {req.rejected_out} lies inside --out {req.out}; rejected data "
                "must never sit in the release folder: choose a path outside it"
            )
        if Path(req.rejected_out).exists() and not req.force:
            raise UserError(f"--rejected-out {req.rejected_out}: already exists; pass --force to replace it")


def run_release(
    req: ReleaseRequest, *, engine: Engine | None = None, progress: Progress | None = None
) -> ReleaseResult:
    """Run a release. Raises ``UserError`` (exit 2) or ``GateBlocked`` (exit 3); returns on pass."""
    from privsynth import audit, gate, manifest
    from privsynth.budget import BudgetStore, record_keys
    from privsynth.export import Staging, check_target, csv_bytes, write_bytes_atomic, write_release
    from privsynth.io import read_corpus
    from privsynth.manifest import dataset_hmac, file_hmac, key_id, load_hmac_key, load_private_key, privsynth_home
    from privsynth.policy import DPGateRules, load_policy
    from privsynth.report import report_context
    from privsynth.split import check_split, split_corpus

    engine = engine or default_engine()
    progress = progress or Progress(req.quiet)
    mode = req.mode

    # 1. everything that can be refused without reading the data
    _check_request(req)
    from privsynth.device import resolve

    req = replace(req, device=resolve(req.device))
    policy = load_policy(req.policy)
    policy.check_mode(mode)
    if mode == "dp":
        from privsynth.privacy.planner import check_budget

        policy.check_epsilon(cast(float, req.epsilon), check_budget(cast(float, req.epsilon), req.delta))
    # a dry run checks them too: it says whether the real run would be refused, and writes nothing
    check_target(req.out, force=req.force)
    check_target(req.reports, force=req.force, what="--report-dir")
    private_key = load_private_key(req.sign_key) if req.sign_key is not None else None
    key = load_hmac_key(req.hmac_key_file)

    # 2. validate and split
    progress.stage("validate", f"reading {req.input}")
    corpus, cleaning = read_corpus(
        req.input,
        text_col=req.text_col,
        label_col=req.label_col,
        id_col=req.id_col,
        group_col=req.user_col,
        **cast("dict[str, Any]", {"min_class_size": 0, "allow_empty": True} if mode == "dp" else {}),
    )
    for line in cleaning.lines():
        progress.info(line)
    if mode == "dp":
        from privsynth.generate import check_domain, check_labels_declared

        check_domain(corpus, check_labels_declared(req.labels, req.class_prompts), req.input)
    internal: dict[str, Any] = {
        "input_file_hmac": file_hmac(req.input, key),
        "input_dataset_id": dataset_hmac(corpus.texts, corpus.labels, key),
        "hmac_key_id": key_id(key),
        "records_read": cleaning.rows_read,
    }
    progress.stage("split", f"holdout fraction {req.holdout_fraction:g}")
    members, holdout = split_corpus(
        corpus, fraction=req.holdout_fraction, seed=req.seed, key=key, by_person=bool(req.user_col)
    )
    if mode != "dp":
        check_split((members, holdout), source=req.input, fraction=req.holdout_fraction, class_prompts=None)
        progress.info(f"{len(members)} members (used for generation), {len(holdout)} holdout (audit control only)")
    else:  # exact sizes are for the data holder's report only; the run learns them through DP counts
        progress.info("members used for generation, holdout kept for the audit (sizes: DP counts below)")
    internal.update({"members": len(members), "holdout": len(holdout)})

    # 3. budget (dp): check before anything is spent; every dp run on this data is charged
    store = BudgetStore(privsynth_home())
    records = record_keys(corpus.texts, corpus.labels, key)
    plan: Any = None
    if mode == "dp":
        from privsynth.generate import private_evolution

        spent = store.check(
            internal["input_dataset_id"], cast(float, req.epsilon), policy.release.max_epsilon_lifetime, records
        )
        from privsynth.generate import check_labels_declared

        pe = private_evolution(**req.dp_settings(), gate_share=cast(DPGateRules, policy.dp_gate).share)
        plan = pe.plan(n_classes=len(check_labels_declared(req.labels, req.class_prompts)), n_synthetic=req.n)
        policy.check_epsilon(cast(float, req.epsilon), plan.delta)
        progress.info(
            f"lifetime budget: spent {spent.epsilon:.4g} of {policy.release.max_epsilon_lifetime:g} "
            f"in {spent.runs} run(s); this run takes up to {req.epsilon:g}"
        )
    if req.dry_run:
        return _dry_run(req, policy, members, holdout, plan, spent if mode == "dp" else None, pe if plan else None)

    with (
        Staging(req.out, force=req.force) as stage,
        Staging(req.reports, force=req.force, private=True) as internal_stage,
    ):
        if mode == "dp":
            store.charge(
                internal["input_dataset_id"],
                epsilon=cast(float, req.epsilon),
                delta=plan.delta,
                records=records,
                lifetime=policy.release.max_epsilon_lifetime,
                run={"out": Path(req.out).name},
            )

        # 4. generate from members only (plus canaries: public words and random secrets)
        gen_texts, gen_labels, gen_users, canaries = _generation_input(members, req, plan)
        progress.stage("generate", f"mode {mode}")
        t_gen = time.monotonic()
        generated = engine.generate(
            gen_texts,
            gen_labels,
            request=req,
            progress=progress,
            **({"user_ids": gen_users} if gen_users is not None else {}),
            **({"gate_share": cast(DPGateRules, policy.dp_gate).share} if mode == "dp" else {}),
        )
        st = generated.stats
        progress.info(
            f"generated {len(generated.texts)} synthetic records in {time.monotonic() - t_gen:.0f}s"
            + (
                ""
                if st.get("off_class_left") is None
                else f" (class check: {st['off_class_first_pass']} outputs in another class, "
                f"{st['off_class_left']} left)"
            )
            + (
                ""
                if st.get("repeats_or_scaffolding_left") is None
                else f" (tidy: {st['repeats_or_scaffolding_first_pass']} repeats or LM scaffolding, "
                f"{st['repeats_or_scaffolding_left']} left)"
            )
            + (
                ""
                if st.get("scaffolding_left") is None
                else f" (LM scaffolding: {st['scaffolding_first_pass']} outputs, {st['scaffolding_left']} left)"
            )
        )

        # 5. audit (the holdout's only use): the internal report, and in dp the per-record figures
        progress.stage("audit", "members vs holdout vs synthetic")
        report = audit.run(
            engine.audit,
            members,
            holdout,
            generated.texts,
            policy=policy,
            canaries=canaries,
            seed=req.seed,
            mode=mode,
            device=req.device,
            synthetic_labels=generated.labels,
        )

        # 6. gate
        progress.stage("gate", "DP statistics (ledger event 'gate')" if mode == "dp" else "exact audit")
        privacy = _privacy(req, generated)
        if mode == "dp":
            decision = gate.decide_dp(
                report.records,
                rules=policy.dp_gate,
                ledger=generated.ledger,
                plan=generated.plan,
                member_units=members.groups if req.user_col else None,
                holdout_units=holdout.groups if req.user_col else None,
            )
            privacy.update(_dp_privacy(req, generated))
            decision = gate.finish_dp(
                decision,
                spent=privacy["epsilon"],
                requested=cast(float, req.epsilon),
                cap=policy.release.max_epsilon_per_run,
            )
            internal["dp_counts"] = {k: round(v, 1) for k, v in (generated.noisy_counts or {}).items()}
            internal["members_flagged_by_reason"] = dict(report.records.reasons.get("member", {}))
        else:
            decision = gate.decide_exact(report.to_dict())
        from privsynth.datacard import guarantee_text

        privacy["guarantee"] = guarantee_text(privacy)
        progress.close()  # the gate's decision is made: its time is counted, export's is not
        internal["stage_seconds"] = dict(progress.seconds)
        context = report_context(
            mode=mode,
            privacy=privacy,
            policy=policy,
            decision=decision,
            n_synthetic=len(generated.texts),
            generation=generated.stats,
            rejected_kept=req.rejected_out is not None,
            internal=internal,
        )

        # 7. export: the internal reports always; the release folder only on a pass
        progress.stage("export", "release" if decision.passed else "reports only (blocked)")
        engine.write_reports(report, cast(Path, internal_stage.path), context)  # staging paths are set on entry
        if not decision.passed:
            if req.rejected_out is not None:
                write_bytes_atomic(req.rejected_out, csv_bytes(generated.texts, generated.labels))
                progress.info(f"rejected synthetic data written to {req.rejected_out} (NOT a release)")
            internal_stage.commit()
            raise GateBlocked(
                f"release blocked: {'; '.join(decision.reasons)}; see {req.reports / 'audit_report.html'}"
            )
        created = write_release(
            cast(Path, stage.path),
            generated=generated,
            privacy=privacy,
            policy=policy,
            seed=req.seed,
            signed=private_key is not None,
        )
        manifest.write_manifest(
            cast(Path, stage.path),
            created=created,
            command=req.redacted_command(),
            config=req.config(),
            seed=req.seed,
            privacy=privacy,
            n_synthetic=len(generated.texts),
            canaries=req.canaries,
            models=generated.models,
            policy=policy.to_dict(),
            gate=decision.to_dict(),
            private_key=private_key,
        )
        internal_stage.commit()
        stage.commit()
    progress.info(f"internal reports (not for sharing): {req.reports}")
    progress.info(f"released {len(generated.texts)} records to {req.out} ({time.monotonic() - progress.t0:.0f}s)")
    return ReleaseResult("released", Path(req.out), decision, reports=req.reports)


def _generation_input(members: Any, req: ReleaseRequest, plan: Any):
    """The generator's input: the members, plus canaries (public words and a random secret each,
    one person each; labels round-robin over the declared or present label set)."""
    texts, labels = list(members.texts), list(members.labels)
    users = list(members.groups) if req.user_col else None
    canaries = None
    if req.canaries:
        from audits.checks.canaries import make_canaries

        canaries = make_canaries(req.canaries, seed=req.seed)
        if req.mode == "dp":
            from privsynth.generate import check_labels_declared

            label_set = check_labels_declared(req.labels, req.class_prompts)
        else:
            label_set = sorted(set(labels))
        texts += [c.text for c in canaries]
        labels += [label_set[k % len(label_set)] for k in range(len(canaries))]
        if users is not None:
            users += [f"\0canary-{k}" for k in range(len(canaries))]
    return texts, labels, users, canaries


def _privacy(req: ReleaseRequest, generated: Any) -> dict[str, Any]:
    return {"mode": req.mode, "unit": "person" if req.user_col else "record"}


def _dp_privacy(req: ReleaseRequest, generated: Any) -> dict[str, Any]:
    """The dp fields of the manifest's privacy block: the ledger's totals (after the gate's
    event) and what was declared; nothing read from the data but through the ledger."""
    from privsynth.generate import check_labels_declared

    led = generated.ledger
    plan = generated.plan
    return {
        "epsilon": led.epsilon,
        "delta": led.delta,
        "accountant": led.accountant,
        "epsilon_by_accountant": dict(plan.epsilons) if plan is not None else {},
        "epsilon_requested": req.epsilon,
        "ledger": "ledger.json",
        "labels": check_labels_declared(req.labels, req.class_prompts),
        "class_prompts": req.class_prompts or {},
        "class_judge": (
            "off"
            if generated.judge_trained is None
            else "trained"
            if generated.judge_trained
            else "reserved, not trained (the DP member count was below its minimum)"
        ),
    }


def _dry_run(
    req: ReleaseRequest, policy: Any, members: Any, holdout: Any, plan: Any, spent: Any, pe: Any
) -> ReleaseResult:
    """The plan and the budget (dp), and the exact sizes of the holder's file: shown to the data
    holder only, nothing written or spent."""
    out: dict[str, Any] = {
        "mode": req.mode,
        "policy": policy.source or "defaults",
        "out": str(req.out),
        "reports": str(req.reports),
    }
    if req.mode == "dp":
        from privsynth.privacy.pe import dry_run

        sizes = members.class_counts() if not req.user_col else _people_per_class(members)
        out.update(
            {
                "epsilon": req.epsilon,
                "delta": plan.delta,
                "dp_plan": dry_run(pe, sizes, n_synthetic=req.n),
                "budget_spent": spent.epsilon,
                "budget_lifetime": policy.release.max_epsilon_lifetime,
                "budget_after_run": spent.epsilon + req.epsilon,
            }
        )
    out.update(
        {
            "your_data": {
                "note": "exact sizes of your file, shown to you only",
                "members": len(members),
                "holdout": len(holdout),
                "classes": members.class_counts(),
                **({"people": len(set(members.groups))} if req.user_col else {}),
            }
        }
    )
    return ReleaseResult("dry-run", None, None, out)


def _people_per_class(members: Any) -> dict[str, int]:
    out: dict[str, set[str]] = {}
    for y, g in zip(members.labels, members.groups):
        out.setdefault(y, set()).add(g)
    return {k: len(v) for k, v in sorted(out.items())}
