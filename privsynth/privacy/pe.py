"""Mode ``dp``: SMOTExT inside Private Evolution (Aug-PE, Xie et al. 2024).

A formal (epsilon, delta)-DP release under add/remove-one-record adjacency (one person with
``user_ids``). The generator never sees a member record; it only sees noisy vote counts
(and, with the options below, weights trained by DP-SGD):

0. (optional, with ``class_judge``) a class judge, a logistic regression on the member
   vectors, is trained by DP-SGD -- one subsampled Gaussian event; every decode afterwards
   prefers a candidate the judge puts in its target's class (post-processing);
1. (optional) noisy class counts set the synthetic class sizes -- one Gaussian event;
2. an initial population per class is made from PUBLIC inputs only: decoded interpolations
   of Brown corpus sentences and, when a class prompt is given, samples of the plain public
   LM asked to write a text of that class (Aug-PE's random API);
3. each round every member (or person) casts at most one vote: for its nearest candidate of
   any class, counted only if that candidate has the member's class (``vote="all"``, the
   default), or for its nearest candidate of its own class (``vote="own-class"``); the
   histogram over all candidates gets Gaussian noise. Changing one record moves at most one
   vote, so the L2 sensitivity is 1, and because classes are disjoint the per-class
   histograms together are ONE Gaussian mechanism: one ledger event per round;
4. candidates whose noisy count clears ``threshold * sigma`` survive; the next population is
   the best survivors plus SMOTExT interpolations between survivors, decoded to text.
   Everything in step 4 reads only the noisy histogram and public/synthetic text, so it is
   post-processing and costs nothing;
5. (optional, with ``centroid_share``) after the last round each member (or person) adds
   its unit vector to the sum of its nearest last survivor (counted only if that survivor has
   the member's class); the sums get Gaussian noise -- one more event, sensitivity 1 -- and
   each survivor's vector is replaced by the direction of its noisy sum, the centroid of the
   members it stands for;
6. after the last round the output is the best survivors plus decoded interpolations of the
   survivors (of their noisy centroids, with step 5); a decoded output the judge puts in
   another class (without a judge: nearer
   another class's survivor centroid than its own) is replaced by a fresh interpolation
   (``class_check_rounds``): DP outputs only, post-processing.

Reads of member data (and what covers each):

- ``_vote_histogram``: member vectors, labels (and person ids) -> exact vote counts; only
  ever released through ``_release_noisy`` (Gaussian, sensitivity 1, one event per round).
- ``adapt.dp_adapt_bridge`` (only with ``adapt_bridge``): member vectors and texts ->
  a shift of the bridge's soft tokens, by DP-SGD; covered by its own Gaussian event
  (noise multiplier, Poisson sample rate, steps), recorded before the first step.
- ``judge.fit_dp_judge`` (only with ``class_judge`` and enough members): member vectors and
  labels -> the judge's weights, by DP-SGD; covered by its own Gaussian event, recorded
  before the first step.
- ``_voter_sums`` (only with ``centroid_share``): member vectors and labels -> per-survivor
  sums of unit vectors; only released through ``_release_noisy`` (Gaussian, sensitivity 1,
  one event).
- ``_class_counts``: member labels -> exact class sizes; only released through
  ``_release_noisy`` (Gaussian, sensitivity 1, one event).
- ``_check_class_sizes``: compares class sizes with the mechanism's minimum and raises
  ``UserError`` before anything runs. The message goes to the data holder, who already has
  the data, and nothing is written; it is not part of the release.
- The record count ``n`` (persons with ``user_ids``) and the label set are treated as
  public: they set delta's default and the plan. Pass ``labels=`` to fix the label set
  rather than take it from the data.

All noise (vote and count histograms, person-record selection, optional embedding noise on
the variations) comes from :mod:`privsynth.privacy.rng` (OS CSPRNG, never the seed). The seed
drives only choices that read no member data: which public sentences seed the population,
interpolation pairs and lambdas, decoding.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy.ledger import PrivacyLedger
from privsynth.privacy.noise import add_embedding_noise, median_nn_distance
from privsynth.privacy.planner import (PURPOSE_CENTROIDS, PURPOSE_COUNTS, PURPOSE_VOTES, Plan,
                                       plan_private_evolution)
from privsynth.privacy.rng import secure_normal, secure_uniform

if TYPE_CHECKING:
    from privsynth.privacy.adapt import AdaptConfig
    from privsynth.privacy.judge import JudgeConfig

_PLANS: dict[tuple, Plan] = {}  # plans are pure functions of their key (no data, no noise)
PUBLIC_SENTENCES = Path(__file__).resolve().parent.parent / "data" / "brown_sentences.csv.gz"


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class Decoder(Protocol):
    """``min_length_share`` also passes ``min_new_tokens`` (one floor per vector) to decoders
    whose ``decode`` takes it and that have a ``tokenizer``."""

    def decode(self, vectors: np.ndarray, *, n_candidates: int = ..., seed: int = ..., encoder=...) -> list[str]: ...


class PEResult(NamedTuple):
    texts: list[str]
    labels: list[Any]
    ledger: PrivacyLedger


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
VOTES = ("own-class", "all")
DEFAULT_VOTE = "all"
DEFAULT_CLASS_CHECK = 2  # rounds of the survivor-centroid class check (the setting measured in dp)


def _vote_histogram(members: np.ndarray, member_class: np.ndarray, candidates: np.ndarray,
                    cand_class: np.ndarray, *, among: str) -> np.ndarray:
    """Exact votes: each given member votes for its nearest (cosine) candidate of its class
    (``among="own-class"``), or for its nearest candidate of any class, the vote counting only
    when that candidate carries the member's class (``among="all"``: a candidate that sits
    among another class's members gets no votes from its own class's members elsewhere).

    TOUCHES MEMBER DATA. One row = at most one vote (the caller passes one row per person with
    ``user_ids``), so adding or removing a record changes one count by at most 1: L2
    sensitivity 1 either way. The result must only leave through ``_release_noisy``.
    """
    if among not in VOTES:
        raise ValueError(f"among must be one of {VOTES}; got {among!r}")
    votes = np.zeros(len(candidates), dtype=np.float64)
    if among == "all":
        best, keep = _open_vote(members, member_class, candidates, cand_class)
        np.add.at(votes, best[keep], 1.0)
        return votes
    sims = members @ candidates.T
    for c in np.unique(member_class):
        rows = member_class == c
        cols = np.flatnonzero(cand_class == c)
        if cols.size == 0 or not rows.any():
            continue
        best = cols[np.argmax(sims[np.ix_(rows, cols)], axis=1)]
        np.add.at(votes, best, 1.0)
    return votes


def _open_vote(members: np.ndarray, member_class: np.ndarray, candidates: np.ndarray,
               cand_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's nearest candidate of any class, and whether that candidate has the
    member's class (only then does the member count). TOUCHES MEMBER DATA."""
    best = np.argmax(members @ candidates.T, axis=1)
    return best, cand_class[best] == member_class


