"""The generate stage: SMOTExT (modes none and noise) or Private Evolution (mode dp).

One code path for every dp run: ``privsynth release``, ``privsynth generate --privacy dp`` and
the benchmarks all build their :class:`~privsynth.privacy.pe.PrivateEvolution` with
:func:`private_evolution` and run it with :func:`run_private_evolution`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privsynth.errors import UserError


@dataclass
class Generated:
    """What a generator returns: synthetic records, the ledger (dp) and what the run learnt
    that may be reported: model identities, generation counts, the plan and the DP counts."""

    texts: list[str]
    labels: list[str]
    ledger: Any = None  # privsynth.privacy.ledger.PrivacyLedger (dp); the gate records into it
    models: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    plan: Any = None  # privsynth.privacy.planner.Plan (dp)
    noisy_counts: dict[str, float] | None = None  # label -> DP member count (dp)
    judge_trained: bool | None = None  # dp with a class judge: trained, or its share only reserved


def private_evolution(
    *,
    epsilon: float,
    delta: float | None = None,
    rounds: int = 5,
    population_per_class: int = 64,
    n_candidates: int = 8,
    population_candidates: int | None = None,
    labels: Sequence[str] | None = None,
    class_prompts: Mapping[str, str] | None = None,
    judge_share: float | None = None,
    class_check: int | None = None,
    vote: str = "all",
    gate_share: float = 0.0,
    **options: Any,
):
    """The PrivateEvolution of a dp run from its settings (``options`` go to it as they are)."""
    from privsynth.privacy.judge import judge_config
    from privsynth.privacy.pe import DEFAULT_CLASS_CHECK, PrivateEvolution

    return PrivateEvolution(
        epsilon,
        delta,
        rounds=rounds,
        population_per_class=population_per_class,
        n_candidates=n_candidates,
        population_candidates=population_candidates,
        labels=list(labels) if labels else None,
        class_prompts=dict(class_prompts) if class_prompts else None,
        class_judge=judge_config(judge_share),
        class_check_rounds=DEFAULT_CLASS_CHECK if class_check is None else class_check,
        vote=vote,
        gate_share=gate_share,
        **options,
    )


def run_private_evolution(
    pe,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    encoder,
    bridge,
    n: int | None = None,
    n_per_class: int | None = None,
    seed: int = 0,
    user_ids: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
):
    """Embed the members and run Private Evolution: the one dp generation path. Returns its PEResult."""
    X = encoder.encode(list(texts))
    return pe.generate(
        X, list(labels), encoder, bridge, n=n, n_per_class=n_per_class, rng_seed=seed, user_ids=user_ids, log=log
    )


def model_identities(encoder_name: str | None = None, bridge_path: Path | None = None) -> dict[str, Any]:
    """Names and hashes of the public models a run used (for the manifest)."""
    from privsynth.bridge import DEFAULT_WEIGHTS
    from privsynth.manifest import sha256_file
    from privsynth.models import DEFAULT_ENCODER, lm_identity, resolve_encoder

    enc_path = Path(resolve_encoder(encoder_name))
    enc: dict[str, Any] = {"name": encoder_name or DEFAULT_ENCODER}
    weights = sorted(enc_path.glob("*.safetensors")) if enc_path.is_dir() else []
    if weights:
        enc["sha256"] = sha256_file(weights[0])
    bridge = Path(bridge_path) if bridge_path else DEFAULT_WEIGHTS
    return {
        "encoder": enc,
        "lm": lm_identity(None),
        "bridge": {"name": bridge.name, "sha256": sha256_file(bridge) if bridge.exists() else None},
    }


def class_check_stats(gen) -> dict[str, Any]:
    """The class check's counts from a SMOTExT or PrivateEvolution that ran (None where the
    check did not run: one class, or rounds 0), and the tidy step's where it ran."""
    out = {
        "class_check_rounds": gen.class_check_rounds,
        "off_class_first_pass": getattr(gen, "class_mismatch_initial_", None),
        "off_class_left": getattr(gen, "class_mismatch_", None),
    }
    if getattr(gen, "tidy_initial_", None) is not None:
        out["repeats_or_scaffolding_first_pass"] = gen.tidy_initial_
        out["repeats_or_scaffolding_left"] = gen.tidy_left_
    if getattr(gen, "timings_", None) is not None:
        out["seconds_by_step"] = dict(gen.timings_)
    if getattr(gen, "scaffolding_first_pass_", None) is not None:
        out["scaffolding_first_pass"] = gen.scaffolding_first_pass_
        out["scaffolding_left"] = gen.scaffolding_left_
    return out


