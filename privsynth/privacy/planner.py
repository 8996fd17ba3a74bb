"""Plan a dp run before touching the data: noise multipliers that meet (epsilon, delta).

The plan reads public settings only -- the budget, delta, the rounds, the shares, the class
judge's settings and the number of declared classes -- and never the data: not even its
record count, which is private under add/remove adjacency (one person can move it by any
amount). What the run needs to know of the data's size it learns from the DP class counts,
the plan's first event.

Budget split. A run is one histogram of class counts (noise multiplier ``sigma_counts``),
``rounds`` vote histograms (one Gaussian event per round, ``sigma``) and, in a release, one
vector of gate statistics (``sigma_gate``), all Gaussian mechanisms, split in zCDP's currency,
rho = 1 / (2 sigma^2) per event: the counts get ``count_share`` of the total rho, the gate
``gate_share`` and the rounds share the rest equally. DP-SGD events (the class judge) are
calibrated first to their own share of epsilon (``prior_events``). The planner then bisects
the total rho against the accountant (never a closed formula) for the largest plan whose
epsilon is at most the budget, and checks the result with both opacus PRV and dp-accounting
PLD: the plan's epsilon is the larger of the two, and it is the one the ledger names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from privsynth.errors import UserError
from privsynth.privacy.accountant import Accountant, create_accountant
from privsynth.privacy.ledger import ADJACENCY, GaussianEvent, PrivacyLedger
from privsynth.privacy.search import last_within

PURPOSE_VOTES = (
    "votes: each member record (or person) votes once per round for its nearest candidate of any "
    "class, counted only if that candidate has the member's class (or, with --vote own-class, for "
    "its nearest candidate of its own class)"
)
PURPOSE_COUNTS = "counts: members (records or people) per declared class"
PURPOSE_GATE = (
    "gate: members reproduced in the synthetic set, membership-inference AUC (floored, scaled) and "
    "holdout size, for the release decision; L2 sensitivity sqrt(2)"
)

#: delta when --delta is not given: a public constant (a default that followed the record
#: count would publish the count's order of magnitude). Below 1/(10 n) up to n = 100,000.
DEFAULT_DELTA = 1e-6
#: the accountants a plan is checked with besides the one asked for
CROSS_CHECK = ("prv", "pld")

# Rough cost of decoding one vector with the default bridge on 2 CPU cores (SmolLM2-135M,
# ~40 tokens, a few candidates). Only used for the --dry-run time estimate.
SECONDS_PER_DECODE = 0.6


def check_budget(epsilon: float, delta: float | None) -> float:
    """Validate a user's (epsilon, delta); return delta (the public default when None)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise UserError(f"--epsilon must be a positive number; got {epsilon!r}")
    if delta is None:
        return DEFAULT_DELTA
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise UserError(f"--delta must be within (0, 1); got {delta!r}")
    return float(delta)


def check_delta_for_size(delta: float, n_units: float) -> str | None:
    """Refuse a delta not below 1/n (it would allow releasing a record outright), where n is a
    DP count or the exact count of a dry run; return a warning above the 1/(10 n) convention."""
    if n_units >= 1 and delta >= 1.0 / n_units:
        raise UserError(
            f"--delta {delta:g} is not below 1/n = {1.0 / n_units:.3g} (about {n_units:,.0f} records or "
            f"people): such a delta allows releasing a record outright; use --delta "
            f"{10 ** math.floor(math.log10(0.1 / n_units)):g}"
        )
    if n_units >= 1 and delta > 1.0 / (10 * n_units):
        return (
            f"delta {delta:g} is above 1/(10 n) for about {n_units:,.0f} records or people; consider --delta "
            f"{10 ** math.floor(math.log10(0.1 / n_units)):g}"
        )
    return None


