"""Mode ``dp``: SMOTExT inside Private Evolution (Aug-PE, Xie et al. 2024).

A formal (epsilon, delta)-DP release under add/remove-one-record adjacency (one person with
``user_ids``). The generator never sees a member record: every read of the members happens in
:mod:`privsynth.privacy.mechanisms` and leaves only as a Gaussian mechanism's noisy output,
in this order (each one event of the ledger, all planned before any data is read):

1. noisy class counts of the members (one record per person): they set the output size when
   ``n`` is not given, the class sizes when ``n_per_class`` is not given, whether the class
   judge is trained, and they refuse a class too small for its candidates to clear the vote
   threshold (post-processing of the counts: a DP decision);
2. (with ``class_judge``) a class judge, a logistic regression on the member vectors trained
   by DP-SGD; every decode afterwards prefers a candidate the judge puts in its target's
   class. Below ``min_units`` members by the noisy count the judge is not trained and its
   share stays reserved in the ledger (the plan cannot depend on the count);
3. an initial population per class made from PUBLIC inputs only: decoded interpolations of
   Brown corpus sentences and, when a class prompt is given, samples of the plain public LM
   asked to write a text of that class (Aug-PE's random API);
4. each round every member (or person) casts at most one vote: for its nearest candidate of
   any class, counted only if that candidate has the member's class (``vote="all"``, the
   default), or for its nearest candidate of its own class (``vote="own-class"``); the
   histogram over all candidates gets Gaussian noise, one event per round;
5. candidates whose noisy count clears ``threshold * sigma`` survive; the next population is
   the best survivors plus SMOTExT interpolations between survivors, decoded to text;
6. after the last round the output is the best survivors plus decoded interpolations of the
   survivors; a decoded output the judge puts in another class (without a judge: nearer
   another class's survivor centroid than its own) is replaced by a fresh interpolation
   (``class_check_rounds``).

Steps 3, 5 and 6 read only noisy outputs and public or synthetic text: post-processing, free.
The label set is public by declaration (``labels``, or the class prompts' labels), never read
from the data. A release then adds the gate's event (``gate_share``,
:mod:`privsynth.gate`) to the same ledger.

All noise comes from :mod:`privsynth.privacy.rng` (OS CSPRNG, never the seed). The seed
drives only choices that read no member data: which public sentences seed the population,
interpolation pairs and lambdas, decoding.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, cast, overload

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy import mechanisms
from privsynth.privacy.ledger import PrivacyLedger
from privsynth.privacy.noise import add_embedding_noise, median_nn_distance
from privsynth.privacy.planner import (
    PURPOSE_COUNTS,
    PURPOSE_VOTES,
    Plan,
    check_delta_for_size,
    minimum_epsilon,
    plan_private_evolution,
)

if TYPE_CHECKING:
    from privsynth.privacy.judge import JudgeConfig
    from privsynth.privacy.ledger import GaussianEvent

_PLANS: dict[tuple[Any, ...], Plan] = {}  # plans are pure functions of their key (no data, no noise)
PUBLIC_SENTENCES = Path(__file__).resolve().parent.parent / "data" / "brown_sentences.csv.gz"


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class Decoder(Protocol):
    """``min_length_share`` also passes ``min_new_tokens`` (one floor per vector) to decoders
    whose ``decode`` takes it and that have a ``tokenizer``."""

    def decode(
        self, vectors: np.ndarray, *, n_candidates: int = ..., seed: int = ..., encoder: Encoder | None = ...
    ) -> list[str]: ...


class PEResult(NamedTuple):
    texts: list[str]
    labels: list[Any]
    ledger: PrivacyLedger
    plan: Plan | None = None
    noisy_counts: dict[str, float] | None = None  # label -> DP member count (a DP output)


@dataclass(frozen=True)
class RoundRecord:
    """What one round released: DP outputs only (never the exact votes)."""

    round: int
    texts: list[str]
    classes: np.ndarray
    noisy_votes: np.ndarray
    survivors: np.ndarray  # indices into texts


def load_public_sentences(path: str | Path = PUBLIC_SENTENCES) -> list[str]:
    """Texts of the bundled public Brown corpus sentences (id,text,label CSV, gzipped)."""
    with gzip.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8"))
        return [row["text"] for row in reader if row["text"].strip()]


#: how a member picks the candidate it votes for (see ``PrivateEvolution(vote=...)``)
VOTES = mechanisms.VOTES
DEFAULT_VOTE = "all"
DEFAULT_TIDY_ROUNDS = 3  # rounds of redecoding outputs that repeat another or carry LM scaffolding
DEFAULT_CLASS_CHECK = 2  # rounds of the survivor-centroid class check (the setting measured in dp)


def declared_labels(labels: Sequence[Any] | None, class_prompts: Mapping[Any, str] | None) -> list[Any]:
    """The public label set: ``labels``, else the class prompts' labels; never read from the data."""
    if labels is not None:
        out = list(dict.fromkeys(labels))
    elif class_prompts:
        out = sorted(class_prompts, key=str)
    else:
        raise UserError(
            "dp mode needs the label set declared, so that the data never decides what is public: "
            "give --labels A,B,... (or a --class-prompt for every label)"
        )
    if len(out) < 1 or any(str(x).strip() == "" for x in out):
        raise UserError(f"the declared label set must hold non-empty labels; got {out!r}")
    return out