def check_centroid_share(share: float) -> float:
    """``--centroid-share`` as a float; refuses a share outside [0, 1)."""
    if not 0.0 <= share < 1.0:
        raise UserError(f"--centroid-share must be within [0, 1); got {share!r}")
    return float(share)


def _voter_sums(members: np.ndarray, member_class: np.ndarray, survivors: np.ndarray,
                survivor_class: np.ndarray) -> np.ndarray:
    """Exact sums, per survivor, of the unit vectors of the members nearest to it (cosine, any
    class), a member counting only where that survivor has its class (as ``vote="all"``).

    TOUCHES MEMBER DATA. Rows are scaled to unit norm here whatever the caller passed, and one
    row lands in at most one sum, so adding or removing a record moves the stacked sums by at
    most 1 in L2: sensitivity 1. The result must only leave through ``_release_noisy``.
    """
    from privsynth.encoder import normalize

    U = normalize(np.asarray(members, dtype=np.float64))
    best, keep = _open_vote(U, member_class, np.asarray(survivors, dtype=np.float64), survivor_class)
    sums = np.zeros((len(survivors), U.shape[1]), dtype=np.float64)
    np.add.at(sums, best[keep], U[keep])
    return sums


def _class_counts(member_class: np.ndarray, n_classes: int) -> np.ndarray:
    """Exact class sizes. TOUCHES MEMBER DATA; only leaves through ``_release_noisy``."""
    return np.bincount(member_class, minlength=n_classes).astype(np.float64)


def _release_noisy(exact: np.ndarray, *, ledger: PrivacyLedger, purpose: str, noise_multiplier: float) -> np.ndarray:
    """Gaussian mechanism: record the event (refused if over budget), then add CSPRNG noise.

    Sensitivity is 1, so the noise standard deviation equals the noise multiplier.
    """
    ledger.record(purpose=purpose, noise_multiplier=noise_multiplier, sample_rate=1.0, steps=1)
    return exact + secure_normal(exact.shape, scale=noise_multiplier)