@dataclass(frozen=True)
class Plan:
    """Noise multipliers and sizes for one Private Evolution run (plain data; no data read)."""

    epsilon_budget: float
    delta: float
    accountant: str
    rounds: int
    noise_multiplier: float
    count_noise_multiplier: float
    gate_noise_multiplier: float | None
    count_share: float
    gate_share: float
    threshold: float
    population_per_class: int
    epsilon_planned: float
    epsilons: dict[str, float] = field(default_factory=dict)
    n_classes: int | None = None
    n_synthetic: int | None = None
    events: tuple[GaussianEvent, ...] = field(default=())

    @property
    def threshold_votes(self) -> float:
        """Noisy vote count a candidate needs to survive a round."""
        return self.threshold * self.noise_multiplier

    @property
    def min_class_size(self) -> int:
        """Members a class needs so that a candidate could clear the threshold on merit."""
        return max(2, math.ceil(self.threshold_votes))

    def event(self, purpose: str) -> GaussianEvent:
        """The planned event for ``purpose`` (KeyError if the plan has none)."""
        for e in self.events:
            if e.purpose == purpose:
                return e
        raise KeyError(purpose)

    def ledger(self) -> PrivacyLedger:
        """The ledger a run following this plan writes (events only; no data read)."""
        led = PrivacyLedger(delta=self.delta, accountant=self.accountant, budget_epsilon=self.epsilon_budget)
        for e in self.events:
            led.record(purpose=e.purpose, noise_multiplier=e.noise_multiplier, sample_rate=e.sample_rate, steps=e.steps)
        return led

    def expected_decodes(self) -> int | None:
        if self.n_classes is None:
            return None
        return self.n_classes * self.population_per_class * self.rounds + (self.n_synthetic or 0)

    def to_dict(self) -> dict[str, Any]:
        decodes = self.expected_decodes()
        return {
            "guarantee": f"({self.epsilon_planned:.4g}, {self.delta:.3g})-DP under {ADJACENCY}-one adjacency",
            "rounds": self.rounds,
            "noise_multiplier": self.noise_multiplier,
            "count_noise_multiplier": self.count_noise_multiplier,
            "gate_noise_multiplier": self.gate_noise_multiplier,
            "threshold_votes": self.threshold_votes,
            "population_per_class": self.population_per_class,
            "min_class_size": self.min_class_size,
            "n_classes": self.n_classes,
            "epsilon_by_accountant": dict(self.epsilons),
            "expected_decodes": decodes,
            "expected_seconds": None if decodes is None else round(decodes * SECONDS_PER_DECODE),
            "ledger": self.ledger().to_dict(),
        }


def _events(
    rho: float, rounds: int, count_share: float, gate_share: float, prior: tuple[GaussianEvent, ...] = ()
) -> list[GaussianEvent]:
    events = [GaussianEvent(PURPOSE_COUNTS, math.sqrt(1.0 / (2 * count_share * rho)))]
    events += list(prior)
    sigma = math.sqrt(rounds / (2 * (1 - count_share - gate_share) * rho))
    events.append(GaussianEvent(PURPOSE_VOTES, sigma, 1.0, rounds))
    if gate_share > 0:
        events.append(GaussianEvent(PURPOSE_GATE, math.sqrt(1.0 / (2 * gate_share * rho))))
    return events


def _epsilon(events: Iterable[GaussianEvent], delta: float, accountant: Accountant) -> float:
    return accountant.epsilon([e.as_tuple() for e in events], delta=delta)


def _largest_rho(
    epsilon: float,
    delta: float,
    make: Callable[[float], list[GaussianEvent]],
    accountant: Accountant,
    rel_tol: float = 1e-3,
) -> float:
    """Largest total rho whose plan ``make(rho)`` has epsilon <= budget (:func:`last_within`).

    The bracket comes from a fast accountant: opacus RDP when every event is a plain Gaussian
    (an upper bound, so its answer is nearly feasible for the tighter accountants), or
    dp-accounting PLD when a DP-SGD event is subsampled (where opacus is slow); the chosen
    accountant decides the final steps. The caller then checks the result with every
    accountant of the plan. ``rel_tol`` 1e-3 on rho leaves under 0.1% of the budget unspent.
    """
    subsampled = any(e.sample_rate < 1 for e in make(1.0))
    fast = create_accountant("pld" if subsampled else "rdp")
    final = fast if subsampled else accountant  # with a subsampled event PLD decides too: the check follows

    seen: dict[tuple[int, float], float] = {}  # an accountant call costs up to seconds: never twice

    def eps(rho: float, acc: Accountant = final) -> float:
        key = (id(acc), rho)
        if key not in seen:
            seen[key] = _epsilon(make(rho), delta, acc)
        return seen[key]

    lo = 1e-9
    if eps(lo) > epsilon:
        raise UserError(
            f"--epsilon {epsilon:g} leaves nothing for the Private Evolution rounds after the class "
            "judge's share; lower --judge-share or raise --epsilon"
        )
    log_d = math.log(1 / delta)
    hi = max((math.sqrt(log_d + epsilon) - math.sqrt(log_d)) ** 2, 2 * lo)
    while eps(hi, fast) <= epsilon:
        lo, hi = hi, hi * 2
    lo = last_within(lambda r: eps(r, fast), epsilon, inside=lo, outside=hi, rel_tol=rel_tol)
    if final is fast:
        return lo
    lo = max(lo / 1.02, 1e-9)
    while eps(lo) > epsilon:
        lo = lo / 2
    hi = lo * 1.25
    while eps(hi) <= epsilon:
        lo, hi = hi, hi * 1.5
    return last_within(eps, epsilon, inside=lo, outside=hi, rel_tol=rel_tol)