def _best_survivors(survivors: np.ndarray, classes: np.ndarray, noisy: np.ndarray, c: int, k: int) -> np.ndarray:
    """The ``k`` survivors of class ``c`` with the highest noisy votes. Post-processing."""
    s = survivors[classes[survivors] == c]
    return cast(np.ndarray, s[np.argsort(-noisy[s], kind="stable")][:k])


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` (largest remainder). Post-processing."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    if w.sum() <= 0:
        w = np.ones_like(w)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return cast(np.ndarray, out)


class PrivateEvolution:
    """(epsilon, delta)-DP synthetic text by Private Evolution around SMOTExT.

    Parameters are stored as given; all work happens in :meth:`generate`.

    epsilon, delta: the budget; delta ``None`` means the public default
        (:data:`~privsynth.privacy.planner.DEFAULT_DELTA`). The run refuses (``UserError``) a
        plan whose total would exceed it.
    rounds: PE iterations T; each is one Gaussian event.
    population_per_class: candidates per class in each round.
    n_candidates: texts decoded per vector (the closest re-embedding wins).
    population_candidates: the same for population members (None: ``n_candidates``). A member
        counts only through the re-embedding of its text, so it may need fewer.
    threshold: survival threshold on noisy votes, in units of the noise multiplier sigma.
    count_share: share of the budget (in zCDP rho) for the DP class counts.
    gate_share: share of the budget (in zCDP rho) reserved for a release's gate statistics
        (recorded by :mod:`privsynth.gate`, not here); 0 for a run with no gate.
    accountant: "prv" (default), "rdp" or "pld".
    elite_fraction: share of each next population taken by the top survivors as they are
        (Aug-PE keeps selected samples); the rest are SMOTExT interpolations of survivors.
    k_neighbors, lam_range: the SMOTExT variation between survivors. Parents are synthetic,
        so lambdas near 0 copy nothing private; a narrower, lower range than plain SMOTExT's
        keeps PE's variations local (measured on the retrieval test problem: 0.1-0.5 moved
        the population toward the members faster than 0.25-0.75).
    variation_noise: embedding noise on the interpolations, its norm in units of the median
        nearest-neighbour distance among survivors (synthetic data: no budget spent).
    labels: the public label set; default: the class prompts' labels. It is never read from
        the data; a record whose label is not in it is refused.
    class_prompts: label -> an instruction for the public LM ("Write a spam text message
        ..."). ``prompt_share`` of that class's initial population is then sampled from the
        plain LM with the prompt (Aug-PE's random API), the rest decoded from Brown
        interpolations. Prompts are public inputs like the label set: write them from what a
        class means, never from a record. Measured on SMS spam at epsilon 4 (SECURITY.md):
        a domain-blind Brown seed pool left the spam class unrecognisable.
    class_check_rounds: decoding can drift into another class. Each decoded output that the
        class judge puts in another class (without a judge: whose embedding lies nearer another
        class's survivor centroid than its own) is replaced by a fresh variation, up to this
        many times (post-processing of DP outputs: no budget).
        0: off. Measured on SMS at epsilon 4 (one run each, bridge v3): 2 rounds replaced 4 of
        about 150 decoded records and raised the class a real-data MiniLM-LR gives them from 77%
        to 92% (macro) in about the same time (261 s against 259 s).
    tidy_rounds: the output is post-processed so that it neither repeats itself nor carries LM
        scaffolding (:mod:`privsynth.scaffolding`): a lead-in is cut, and an output that
        repeats an earlier one (equal words, or character 5-gram Jaccard above 0.7) or keeps
        scaffolding is replaced by a fresh variation of its class, up to this many times
        (synthetic text only: no budget). 0: off.
    vote: "own-class": each member votes for its nearest candidate of its own class. "all":
        for its nearest candidate of any class, counted only if that candidate has the member's
        class, so candidates that decoded into another class's region lose their votes. Same
        sensitivity (1) and ledger either way.
    min_length_share: decoded variations are held to at least this share of their nearer
        parent's length in tokens (the end token is suppressed until then; needs a decoder with a
        ``tokenizer``, else ignored). The parents are survivors, DP outputs: post-processing.
        Decoding a blend of two survivors tends to write a shorter, more generic text than either
        (SMS spam: 10 words against the survivors' 22). Measured on SMS (bridge v3), 0.8 wrote
        16 words instead of 11 but kept the spam class no better (0.55 against 0.56 of 132
        variations; 8 candidates: 0.67), so the default is 0: off.
    class_judge: a :class:`~privsynth.privacy.judge.JudgeConfig` to train a logistic
        regression on the member vectors by DP-SGD first (one more ledger event; the rounds
        get the rest of the budget). Every decode then prefers a candidate the judge puts in
        its target's class, and the class check asks the judge instead of the survivor
        centroids. Not trained below ``min_units`` members (people) by the DP count; its share
        stays reserved. None: off.
    final_neighbors: k of the output's variations (the final step's pairs of survivors);
        None: ``k_neighbors``. With P survivors a class there are about P x k distinct pairs,
        so a large output from a small population decodes each pair many times over; a larger
        k spreads it over more pairs (post-processing either way). Measured on SMS at epsilon 4
        (1,000 records, population 32, class judge, 1 seed): k 31, every survivor of the class,
        gave MiniLM-LR macro-F1 0.794 against 0.790 at 5: the survivors, not their pairings,
        limit the output, so the default stays k_neighbors.
    """

    def __init__(
        self,
        epsilon: float,
        delta: float | None = None,
        *,
        rounds: int = 5,
        population_per_class: int = 64,
        threshold: float = 2.0,
        count_share: float = 0.05,
        accountant: str = "prv",
        k_neighbors: int = 5,
        lam_range: tuple[float, float] = (0.1, 0.5),
        n_candidates: int = 4,
        population_candidates: int | None = None,
        elite_fraction: float = 0.25,
        variation_noise: float = 0.0,
        labels: Sequence[Any] | None = None,
        class_prompts: Mapping[Any, str] | None = None,
        prompt_share: float = 0.75,
        class_check_rounds: int = DEFAULT_CLASS_CHECK,
        tidy_rounds: int = DEFAULT_TIDY_ROUNDS,
        vote: str = DEFAULT_VOTE,
        min_length_share: float = 0.0,
        class_judge: JudgeConfig | None = None,
        final_neighbors: int | None = None,
        gate_share: float = 0.0,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.rounds = rounds
        self.population_per_class = population_per_class
        self.threshold = threshold
        self.count_share = count_share
        self.accountant = accountant
        self.k_neighbors = k_neighbors
        self.lam_range = lam_range
        self.n_candidates = n_candidates
        self.population_candidates = population_candidates
        self.elite_fraction = elite_fraction
        self.variation_noise = variation_noise
        self.labels = labels
        self.class_prompts = class_prompts
        self.prompt_share = prompt_share
        self.class_check_rounds = class_check_rounds
        self.tidy_rounds = tidy_rounds
        self.vote = vote
        self.min_length_share = min_length_share
        self.class_judge = class_judge
        self.final_neighbors = final_neighbors
        self.gate_share = gate_share

    @property
    def _population_candidates(self) -> int:
        """Candidates decoded per population member: a member is used only through the
        re-embedding of its text, so fewer candidates cost less (default: ``n_candidates``)."""
        return self.n_candidates if self.population_candidates is None else self.population_candidates

    # -- planning (public settings only) ---------------------------------------------------

    def plan(self, *, n_classes: int | None = None, n_synthetic: int | None = None) -> Plan:
        """The plan; raises ``UserError`` for a bad budget. Reads no data (not even its size)."""
        key = (
            n_classes,
            n_synthetic,
            self.epsilon,
            self.delta,
            self.rounds,
            self.count_share,
            self.gate_share,
            self.threshold,
            self.population_per_class,
            self.accountant,
            self.class_judge,
        )
        if key not in _PLANS:  # planning bisects the accountant: seconds; a run asks several times
            if len(_PLANS) > 256:
                _PLANS.clear()
            _PLANS[key] = self._plan(n_classes=n_classes, n_synthetic=n_synthetic)
        return _PLANS[key]

    def _plan(self, *, n_classes: int | None, n_synthetic: int | None) -> Plan:
        from privsynth.privacy.planner import check_budget

        delta = check_budget(self.epsilon, self.delta)
        prior: tuple[GaussianEvent, ...] = ()
        if self.class_judge is not None:
            from privsynth.privacy.judge import judge_event

            prior = (judge_event(epsilon=self.epsilon, delta=delta, cfg=self.class_judge, accountant=self.accountant),)
        return plan_private_evolution(
            epsilon=self.epsilon,
            delta=delta,
            rounds=self.rounds,
            count_share=self.count_share,
            gate_share=self.gate_share,
            threshold=self.threshold,
            population_per_class=self.population_per_class,
            accountant=self.accountant,
            n_classes=n_classes,
            n_synthetic=n_synthetic,
            prior_events=prior,
        )

    def guarantee_line(self) -> str:
        """One line for logs and reports: what this run guarantees."""
        p = self.plan()
        return (
            f"privacy mode 'dp': formal ({p.epsilon_planned:.3g}, {p.delta:.3g})-DP under add/remove-one "
            f"adjacency ({p.accountant} accountant, the larger of {', '.join(sorted(p.epsilons))}); "
            f"{p.rounds} Private Evolution round(s), vote noise sigma {p.noise_multiplier:.2f}"
        )

    # -- the run ---------------------------------------------------------------------------

    def generate(
        self,
        member_vectors: np.ndarray,
        member_labels: Sequence[Any],
        encoder: Encoder,
        decoder: Decoder,
        *,
        n: int | None = None,
        n_per_class: int | dict[Any, int] | None = None,
        rng_seed: int = 0,
        user_ids: Sequence[Any] | None = None,
        public_texts: Sequence[str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> PEResult:
        """Run PE and return ``(texts, labels, ledger, plan, noisy_counts)``.

        ``n_per_class`` (an int for every class, or a dict label -> count) fixes the class
        sizes; otherwise ``n`` synthetic records (default: the DP member count) are split by
        the DP class counts. ``public_texts`` replaces the bundled Brown sentences as the
        public seed pool. ``log`` (a str -> None callable) hears about long steps; it never
        receives member data, only DP outputs and public settings.
        """
        if self.vote not in VOTES:
            raise UserError(f"vote must be one of {', '.join(VOTES)}; got {self.vote!r}")
        if not 0.0 <= self.min_length_share <= 1.0:
            raise UserError(f"min_length_share must be within [0, 1]; got {self.min_length_share!r}")
        if self.final_neighbors is not None and (
            isinstance(self.final_neighbors, bool)
            or not isinstance(self.final_neighbors, int)
            or self.final_neighbors < 1
        ):
            raise UserError(f"final_neighbors must be a positive integer or None; got {self.final_neighbors!r}")
        if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
            raise UserError(f"--n must be a positive integer; got {n!r}")
        X = np.asarray(member_vectors, dtype=np.float32)
        y = np.asarray(member_labels, dtype=object)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"member_vectors {X.shape} and member_labels ({len(y)}) do not match")
        label_set = declared_labels(self.labels, self.class_prompts)
        index = {str(lab): i for i, lab in enumerate(label_set)}
        unknown = sorted({str(v) for v in y.tolist() if str(v) not in index})
        if unknown:
            raise UserError(
                f"label(s) {', '.join(map(repr, unknown[:5]))} of the input are not in the declared label "
                f"set {[str(x) for x in label_set]}; declare every label (--labels) or remove those records"
            )
        yc = np.array([index[str(v)] for v in y.tolist()], dtype=np.int64)
        if user_ids is not None:
            user_ids = cast("Sequence[Any]", np.asarray(user_ids, dtype=object))  # what the mechanisms take as ids
            if len(user_ids) != len(X):
                raise ValueError(f"user_ids has {len(user_ids)} entries for {len(X)} records")
        sizes_given = None if n_per_class is None else self._given_sizes(n_per_class, label_set)
        plan = self.plan(n_classes=len(label_set), n_synthetic=None if n is None else int(n))
        prompts = self._prompts_by_class(label_set, decoder)
        say = log or (lambda _msg: None)
        self.timings_: dict[str, float] = {}  # wall seconds of each step (plain data, no private figure)
        clock = _Clock(self.timings_)
        ledger = PrivacyLedger(delta=plan.delta, accountant=plan.accountant, budget_epsilon=plan.epsilon_budget)

        # 1. DP class counts: everything the run knows of the data's size comes from them
        noisy = mechanisms.noisy_class_counts(
            yc, len(label_set), ledger=ledger, event=plan.event(PURPOSE_COUNTS), user_ids=user_ids
        )
        n_noisy = float(max(noisy.sum(), 0.0))
        self.noisy_counts_ = {str(label_set[c]): float(noisy[c]) for c in range(len(label_set))}
        self.n_units_noisy_ = n_noisy
        unit = "people" if user_ids is not None else "records"
        say(
            f"DP class counts (noise sigma {plan.count_noise_multiplier:.1f}): "
            + ", ".join(f"{k} ~{max(v, 0):.0f}" for k, v in self.noisy_counts_.items())
            + f" {unit}"
        )
        self._check_noisy_sizes(noisy, label_set, plan, unit)
        warning = check_delta_for_size(plan.delta, n_noisy)
        if warning:
            say(warning)
        sizes = (
            sizes_given
            if sizes_given is not None
            else _allocate(int(n) if n is not None else max(1, round(n_noisy)), noisy)
        )

        clock.lap("dp_counts")
        # 2. the class judge (DP-SGD), or its reserved share
        self.judge_ = None
        if self.class_judge is not None:
            from privsynth.privacy.judge import PURPOSE_JUDGE, PURPOSE_JUDGE_RESERVED, fit_dp_judge

            event = plan.event(PURPOSE_JUDGE)
            if self.class_judge.applies(n_noisy):
                self.judge_ = fit_dp_judge(
                    X,
                    yc,
                    len(label_set),
                    event=event,
                    ledger=ledger,
                    cfg=self.class_judge,
                    n_units_noisy=n_noisy,
                    user_ids=user_ids,
                    log=log,
                )
            else:
                ledger.record(
                    purpose=PURPOSE_JUDGE_RESERVED,
                    noise_multiplier=event.noise_multiplier,
                    sample_rate=event.sample_rate,
                    steps=event.steps,
                )
                say(
                    f"class judge not trained: about {n_noisy:.0f} {unit} by the DP count, fewer than the "
                    f"{self.class_judge.min_units} it needs to judge well; its share stays reserved in the ledger"
                )

        # 3. initial population: public inputs only
        pool = list(public_texts) if public_texts is not None else load_public_sentences()
        say(
            f"Private Evolution: writing the initial population ({self.population_per_class} candidates per "
            f"class, public text only), then {plan.rounds} round(s) of noisy votes"
        )
        K = len(label_set)
        rng = np.random.default_rng(rng_seed)
        clock.lap("class_judge")
        texts, classes = self._initial_population(pool, K, encoder, decoder, rng, prompts)
        C = self._encode(encoder, texts)
        clock.lap("initial_population")

        # 4-5. rounds of noisy votes
        self.history_: list[RoundRecord] = []
        one_round = dataclasses.replace(plan.event(PURPOSE_VOTES), steps=1)
        cluster = getattr(self, "cluster", None)  # set by a run on Ray (privsynth.cluster)
        histogram = None if cluster is None else cluster.vote_histogram
        for t in range(1, plan.rounds + 1):
            votes = mechanisms.noisy_votes(
                X,
                yc,
                C,
                classes,
                among=self.vote,
                ledger=ledger,
                event=one_round,
                user_ids=user_ids,
                histogram=histogram,
            )
            clock.lap(f"round_{t}_votes")
            # --- from here on: post-processing of `votes` and synthetic text only ---
            survivors = self._survivors(votes, classes, K, plan.threshold_votes)
            self.history_.append(RoundRecord(t, list(texts), classes.copy(), votes, survivors))
            say(
                f"round {t}/{plan.rounds}: {len(survivors)} of {len(texts)} candidates survive the noisy vote"
                + ("; writing the next population" if t < plan.rounds else "")
            )
            if t < plan.rounds:
                texts, classes, C = self._next_population(texts, classes, C, votes, survivors, K, encoder, decoder, rng)
                clock.lap(f"round_{t}_next_population")

        # 6. the output
        say(f"writing the {int(np.sum(sizes))} output records from the survivors")
        out_texts, out_labels = self._final(
            texts, classes, C, votes, survivors, sizes, label_set, encoder, decoder, rng
        )
        clock.lap("output")
        return PEResult(out_texts, out_labels, ledger, plan, dict(self.noisy_counts_))

    # -- helpers -----------------------------------------------------------------------------

    def _check_noisy_sizes(self, noisy: np.ndarray, label_set: Sequence[Any], plan: Plan, unit: str) -> None:
        """Refuse classes whose DP count is too small for a candidate to clear the vote threshold
        on merit: a decision on a DP output (post-processing), so it is covered too."""
        small = [c for c in range(len(label_set)) if noisy[c] < plan.min_class_size]
        if not small:
            return
        need = max(
            minimum_epsilon(
                delta=plan.delta,
                class_size=max(float(noisy[c]), 1.0),
                rounds=plan.rounds,
                count_share=plan.count_share,
                gate_share=plan.gate_share,
                threshold=plan.threshold,
                accountant=plan.accountant,
            )
            for c in small
        )
        names = ", ".join(f"{label_set[c]!r} (about {max(noisy[c], 0):.0f})" for c in small)
        raise UserError(
            f"class(es) {names} have fewer than {plan.min_class_size} {unit} by the DP count, the minimum at --epsilon "
            f"{plan.epsilon_budget:g} with {plan.rounds} round(s) (vote noise sigma {plan.noise_multiplier:.1f}, "
            f"threshold {plan.threshold:g} sigma); merge or drop those classes, or raise --epsilon to about "
            f"{need:.2g} or more (run --dry-run first: it reads the exact sizes and spends nothing)"
        )

    @staticmethod
    def _given_sizes(n_per_class: int | dict[Any, int], label_set: Sequence[Any]) -> np.ndarray:
        if isinstance(n_per_class, dict):
            missing = [lab for lab in label_set if lab not in n_per_class]
            if missing:
                raise UserError(f"n_per_class lacks label(s) {missing}; give a count for every class")
            sizes = np.array([int(n_per_class[lab]) for lab in label_set])
        else:
            sizes = np.full(len(label_set), int(n_per_class))
        if (sizes < 0).any() or sizes.sum() < 1:
            raise UserError(f"--n-per-class must be a positive integer; got {n_per_class!r}")
        return sizes

    @staticmethod
    def _encode(encoder: Encoder, texts: Iterable[str]) -> np.ndarray:
        V = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
        return cast(np.ndarray, V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12))

    @overload
    def _decode(
        self,
        decoder: Decoder,
        encoder: Encoder,
        vectors: np.ndarray,
        rng: np.random.Generator,
        parents: Sequence[str] | None = ...,
        classes: np.ndarray | None = ...,
        verdicts: Literal[False] = ...,
        avoid: set[str] | None = ...,
        n_candidates: int | None = ...,
    ) -> list[str]: ...

    @overload
    def _decode(
        self,
        decoder: Decoder,
        encoder: Encoder,
        vectors: np.ndarray,
        rng: np.random.Generator,
        parents: Sequence[str] | None = ...,
        classes: np.ndarray | None = ...,
        *,
        verdicts: Literal[True],
        avoid: set[str] | None = ...,
        n_candidates: int | None = ...,
    ) -> tuple[list[str], np.ndarray | None]: ...

    def _decode(
        self,
        decoder: Decoder,
        encoder: Encoder,
        vectors: np.ndarray,
        rng: np.random.Generator,
        parents: Sequence[str] | None = None,
        classes: np.ndarray | None = None,
        verdicts: bool = False,
        avoid: set[str] | None = None,
        n_candidates: int | None = None,
    ) -> list[str] | tuple[list[str], np.ndarray | None]:
        """Decode vectors; with ``parents`` (one synthetic text per vector) and
        ``min_length_share``, each text is held to that share of its parent's length. With the
        class judge and ``classes`` (each vector's class), candidates the judge puts in that class
        are preferred; ``verdicts`` then also returns, per text, whether it is (None: no judge).
        ``avoid`` (normalised texts) goes to a decoder that takes it: candidates equal to one
        of them are chosen last. ``n_candidates``: this decode's candidates (default ``self.n_candidates``)."""
        seed = int(rng.integers(2**31 - 1))
        kw: dict[str, Any] = {}
        judge = getattr(self, "judge_", None)
        if judge is not None and classes is not None:
            want = np.asarray(classes)
            kw["accept"] = lambda E, r: judge.predict(E) == want[r]  # noqa: E731
            kw["return_accepted"] = verdicts
        if parents is not None and self.min_length_share > 0 and _takes_length_floors(decoder):
            from privsynth.bridge import token_lengths

            kw["min_new_tokens"] = np.round(
                self.min_length_share * token_lengths(cast(Any, decoder).tokenizer, parents)
            ).astype(int)
        if avoid and _takes(decoder, "avoid"):
            kw["avoid"] = avoid
        out = decoder.decode(
            np.asarray(vectors, dtype=np.float32),
            n_candidates=self.n_candidates if n_candidates is None else n_candidates,
            seed=seed,
            encoder=encoder,
            **kw,
        )
        if not verdicts:
            return list(out)
        if kw.get("return_accepted"):
            return list(out[0]), np.asarray(out[1], dtype=bool)
        return list(out), None

    def _interpolate(
        self, V: np.ndarray, counts: dict[int, int], classes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """SMOTExT interpolation per class between the given (public or synthetic) vectors."""
        from privsynth.smotext import interpolate

        outs, labs = [], []
        for c, m in counts.items():
            rows = np.flatnonzero(classes == c)
            if m <= 0 or rows.size == 0:
                continue
            if rows.size == 1:  # nothing to pair with: repeat it (the decoder samples anyway)
                outs.append(np.repeat(V[rows], m, axis=0))
                labs.append(np.full(m, c))
                continue
            Z, zl = interpolate(
                V[rows],
                np.full(rows.size, c),
                {c: m},
                k_neighbors=min(self.k_neighbors, rows.size - 1),
                lam_range=self.lam_range,
                rng=rng,
            )
            outs.append(np.asarray(Z, dtype=np.float32))
            labs.append(np.asarray(zl, dtype=np.int64))
        return np.concatenate(outs), np.concatenate(labs)

    def _prompts_by_class(self, label_set: Sequence[Any], decoder: Decoder) -> dict[int, str]:
        """Class index -> prompt; refuses prompts for unknown labels (a typo would do nothing)."""
        if not self.class_prompts:
            return {}
        if not 0.0 < self.prompt_share <= 1.0:
            raise UserError(f"prompt_share must be in (0, 1]; got {self.prompt_share!r}")
        by_name = {str(lab): i for i, lab in enumerate(label_set)}
        unknown = [str(k) for k in self.class_prompts if str(k) not in by_name]
        if unknown:
            raise UserError(
                f"--class-prompt names label(s) {unknown} that are not in the label set {[str(x) for x in label_set]}"
            )
        if not hasattr(decoder, "sample_prompted"):
            raise UserError("class prompts need a decoder with a language model (sample_prompted)")
        return {by_name[str(k)]: str(v) for k, v in self.class_prompts.items() if str(v).strip()}

    def _initial_population(
        self,
        pool: Sequence[str],
        K: int,
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
        prompts: dict[int, str] | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """PUBLIC seeds only, reads no member data: per class, samples of the plain LM from the
        class prompt (if given) plus decoded interpolations of public sentences."""
        m = self.population_per_class
        prompts = prompts or {}
        n_prompted = {c: (int(round(self.prompt_share * m)) if c in prompts else 0) for c in range(K)}
        want = {c: m - n_prompted[c] for c in range(K)}
        texts: list[str] = []
        classes: list[np.ndarray] = []
        if any(want.values()):
            if len(pool) < 2:
                raise UserError("the public seed pool needs at least 2 sentences")
            per_class = min(2 * m, len(pool))
            picks = np.concatenate([rng.choice(len(pool), per_class, replace=False) for _ in range(K)])
            V = self._encode(encoder, [pool[i] for i in picks])
            cls = np.repeat(np.arange(K), per_class)
            Z, zc = self._interpolate(V, want, cls, rng)
            texts += self._decode(decoder, encoder, Z, rng, classes=zc, n_candidates=self._population_candidates)
            classes.append(zc)
        for c, k in n_prompted.items():
            if k:
                texts += cast(Any, decoder).sample_prompted(prompts[c], k, seed=int(rng.integers(2**31 - 1)))
                classes.append(np.full(k, c, dtype=np.int64))
        return texts, np.concatenate(classes)

    def _survivors(self, noisy: np.ndarray, classes: np.ndarray, K: int, threshold_votes: float) -> np.ndarray:
        """Candidates whose noisy count clears the threshold; at least 2 per class (the top
        noisy counts) so that interpolation has pairs. Post-processing."""
        keep = []
        for c in range(K):
            cols = np.flatnonzero(classes == c)
            if cols.size == 0:
                continue
            ranked = cols[np.argsort(-noisy[cols], kind="stable")]
            above = ranked[noisy[ranked] >= threshold_votes]
            keep.append(above if above.size >= 2 else ranked[: min(2, ranked.size)])
        return np.concatenate(keep)

    def _next_population(
        self,
        texts: list[str],
        classes: np.ndarray,
        C: np.ndarray,
        noisy: np.ndarray,
        survivors: np.ndarray,
        K: int,
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Top survivors kept as they are + decoded interpolations between survivors."""
        m = self.population_per_class
        keep_texts, keep_cls, keep_vecs, want = [], [], [], {}
        for c in range(K):
            s = _best_survivors(survivors, classes, noisy, c, int(self.elite_fraction * m))
            keep_texts += [texts[i] for i in s]
            keep_cls.append(classes[s])
            keep_vecs.append(C[s])
            want[c] = m - len(s)
        Z, zc, parent = self._variations(C[survivors], classes[survivors], want, rng, noisy[survivors])
        new_texts = self._decode(
            decoder,
            encoder,
            Z,
            rng,
            [texts[survivors[p]] for p in parent],
            classes=zc,
            n_candidates=self._population_candidates,
        )
        texts = keep_texts + new_texts
        classes = np.concatenate(keep_cls + [zc])
        C = np.concatenate(keep_vecs + [self._encode(encoder, new_texts)])
        return texts, classes, C

    def _variations(
        self,
        S: np.ndarray,
        s_cls: np.ndarray,
        want: Mapping[int, int],
        rng: np.random.Generator,
        weights: np.ndarray,
        k: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PE's variation step on survivors (synthetic vectors): parents drawn in proportion
        to their noisy votes -- the selection pressure of PE's resampling -- each paired with
        one of its k nearest survivors of the class, SMOTExT-style. Post-processing.

        Same arithmetic as ``smotext.interpolate`` (whose parents are uniform), plus weights.
        Returns the vectors, their classes and each one's nearer parent (a row of ``S``).
        """
        from privsynth.encoder import normalize
        from privsynth.smotext import nearest_same_class

        lo, hi = self.lam_range
        outs, labs, parents = [], [], []
        for c, m in want.items():
            rows = np.flatnonzero(s_cls == c)
            if m <= 0 or rows.size == 0:
                continue
            w = np.clip(weights[rows], 0, None)
            p = w / w.sum() if w.sum() > 0 else None
            a = rng.choice(rows.size, size=m, p=p)
            near = rows[a]
            if rows.size == 1:
                Z = np.repeat(S[rows], m, axis=0)
            else:
                nbrs = nearest_same_class(S, rows, k or self.k_neighbors)
                b = nbrs[a, rng.integers(0, nbrs.shape[1], size=m)]
                lam = rng.uniform(lo, hi, size=m)[:, None]
                Z = normalize((1 - lam) * S[rows[a]] + lam * S[rows[b]])
                near = np.where(lam[:, 0] <= 0.5, rows[a], rows[b])
            outs.append(np.asarray(Z, dtype=np.float32))
            labs.append(np.full(m, c, dtype=np.int64))
            parents.append(near)
        Z, zc = np.concatenate(outs), np.concatenate(labs)
        if self.variation_noise > 0 and len(S) >= 2:
            scale = self.variation_noise * median_nn_distance(S) / math.sqrt(S.shape[1])  # norm units, as mode noise
            Z = add_embedding_noise(Z, sigma=scale, secure=True)
        return Z, zc, np.concatenate(parents)

    def _final(
        self,
        texts: list[str],
        classes: np.ndarray,
        C: np.ndarray,
        noisy: np.ndarray,
        survivors: np.ndarray,
        sizes: np.ndarray,
        label_set: Sequence[Any],
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
    ) -> tuple[list[str], list[Any]]:
        """Output: the best last survivors as they are (up to ``elite_fraction`` of each class,
        as Aug-PE releases its selected samples), then decoded interpolations between the
        survivors. Post-processing."""
        out, labs, want = [], [], {}
        for c in range(len(label_set)):
            s = _best_survivors(survivors, classes, noisy, c, min(int(self.elite_fraction * sizes[c]), int(sizes[c])))
            out += [texts[i] for i in s]
            labs += [c] * len(s)
            want[c] = int(sizes[c]) - len(s)
        if any(v > 0 for v in want.values()):
            s_texts = [texts[i] for i in survivors]
            Z, zc, parent = self._variations(
                C[survivors],
                classes[survivors],
                {c: m for c, m in want.items() if m > 0},
                rng,
                noisy[survivors],
                k=self.final_neighbors,
            )
            decoded, in_class = self._decode(
                decoder, encoder, Z, rng, [s_texts[p] for p in parent], classes=zc, verdicts=True
            )
            if self.class_check_rounds > 0:
                decoded = self._class_check(
                    decoded,
                    zc,
                    C[survivors],
                    classes[survivors],
                    noisy[survivors],
                    s_texts,
                    encoder,
                    decoder,
                    rng,
                    in_class,
                )
            out += decoded
            labs += zc.tolist()
        if self.tidy_rounds > 0:
            out = self._tidy(
                out,
                np.asarray(labs, dtype=np.int64),
                C[survivors],
                classes[survivors],
                noisy[survivors],
                [texts[i] for i in survivors],
                encoder,
                decoder,
                rng,
            )
        return out, [label_set[c] for c in labs]

    def _tidy(
        self,
        texts: list[str],
        cls: np.ndarray,
        S: np.ndarray,
        s_cls: np.ndarray,
        weights: np.ndarray,
        s_texts: Sequence[str],
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
    ) -> list[str]:
        """Cut LM lead-ins, then replace each output that repeats an earlier one or keeps
        scaffolding by a fresh variation of its class (``tidy_rounds`` tries). A replacement the
        class judge puts in another class is not taken. Reads synthetic text and DP outputs
        only (the survivors, their noisy votes, the judge): post-processing."""
        from privsynth import scaffolding
        from privsynth.diversity import normalize, repeats

        texts = [scaffolding.cut(t) or t for t in texts]

        def flawed() -> np.ndarray:
            rep = repeats(texts)
            sc = np.array([not t.strip() or bool(scaffolding.find(t)) for t in texts], dtype=bool)
            return np.flatnonzero(rep | sc)

        bad = flawed()
        self.tidy_initial_ = int(bad.size)
        for _ in range(self.tidy_rounds):
            if bad.size == 0:
                break
            keep = np.ones(len(texts), dtype=bool)
            keep[bad] = False
            avoid = {normalize(t) for t, k in zip(texts, keep) if k}
            order, redo, ok = self._redecode(bad, cls, S, s_cls, weights, s_texts, encoder, decoder, rng, avoid)
            if order.size == 0:
                break
            for j, (i, t) in enumerate(zip(order, redo)):
                if ok is None or ok[j]:
                    texts[i] = scaffolding.cut(t) or t
            bad = flawed()
        self.tidy_left_ = int(bad.size)
        return texts

    def _redecode(
        self,
        bad: np.ndarray,
        cls: np.ndarray,
        S: np.ndarray,
        s_cls: np.ndarray,
        weights: np.ndarray,
        s_texts: Sequence[str],
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
        avoid: set[str] | None = None,
    ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
        """Decode a fresh variation of its class for each output in ``bad`` (classes without a
        survivor are skipped): the outputs redone, grouped by class, their texts and the judge's
        verdicts. Reads the survivors and their noisy votes only: post-processing."""
        want = {int(c): int((cls[bad] == c).sum()) for c in np.unique(cls[bad]) if np.any(s_cls == c)}
        if not want:
            return np.zeros(0, dtype=np.int64), [], None
        Z, _, parent = self._variations(S, s_cls, want, rng, weights, k=self.final_neighbors)
        order = np.concatenate([bad[cls[bad] == c] for c in want])  # _variations groups by class, in want's order
        redo, ok = self._decode(
            decoder,
            encoder,
            Z,
            rng,
            [s_texts[p] for p in parent],
            classes=cls[order],
            verdicts=True,
            avoid=avoid,
        )
        return order, redo, ok

    def _class_check(
        self,
        texts: Sequence[str],
        zc: np.ndarray,
        S: np.ndarray,
        s_cls: np.ndarray,
        weights: np.ndarray,
        s_texts: Sequence[str],
        encoder: Encoder,
        decoder: Decoder,
        rng: np.random.Generator,
        in_class: np.ndarray | None = None,
    ) -> list[str]:
        """Replace off-class outputs by fresh variations of their class (``class_check_rounds``
        tries). Off class: the DP judge puts it in another class (``in_class``, decode's
        verdicts), or without a judge, it lies nearer another class's survivor centroid than its
        own. Reads only DP outputs (the judge, the survivors): post-processing."""
        from privsynth.encoder import normalize

        texts = list(texts)
        if in_class is not None:
            bad = np.flatnonzero(~in_class)
            off_class = None
        else:
            present = np.unique(s_cls)
            if present.size < 2:
                self.class_mismatch_initial_ = self.class_mismatch_ = 0
                return texts
            cent = normalize(np.stack([S[s_cls == c].mean(0) for c in present]))

            def off_class(idx: np.ndarray) -> np.ndarray:
                E = self._encode(encoder, [texts[i] for i in idx])
                return cast(np.ndarray, idx[present[np.argmax(E @ cent.T, axis=1)] != zc[idx]])

            bad = off_class(np.arange(len(texts)))
        self.class_mismatch_initial_ = int(bad.size)
        for _ in range(self.class_check_rounds):
            if bad.size == 0:
                break
            order, redo, ok = self._redecode(bad, zc, S, s_cls, weights, s_texts, encoder, decoder, rng)
            if order.size == 0:
                break
            for i, t in zip(order, redo):
                texts[i] = t
            bad = off_class(bad) if off_class is not None else order[~ok]
        self.class_mismatch_ = int(bad.size)
        return texts


class _Clock:
    """Laps of wall time into a dict: ``lap(name)`` records the seconds since the previous lap."""

    def __init__(self, into: dict[str, float]) -> None:
        import time

        self._time, self.into, self.t = time.monotonic, into, time.monotonic()

    def lap(self, name: str) -> None:
        now = self._time()
        self.into[name] = round(now - self.t, 3)
        self.t = now


def _takes(decoder: Decoder, name: str) -> bool:
    """Whether the decoder's ``decode`` takes the keyword ``name``."""
    import inspect

    try:
        return name in inspect.signature(decoder.decode).parameters
    except (TypeError, ValueError):
        return False


def _takes_length_floors(decoder: Decoder) -> bool:
    return _takes(decoder, "min_new_tokens") and hasattr(decoder, "tokenizer")


def parse_class_prompts(items: Sequence[str]) -> dict[str, str]:
    """``["spam=Write a spam SMS.", ...]`` (the CLI's ``--class-prompt``) -> {label: prompt}."""
    out: dict[str, str] = {}
    for item in items:
        label, sep, prompt = item.partition("=")
        if not sep or not label.strip() or not prompt.strip():
            raise UserError(
                f"--class-prompt takes LABEL=INSTRUCTION (e.g. spam='Write a spam text message.'); got {item!r}"
            )
        if label.strip() in out:
            raise UserError(f"--class-prompt gives label {label.strip()!r} twice")
        out[label.strip()] = prompt.strip()
    return out


def dry_run(
    pe: PrivateEvolution, class_sizes: Mapping[str, int] | None = None, *, n_synthetic: int | None = None
) -> dict[str, Any]:
    """The plan as plain data (what ``--dry-run`` prints). With ``class_sizes`` (the exact members
    per class of the data holder's file: a dry run releases nothing and spends nothing) it also
    says which classes a real run would refuse and whether delta suits the data's size."""
    n_classes = None if class_sizes is None else len(class_sizes)
    plan = pe.plan(n_classes=n_classes, n_synthetic=n_synthetic)
    d = plan.to_dict()
    d["vote"] = pe.vote
    d["expected_time_note"] = (
        f"rough: {d['expected_decodes']} decodes at ~{d['expected_seconds'] / max(d['expected_decodes'], 1):.1f} s "
        "each on 2 CPU cores"
        if n_classes is not None and n_synthetic is not None
        else "give --n and the label set to estimate the time"
    )
    if class_sizes is not None:
        small = {k: v for k, v in class_sizes.items() if v < plan.min_class_size}
        d["your_data"] = {
            "note": "exact sizes of your file, shown to you only: a real run reads them through DP counts",
            "members_per_class": dict(class_sizes),
            "classes_too_small": small,
            "delta_warning": None,
        }
        try:
            d["your_data"]["delta_warning"] = check_delta_for_size(plan.delta, sum(class_sizes.values()))
        except UserError as err:
            d["your_data"]["delta_warning"] = str(err)
    return d