def smotext_generator(
    *,
    encoder=None,
    bridge=None,
    models: dict[str, Any] | None = None,
    n_candidates: int | None = None,
    max_new_tokens: int | None = None,
    pe_options: dict | None = None,
):
    """A generate function around SMOTExT (none/noise) and Private Evolution (dp).

    ``encoder``/``bridge`` None: the embedded defaults (loaded on first use). ``pe_options``
    override PrivateEvolution's settings (tests use small populations).
    """

    def generate(
        texts: list[str],
        labels: list[str],
        *,
        request,
        progress,
        user_ids: list[str] | None = None,
        gate_share: float = 0.0,
    ) -> Generated:
        from privsynth.cluster import on_cluster

        enc, br = encoder, bridge
        if getattr(request, "ray", None):  # the cluster's workers get copies of the models: load them now
            from privsynth.bridge import Bridge
            from privsynth.encoder import Encoder

            enc = enc or Encoder(device=request.device, show_progress=progress.interactive)
            br = br or Bridge.load().to(request.device)
        with on_cluster(getattr(request, "ray", None), enc, br, log=progress.info) as enc:
            out = _run(texts, labels, request, progress, user_ids, gate_share, enc, br)
            cluster = getattr(enc, "cluster", None)  # a ClusterEncoder knows its cluster
            if cluster is not None:
                out.stats["ray"] = cluster.summary()
        return out

    def _run(texts, labels, request, progress, user_ids, gate_share, encoder, bridge) -> Generated:
        from privsynth.smotext import SMOTExT

        gen = SMOTExT(
            encoder=encoder,
            bridge=bridge,
            random_state=request.seed,
            n_candidates=request.n_candidates if n_candidates is None else n_candidates,
            max_new_tokens=max_new_tokens,
            class_check_rounds=request.class_check_rounds,
            progress=progress.interactive,
            device=request.device,
        )
        ids = models if models is not None else model_identities()
        if request.mode in ("none", "noise"):
            gen.fit(texts, labels)
            transform = None
            if request.mode == "noise":
                from privsynth.privacy.noise import noise_transform

                transform = noise_transform(gen.X_, scale=request.noise_scale, seed=request.seed)
            out_t, out_y = gen.generate(n=request.n, n_per_class=request.n_per_class, transform=transform)
            stats = {"copies_redecoded": gen.rejected_, "copies_retargeted": gen.retargeted_, **class_check_stats(gen)}
            return Generated(out_t, out_y, None, ids, stats)
        # dp: SMOTExT is not fitted (its fit reads the members: class sizes, a classifier)
        from privsynth.encoder import Encoder

        pe = private_evolution(**{**request.dp_settings(), "gate_share": gate_share, **(pe_options or {})})
        pe.cluster = getattr(encoder, "cluster", None)  # on Ray: votes per shard there, noise once here
        enc = encoder or Encoder(device=request.device, show_progress=progress.interactive)
        res = run_private_evolution(
            pe,
            texts,
            labels,
            encoder=enc,
            bridge=gen._bridge(),
            n=request.n,
            n_per_class=request.n_per_class,
            seed=request.seed,
            user_ids=user_ids,
            log=progress.info,
        )
        return Generated(
            list(res.texts),
            [str(y) for y in res.labels],
            res.ledger,
            ids,
            class_check_stats(pe),
            res.plan,
            res.noisy_counts,
            None if pe.class_judge is None else pe.judge_ is not None,
        )

    return generate


generate_default = smotext_generator()


def check_labels_declared(labels: Sequence[str] | None, class_prompts: Mapping[str, str] | None) -> list[str]:
    """dp: the declared label set (``--labels``, else the class prompts' labels), or a UserError."""
    from privsynth.privacy.pe import declared_labels

    if labels and class_prompts:
        unknown = sorted(set(class_prompts) - set(labels))
        if unknown:
            raise UserError(f"--class-prompt names label(s) {unknown} missing from --labels {list(labels)}")
    return [str(x) for x in declared_labels(labels, class_prompts)]


def check_domain(corpus, labels: Sequence[str], source: Any) -> None:
    """dp: refuse (naming the row) a record whose label is outside the declared label set. The
    guarantee's domain is records with declared labels; a file holding another is refused
    before anything is read into a mechanism or charged, as a malformed row is."""
    allowed = set(labels)
    for label, row in zip(corpus.labels, corpus.rows):
        if label not in allowed:
            raise UserError(
                f"{source}: row {row}: label {label!r} is not in the declared label set {sorted(allowed)}; "
                "declare every label with --labels, or remove the record"
            )