def _one_record_per_person(user_ids: np.ndarray) -> np.ndarray:
    """Row indices, one per person, each picked uniformly among that person's rows.

    TOUCHES MEMBER DATA (the grouping). The pick uses the CSPRNG and depends on nothing but
    that person's own rows, so a person's presence changes no other person's vote.
    """
    _, inverse = np.unique(user_ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    u = secure_uniform(len(sizes))
    pick = np.minimum((u * sizes).astype(np.int64), sizes - 1)
    return order[starts + pick]


def _best_survivors(survivors: np.ndarray, classes: np.ndarray, noisy: np.ndarray, c: int, k: int) -> np.ndarray:
    """The ``k`` survivors of class ``c`` with the highest noisy votes. Post-processing."""
    s = survivors[classes[survivors] == c]
    return s[np.argsort(-noisy[s], kind="stable")][:k]


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` (largest remainder). Post-processing."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0, None)
    if w.sum() <= 0:
        w = np.ones_like(w)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


class PrivateEvolution:
    """(epsilon, delta)-DP synthetic text by Private Evolution around SMOTExT.

    Parameters are stored as given; all work happens in :meth:`generate`.

    epsilon, delta: the budget; delta ``None`` means 1/(10 N), N = n rounded up to a power
        of ten. The run refuses (``UserError``) a plan whose total would exceed it.
    rounds: PE iterations T; each is one Gaussian event.
    population_per_class: candidates per class in each round.
    threshold: survival threshold on noisy votes, in units of the noise multiplier sigma.
    count_share: share of the budget (in zCDP rho) for DP class counts when the synthetic
        class sizes follow the data (``n`` given, not ``n_per_class``).
    accountant: "prv" (default), "rdp" or "pld".
    elite_fraction: share of each next population taken by the top survivors as they are
        (Aug-PE keeps selected samples); the rest are SMOTExT interpolations of survivors.
    k_neighbors, lam_range: the SMOTExT variation between survivors. Parents are synthetic,
        so lambdas near 0 copy nothing private; a narrower, lower range than plain SMOTExT's
        keeps PE's variations local (measured on the retrieval test problem: 0.1-0.5 moved
        the population toward the members faster than 0.25-0.75).
    variation_noise: embedding noise on the interpolations, its norm in units of the median
        nearest-neighbour distance among survivors (synthetic data: no budget spent).
    labels: the public label set; default: the labels present in the data (documented as
        treated public).
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
    adapt_bridge: an :class:`~privsynth.privacy.adapt.AdaptConfig` to first adapt the bridge
        to the members' domain by DP-SGD (one more ledger event; the rounds get the rest of
        the budget); ``generate`` then needs ``member_texts``. None (default): off.
    class_judge: a :class:`~privsynth.privacy.judge.JudgeConfig` to train a logistic
        regression on the member vectors by DP-SGD first (one more ledger event; the rounds
        get the rest of the budget). Every decode then prefers a candidate the judge puts in
        its target's class, and the class check asks the judge instead of the survivor
        centroids. Skipped, spending nothing, below ``min_units`` members (people). None: off.
    final_neighbors: k of the output's variations (the final step's pairs of survivors);
        None: ``k_neighbors``. With P survivors a class there are about P x k distinct pairs,
        so a large output from a small population decodes each pair many times over; a larger
        k spreads it over more pairs (post-processing either way). Measured on SMS at epsilon 4
        (1,000 records, population 32, class judge, 1 seed): k 31, every survivor of the class,
        gave MiniLM-LR macro-F1 0.794 against 0.790 at 5: the survivors, not their pairings,
        limit the output, so the default stays k_neighbors.
    centroid_share: part of epsilon (as the judge's ``share``: what it would spend alone; the
        rounds get what is left) for the survivor centroids, step 5 above: the output's
        variations are then decoded between the noisy centroids of the members nearest each
        last survivor rather than between the survivors, which are decodes of public text and
        sit farther from the members. 0: off. Skipped, spending nothing, below
        ``centroid_min_units`` members (people): a survivor then stands for a handful of
        members and its noisy sum is mostly noise (the noise has norm about sigma x sqrt(384),
        47 at sigma 2.4, against a sum of norm at most its number of members).
    """

    def __init__(self, epsilon: float, delta: float | None = None, *, rounds: int = 5,
                 population_per_class: int = 64, threshold: float = 2.0, count_share: float = 0.05,
                 accountant: str = "prv", k_neighbors: int = 5, lam_range: tuple[float, float] = (0.1, 0.5),
                 n_candidates: int = 4, elite_fraction: float = 0.25, variation_noise: float = 0.0,
                 labels: Sequence[Any] | None = None, class_prompts: Mapping[Any, str] | None = None,
                 prompt_share: float = 0.75, class_check_rounds: int = DEFAULT_CLASS_CHECK, adapt_bridge: AdaptConfig | None = None,
                 vote: str = DEFAULT_VOTE, min_length_share: float = 0.0, class_judge: JudgeConfig | None = None,
                 final_neighbors: int | None = None, centroid_share: float = 0.0,
                 centroid_min_units: int = 1000):
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
        self.elite_fraction = elite_fraction
        self.variation_noise = variation_noise
        self.labels = labels
        self.class_prompts = class_prompts
        self.prompt_share = prompt_share
        self.class_check_rounds = class_check_rounds
        self.adapt_bridge = adapt_bridge
        self.vote = vote
        self.min_length_share = min_length_share
        self.class_judge = class_judge
        self.final_neighbors = final_neighbors
        self.centroid_share = centroid_share
        self.centroid_min_units = centroid_min_units

    # -- planning (reads only n and the public label set) ---------------------------------

    def plan(self, n_records: int, *, n_classes: int | None = None, n_synthetic: int | None = None,
             class_sizes_given: bool = False) -> Plan:
        """The plan for ``n_records`` records; raises ``UserError`` for a bad budget."""
        key = (n_records, n_classes, n_synthetic, class_sizes_given, self.epsilon, self.delta, self.rounds,
               self.count_share, self.threshold, self.population_per_class, self.accountant, self.adapt_bridge,
               self.class_judge, self.centroid_share, self.centroid_min_units)
        if key not in _PLANS:  # planning bisects the accountant: seconds; a run asks several times
            if len(_PLANS) > 256:
                _PLANS.clear()
            _PLANS[key] = self._plan(n_records, n_classes=n_classes, n_synthetic=n_synthetic,
                                     class_sizes_given=class_sizes_given)
        return _PLANS[key]

    def _plan(self, n_records, *, n_classes, n_synthetic, class_sizes_given) -> Plan:
        prior = []
        judge = self._judge_for(n_records)
        check_centroid_share(self.centroid_share)
        centroids = self._centroids_for(n_records)
        if self.adapt_bridge is not None or judge is not None or centroids:
            from privsynth.privacy.planner import check_budget

            delta = check_budget(self.epsilon, self.delta, n_records)
        if self.adapt_bridge is not None:
            from privsynth.privacy.adapt import adaptation_event

            prior.append(adaptation_event(epsilon=self.epsilon, delta=delta, n_units=n_records, cfg=self.adapt_bridge,
                                          accountant=self.accountant))
        plan = functools.partial(
            plan_private_evolution, epsilon=self.epsilon, delta=self.delta, n_records=n_records, rounds=self.rounds,
            count_share=0.0 if class_sizes_given else self.count_share, threshold=self.threshold,
            population_per_class=self.population_per_class, accountant=self.accountant,
            n_classes=n_classes, n_synthetic=n_synthetic)
        if judge is not None:
            from privsynth.privacy.judge import judge_event

            try:
                prior.append(judge_event(epsilon=self.epsilon, delta=delta, n_units=n_records, cfg=judge,
                                         accountant=self.accountant))
            except UserError:
                plan(prior_events=tuple(prior))  # a budget too small for the rounds alone says so first
                raise
        if centroids:
            from privsynth.privacy.dpsgd import calibrate_event

            try:
                prior.append(calibrate_event(purpose=PURPOSE_CENTROIDS, target_epsilon=self.centroid_share * self.epsilon,
                                             delta=delta, sample_rate=1.0, steps=1, accountant=self.accountant,
                                             what="the survivor centroids", off="--centroid-share 0"))
            except UserError:
                plan(prior_events=tuple(prior))
                raise
        return plan(prior_events=tuple(prior))

    def _centroids_for(self, n_units: int) -> bool:
        """Whether a run on ``n_units`` members (people) releases survivor centroids (reads only the count)."""
        return bool(self.centroid_share) and n_units >= self.centroid_min_units

    def _judge_for(self, n_units: int) -> JudgeConfig | None:
        """The class judge's settings if this run trains one (reads only the unit count)."""
        cfg = self.class_judge
        return cfg if cfg is not None and cfg.applies(n_units) else None

    def guarantee_line(self, n_records: int, *, class_sizes_given: bool = False) -> str:
        """One line for logs and reports: what this run guarantees."""
        p = self.plan(n_records, class_sizes_given=class_sizes_given)
        return (f"privacy mode 'dp': formal ({p.epsilon_planned:.3g}, {p.delta:.3g})-DP under add/remove-one-"
                f"record adjacency ({p.accountant} accountant); {p.rounds} Private Evolution round(s), "
                f"vote noise sigma {p.noise_multiplier:.2f}")

    # -- the run ---------------------------------------------------------------------------

    def generate(self, member_vectors: np.ndarray, member_labels: Sequence[Any], encoder: Encoder,
                 decoder: Decoder, *, n: int | None = None, n_per_class: int | dict | None = None,
                 rng_seed: int = 0, user_ids: Sequence[Any] | None = None,
                 public_texts: Sequence[str] | None = None,
                 member_texts: Sequence[str] | None = None, log=None) -> PEResult:
        """Run PE and return ``(texts, labels, ledger)``.

        ``n_per_class`` (an int for every class, or a dict label -> count) fixes the class
        sizes and spends nothing on them; otherwise ``n`` synthetic records (default: as
        many as members) are split by DP class counts. ``public_texts`` replaces the bundled
        Brown sentences as the public seed pool. ``member_texts`` (the members' texts, in
        the order of their vectors) are read only by the DP-SGD bridge adaptation. ``log``
        (a str -> None callable) hears about long steps; it never receives member data.
        """
        if self.adapt_bridge is not None and (member_texts is None or not hasattr(decoder, "soft_shift")):
            raise ValueError("adapt_bridge needs member_texts and a Bridge decoder")
        if self.vote not in VOTES:
            raise UserError(f"vote must be one of {', '.join(VOTES)}; got {self.vote!r}")
        if not 0.0 <= self.min_length_share <= 1.0:
            raise UserError(f"min_length_share must be within [0, 1]; got {self.min_length_share!r}")
        if self.final_neighbors is not None and (isinstance(self.final_neighbors, bool)
                                                 or not isinstance(self.final_neighbors, int) or self.final_neighbors < 1):
            raise UserError(f"final_neighbors must be a positive integer or None; got {self.final_neighbors!r}")
        before = getattr(decoder, "soft_shift", None)
        try:
            return self._generate(member_vectors, member_labels, encoder, decoder, n=n, n_per_class=n_per_class,
                                  rng_seed=rng_seed, user_ids=user_ids, public_texts=public_texts,
                                  member_texts=member_texts, log=log)
        finally:  # the adapted shift belongs to this run only; the caller's bridge is left as it was
            if hasattr(decoder, "soft_shift"):
                decoder.soft_shift = before

    def _generate(self, member_vectors, member_labels, encoder, decoder, *, n, n_per_class, rng_seed, user_ids,
                  public_texts, member_texts, log) -> PEResult:
        X = np.asarray(member_vectors, dtype=np.float32)
        y = np.asarray(member_labels, dtype=object)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"member_vectors {X.shape} and member_labels ({len(y)}) do not match")
        label_set = list(self.labels) if self.labels is not None else sorted(set(y.tolist()), key=str)
        index = {lab: i for i, lab in enumerate(label_set)}
        unknown = sorted({str(v) for v in y.tolist() if v not in index})
        if unknown:
            raise UserError(f"labels {', '.join(unknown[:5])} are not in the given label set "
                            f"{label_set}; add them or remove those records")
        yc = np.array([index[v] for v in y.tolist()], dtype=np.int64)
        K = len(label_set)
        prompts = self._prompts_by_class(label_set, decoder)

        if user_ids is not None:
            user_ids = np.asarray(user_ids, dtype=object)
            if len(user_ids) != len(X):
                raise ValueError(f"user_ids has {len(user_ids)} entries for {len(X)} records")
            n_units = len(np.unique(user_ids))
        else:
            n_units = len(X)

        sizes_given = n_per_class is not None
        n_total = None if sizes_given else int(n if n is not None else len(X))
        if n_total is not None and n_total < 1:
            raise UserError(f"--n must be a positive integer; got {n!r}")
        plan = self.plan(n_units, n_classes=K, n_synthetic=n_total, class_sizes_given=sizes_given)
        self._check_class_sizes(yc, user_ids, label_set, plan)

        ledger = PrivacyLedger(delta=plan.delta, accountant=plan.accountant, budget_epsilon=plan.epsilon_budget)
        rng = np.random.default_rng(rng_seed)

        self.adaptation_ = None
        if self.adapt_bridge is not None:
            from privsynth.privacy.adapt import PURPOSE_ADAPT, dp_adapt_bridge

            event = next(e for e in plan.events if e.purpose == PURPOSE_ADAPT)
            self.adaptation_ = dp_adapt_bridge(decoder, X, list(member_texts), event=event, ledger=ledger,
                                               cfg=self.adapt_bridge, user_ids=user_ids, log=log)
        self.judge_ = None
        judge = self._judge_for(n_units)
        if judge is not None:
            from privsynth.privacy.judge import PURPOSE_JUDGE, fit_dp_judge

            event = next(e for e in plan.events if e.purpose == PURPOSE_JUDGE)
            self.judge_ = fit_dp_judge(X, yc, K, event=event, ledger=ledger, cfg=judge, user_ids=user_ids, log=log)
        elif self.class_judge is not None and log is not None:
            log(f"class judge skipped: {n_units} {'people' if user_ids is not None else 'records'}, fewer than "
                f"the {self.class_judge.min_units} it needs to judge well; nothing spent on it")

        # Class sizes of the output.
        if sizes_given:
            sizes = self._given_sizes(n_per_class, label_set)
        else:
            units = _one_record_per_person(user_ids) if user_ids is not None else slice(None)
            noisy = _release_noisy(_class_counts(yc[units], K), ledger=ledger, purpose=PURPOSE_COUNTS,
                                   noise_multiplier=plan.count_noise_multiplier)
            sizes = _allocate(n_total, noisy)

        say = log or (lambda _msg: None)  # counts and round numbers only
        # Initial population: public vectors only.
        pool = list(public_texts) if public_texts is not None else load_public_sentences()
        say(f"Private Evolution: writing the initial population ({self.population_per_class} candidates per "
            f"class, public text only), then {plan.rounds} round(s) of noisy votes")
        texts, classes = self._initial_population(pool, K, encoder, decoder, rng, prompts)
        C = self._encode(encoder, texts)

        self.history_: list[RoundRecord] = []
        sigma = plan.noise_multiplier
        for t in range(1, plan.rounds + 1):
            units = _one_record_per_person(user_ids) if user_ids is not None else slice(None)
            noisy = _release_noisy(_vote_histogram(X[units], yc[units], C, classes, among=self.vote), ledger=ledger,
                                   purpose=PURPOSE_VOTES, noise_multiplier=sigma)
            # --- from here on: post-processing of `noisy` and synthetic text only ---
            survivors = self._survivors(noisy, classes, K, plan.threshold_votes)
            self.history_.append(RoundRecord(t, list(texts), classes.copy(), noisy, survivors))
            say(f"round {t}/{plan.rounds}: {len(survivors)} of {len(texts)} candidates survive the noisy vote"
                + ("; writing the next population" if t < plan.rounds else ""))
            if t < plan.rounds:
                texts, classes, C = self._next_population(texts, classes, C, noisy, survivors, K,
                                                          encoder, decoder, rng)

        if self._centroids_for(n_units):
            event = next(e for e in plan.events if e.purpose == PURPOSE_CENTROIDS)
            units = _one_record_per_person(user_ids) if user_ids is not None else slice(None)
            sums = _release_noisy(_voter_sums(X[units], yc[units], C[survivors], classes[survivors]), ledger=ledger,
                                  purpose=PURPOSE_CENTROIDS, noise_multiplier=event.noise_multiplier)
            # --- post-processing of `sums` ---
            from privsynth.encoder import normalize

            C = C.copy()
            C[survivors] = normalize(sums).astype(C.dtype)
            say(f"survivor centroids: {len(survivors)} noisy sums released (noise sigma "
                f"{event.noise_multiplier:.2f})")
        elif self.centroid_share:
            say(f"survivor centroids skipped: {n_units} {'people' if user_ids is not None else 'records'}, fewer "
                f"than the {self.centroid_min_units} they need; nothing spent on them")
        say(f"writing the {int(np.sum(sizes))} output records from the survivors")
        out_texts, out_labels = self._final(texts, classes, C, noisy, survivors, sizes, label_set, encoder, decoder, rng)
        return PEResult(out_texts, out_labels, ledger)

    # -- helpers -----------------------------------------------------------------------------

    def _check_class_sizes(self, yc, user_ids, label_set, plan: Plan) -> None:
        """Refuse classes too small for a candidate to clear the threshold on merit.

        TOUCHES MEMBER DATA (class sizes). Seen only by the data holder, before any release;
        nothing is written when it fails.
        """
        K = len(label_set)
        if user_ids is None:
            sizes = np.bincount(yc, minlength=K)
        else:
            pairs = {(c, u) for c, u in zip(yc.tolist(), user_ids.tolist())}
            sizes = np.bincount([c for c, _ in pairs], minlength=K)
        small = [f"{label_set[c]!r} ({sizes[c]})" for c in range(K) if sizes[c] < plan.min_class_size]
        if small:
            raise UserError(
                f"class(es) {', '.join(small)} have fewer than {plan.min_class_size} "
                f"{'people' if user_ids is not None else 'records'}, the minimum at --epsilon "
                f"{plan.epsilon_budget:g} with {plan.rounds} round(s) (noise sigma={plan.noise_multiplier:.1f}, "
                f"threshold {plan.threshold:g} sigma); merge or drop those classes, or raise --epsilon"
            )

    @staticmethod
    def _given_sizes(n_per_class, label_set) -> np.ndarray:
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
    def _encode(encoder, texts) -> np.ndarray:
        V = np.asarray(encoder.encode(list(texts)), dtype=np.float32)
        return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)

    def _decode(self, decoder, encoder, vectors, rng, parents: Sequence[str] | None = None,
                classes: np.ndarray | None = None, verdicts: bool = False):
        """Decode vectors; with ``parents`` (one synthetic text per vector) and
        ``min_length_share``, each text is held to that share of its parent's length. With the
        class judge and ``classes`` (each vector's class), candidates the judge puts in that class
        are preferred; ``verdicts`` then also returns, per text, whether it is (None: no judge)."""
        seed = int(rng.integers(2**31 - 1))
        kw = {}
        judge = getattr(self, "judge_", None)
        if judge is not None and classes is not None:
            want = np.asarray(classes)
            kw["accept"] = lambda E, r: judge.predict(E) == want[r]  # noqa: E731
            kw["return_accepted"] = verdicts
        if parents is not None and self.min_length_share > 0 and _takes_length_floors(decoder):
            from privsynth.bridge import token_lengths

            kw["min_new_tokens"] = np.round(self.min_length_share * token_lengths(decoder.tokenizer, parents)).astype(int)
        out = decoder.decode(np.asarray(vectors, dtype=np.float32), n_candidates=self.n_candidates,
                             seed=seed, encoder=encoder, **kw)
        if not verdicts:
            return list(out)
        if kw.get("return_accepted"):
            return list(out[0]), np.asarray(out[1], dtype=bool)
        return list(out), None

    def _interpolate(self, V: np.ndarray, counts: dict[int, int], classes: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
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
            Z, zl = interpolate(V[rows], np.full(rows.size, c), {c: m},
                                k_neighbors=min(self.k_neighbors, rows.size - 1),
                                lam_range=self.lam_range, rng=rng)
            outs.append(np.asarray(Z, dtype=np.float32))
            labs.append(np.asarray(zl, dtype=np.int64))
        return np.concatenate(outs), np.concatenate(labs)

    def _prompts_by_class(self, label_set, decoder) -> dict[int, str]:
        """Class index -> prompt; refuses prompts for unknown labels (a typo would do nothing)."""
        if not self.class_prompts:
            return {}
        if not 0.0 < self.prompt_share <= 1.0:
            raise UserError(f"prompt_share must be in (0, 1]; got {self.prompt_share!r}")
        by_name = {str(lab): i for i, lab in enumerate(label_set)}
        unknown = [str(k) for k in self.class_prompts if str(k) not in by_name]
        if unknown:
            raise UserError(f"--class-prompt names label(s) {unknown} that are not in the label set "
                            f"{[str(x) for x in label_set]}")
        if not hasattr(decoder, "sample_prompted"):
            raise UserError("class prompts need a decoder with a language model (sample_prompted)")
        return {by_name[str(k)]: str(v) for k, v in self.class_prompts.items() if str(v).strip()}

    def _initial_population(self, pool, K, encoder, decoder, rng, prompts=None):
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
            texts += self._decode(decoder, encoder, Z, rng, classes=zc)
            classes.append(zc)
        for c, k in n_prompted.items():
            if k:
                texts += decoder.sample_prompted(prompts[c], k, seed=int(rng.integers(2**31 - 1)))
                classes.append(np.full(k, c, dtype=np.int64))
        return texts, np.concatenate(classes)

    def _survivors(self, noisy, classes, K, threshold_votes) -> np.ndarray:
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

    def _next_population(self, texts, classes, C, noisy, survivors, K, encoder, decoder, rng):
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
        new_texts = self._decode(decoder, encoder, Z, rng, [texts[survivors[p]] for p in parent], classes=zc)
        texts = keep_texts + new_texts
        classes = np.concatenate(keep_cls + [zc])
        C = np.concatenate(keep_vecs + [self._encode(encoder, new_texts)])
        return texts, classes, C

    def _variations(self, S, s_cls, want, rng, weights, k: int | None = None):
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

    def _final(self, texts, classes, C, noisy, survivors, sizes, label_set, encoder, decoder, rng):
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
            Z, zc, parent = self._variations(C[survivors], classes[survivors], {c: m for c, m in want.items() if m > 0},
                                             rng, noisy[survivors], k=self.final_neighbors)
            decoded, in_class = self._decode(decoder, encoder, Z, rng, [s_texts[p] for p in parent], classes=zc,
                                             verdicts=True)
            if self.class_check_rounds > 0:
                decoded = self._class_check(decoded, zc, C[survivors], classes[survivors], noisy[survivors],
                                            s_texts, encoder, decoder, rng, in_class)
            out += decoded
            labs += zc.tolist()
        return out, [label_set[c] for c in labs]

    def _class_check(self, texts, zc, S, s_cls, weights, s_texts, encoder, decoder, rng,
                     in_class: np.ndarray | None = None) -> list[str]:
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
                return idx[present[np.argmax(E @ cent.T, axis=1)] != zc[idx]]

            bad = off_class(np.arange(len(texts)))
        self.class_mismatch_initial_ = int(bad.size)
        for _ in range(self.class_check_rounds):
            if bad.size == 0:
                break
            want = {int(c): int((zc[bad] == c).sum()) for c in np.unique(zc[bad])}
            Z, _, parent = self._variations(S, s_cls, want, rng, weights, k=self.final_neighbors)
            # _variations groups its output by class, in want's order
            order = np.concatenate([bad[zc[bad] == c] for c in want])
            redo, ok = self._decode(decoder, encoder, Z, rng, [s_texts[p] for p in parent], classes=zc[order],
                                    verdicts=True)
            for i, t in zip(order, redo):
                texts[i] = t
            bad = off_class(bad) if off_class is not None else order[~ok]
        self.class_mismatch_ = int(bad.size)
        return texts


def _takes_length_floors(decoder) -> bool:
    import inspect

    try:
        takes = "min_new_tokens" in inspect.signature(decoder.decode).parameters
    except (TypeError, ValueError):
        return False
    return takes and hasattr(decoder, "tokenizer")


def parse_class_prompts(items: Sequence[str]) -> dict[str, str]:
    """``["spam=Write a spam SMS.", ...]`` (the CLI's ``--class-prompt``) -> {label: prompt}."""
    out: dict[str, str] = {}
    for item in items:
        label, sep, prompt = item.partition("=")
        if not sep or not label.strip() or not prompt.strip():
            raise UserError(f"--class-prompt takes LABEL=INSTRUCTION (e.g. spam='Write a spam text "
                            f"message.'); got {item!r}")
        if label.strip() in out:
            raise UserError(f"--class-prompt gives label {label.strip()!r} twice")
        out[label.strip()] = prompt.strip()
    return out


def dry_run(pe: PrivateEvolution, n_records: int, *, n_classes: int | None = None,
            n_synthetic: int | None = None, class_sizes_given: bool = False) -> dict[str, Any]:
    """The plan as plain data (what ``--dry-run`` prints); reads only the record count."""
    plan = pe.plan(n_records, n_classes=n_classes, n_synthetic=n_synthetic, class_sizes_given=class_sizes_given)
    d = plan.to_dict()
    d["vote"] = pe.vote
    d["expected_time_note"] = (
        f"rough: {d['expected_decodes'] or '?'} decodes at ~2 s each on 2 CPU cores"
        if n_classes is not None else "give the label set to estimate the time"
    )
    return d