def plan_private_evolution(
    *,
    epsilon: float,
    delta: float | None,
    rounds: int = 5,
    count_share: float = 0.05,
    gate_share: float = 0.0,
    threshold: float = 2.0,
    population_per_class: int = 64,
    accountant: str = "prv",
    n_classes: int | None = None,
    n_synthetic: int | None = None,
    prior_events: tuple[GaussianEvent, ...] = (),
) -> Plan:
    """Find the noise multipliers that spend at most ``epsilon``: the counts, the ``prior_events``
    (DP-SGD, fixed in advance), ``rounds`` vote rounds and, with ``gate_share``, the gate.

    Raises ``UserError`` for a bad budget or settings. The plan's epsilon is the largest of the
    chosen accountant and opacus PRV and dp-accounting PLD, and at most ``epsilon``.
    """
    delta = check_budget(epsilon, delta)
    if isinstance(rounds, bool) or int(rounds) != rounds or rounds < 1:
        raise UserError(f"--rounds must be a positive integer; got {rounds!r}")
    if not 0 < count_share < 1 or not 0 <= gate_share < 1 or count_share + gate_share >= 0.9:
        raise ValueError(
            f"count_share in (0, 1) and gate_share in [0, 1) must leave the rounds at least 10%; "
            f"got {count_share!r}, {gate_share!r}"
        )
    if threshold <= 0:
        raise ValueError(f"threshold must be positive (in units of sigma); got {threshold!r}")
    if population_per_class < 2:
        raise UserError(f"population per class must be at least 2; got {population_per_class!r}")
    acc = create_accountant(accountant)
    prior = tuple(prior_events)

    def make(rho: float) -> list[GaussianEvent]:
        return _events(rho, int(rounds), count_share, gate_share, prior)

    rho = _largest_rho(epsilon, delta, make, acc)
    names = list(dict.fromkeys([accountant, *CROSS_CHECK]))
    while True:
        events = make(rho)
        epsilons = {n: _epsilon(events, delta, create_accountant(n)) for n in names}
        if max(epsilons.values()) <= epsilon:
            break
        rho *= 0.995  # the cross-check accountant is a little less tight here: give up 0.5% of rho
    worst = max(epsilons, key=lambda n: epsilons[n])
    return Plan(
        epsilon_budget=float(epsilon),
        delta=delta,
        accountant=worst,
        rounds=int(rounds),
        noise_multiplier=events[-2 if gate_share else -1].noise_multiplier,
        count_noise_multiplier=events[0].noise_multiplier,
        gate_noise_multiplier=events[-1].noise_multiplier if gate_share else None,
        count_share=count_share,
        gate_share=gate_share,
        threshold=threshold,
        population_per_class=int(population_per_class),
        epsilon_planned=epsilons[worst],
        epsilons=epsilons,
        n_classes=n_classes,
        n_synthetic=n_synthetic,
        events=tuple(events),
    )


def minimum_epsilon(
    *,
    delta: float,
    class_size: float,
    rounds: int = 1,
    count_share: float = 0.05,
    gate_share: float = 0.0,
    threshold: float = 2.0,
    accountant: str = "prv",
) -> float:
    """Smallest epsilon whose vote noise lets a candidate that every member of a class of
    ``class_size`` voted for clear the threshold (no DP-SGD share)."""
    sigma = max(class_size, 1.0) / threshold
    rho = rounds / (2 * (1 - count_share - gate_share) * sigma**2)
    return _epsilon(_events(rho, rounds, count_share, gate_share), delta, create_accountant(accountant))
