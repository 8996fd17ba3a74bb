"""Plan a dp run before touching the data: noise multipliers that meet (epsilon, delta).

The plan reads only the record count ``n`` (treated as public, as is usual for DP
releases: it also sets the default delta) and, when given, the number of classes (the
label set is public). Everything else about the members is read later, and only through
the Gaussian mechanisms the plan accounts for.

Budget split. A run is ``rounds`` vote histograms (one Gaussian event per round, noise
multiplier ``sigma``) plus, when synthetic class sizes follow the data, one histogram of
class counts (noise multiplier ``sigma_counts``). Both are Gaussian mechanisms, so we split
the budget in zCDP's currency, rho = 1 / (2 sigma^2) per event: the class counts get
``count_share`` of the total rho and the rounds share the rest equally. The planner then
bisects the total rho against the chosen accountant (never a closed formula) for the
largest plan whose epsilon is at most the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from privsynth.errors import UserError
from privsynth.privacy.accountant import create_accountant
from privsynth.privacy.ledger import ADJACENCY, GaussianEvent, PrivacyLedger

PURPOSE_VOTES = "PE vote histogram: each member record (or person) votes once per round for its nearest candidate of its own class"
PURPOSE_COUNTS = "class counts: sizes of the synthetic classes follow noisy member class counts"
PURPOSE_CENTROIDS = ("survivor centroids: after the last round each member record (or person) adds its unit vector "
                     "to the sum of its nearest last survivor, counted only if that survivor has its class")

# Rough cost of decoding one vector with the default bridge on 2 CPU cores (SmolLM2-135M,
# ~40 tokens, a few candidates). Only used for the --dry-run time estimate.
SECONDS_PER_DECODE = 2.0


def default_delta(n_records: int) -> float:
    """1 / (10 N), N = ``n_records`` rounded up to a power of ten (4,459 -> 1e-5)."""
    n_pow = 10 ** math.ceil(math.log10(max(int(n_records), 1)))
    return 1.0 / (10 * n_pow)


def check_budget(epsilon: float, delta: float | None, n_records: int) -> float:
    """Validate a user's (epsilon, delta) for ``n_records`` records; return delta."""
    if not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise UserError(f"--epsilon must be a positive number; got {epsilon!r}")
    if n_records < 1:
        raise UserError(f"the input has no records (n={n_records}); dp mode needs at least one")
    if delta is None:
        return default_delta(n_records)
    if not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise UserError(f"--delta must be within (0, 1); got {delta!r}")
    if delta >= 1.0 / n_records:
        raise UserError(
            f"--delta {delta:g} is not below 1/n = {1.0 / n_records:.3g} (n={n_records} records): "
            f"such a delta allows releasing a record outright; omit --delta to use "
            f"{default_delta(n_records):g}"
        )
    return float(delta)


@dataclass(frozen=True)
class Plan:
    """Noise multipliers and sizes for one Private Evolution run (plain data)."""

    epsilon_budget: float
    delta: float
    accountant: str
    rounds: int
    noise_multiplier: float
    count_noise_multiplier: float | None
    count_share: float
    threshold: float
    population_per_class: int
    n_records: int
    epsilon_planned: float
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

    def ledger(self) -> PrivacyLedger:
        """The ledger a run following this plan writes (events only; no data read)."""
        led = PrivacyLedger(delta=self.delta, accountant=self.accountant, budget_epsilon=self.epsilon_budget)
        for e in self.events:
            led.record(purpose=e.purpose, noise_multiplier=e.noise_multiplier,
                       sample_rate=e.sample_rate, steps=e.steps)
        return led

    def expected_decodes(self) -> int | None:
        if self.n_classes is None:
            return None
        per_round = self.n_classes * self.population_per_class * self.rounds
        return per_round + (self.n_synthetic or 0)

    def to_dict(self) -> dict[str, Any]:
        decodes = self.expected_decodes()
        return {
            "guarantee": f"({self.epsilon_planned:.4g}, {self.delta:.3g})-DP under {ADJACENCY}-one-record adjacency",
            "n_records": self.n_records,
            "rounds": self.rounds,
            "noise_multiplier": self.noise_multiplier,
            "count_noise_multiplier": self.count_noise_multiplier,
            "threshold_votes": self.threshold_votes,
            "population_per_class": self.population_per_class,
            "min_class_size": self.min_class_size,
            "n_classes": self.n_classes,
            "expected_decodes": decodes,
            "expected_seconds": None if decodes is None else round(decodes * SECONDS_PER_DECODE),
            "ledger": self.ledger().to_dict(),
        }


def _events(rho: float, rounds: int, count_share: float, prior: tuple[GaussianEvent, ...] = ()) -> list[GaussianEvent]:
    events = list(prior)
    if count_share > 0:
        events.append(GaussianEvent(PURPOSE_COUNTS, math.sqrt(1.0 / (2 * count_share * rho))))
    sigma = math.sqrt(rounds / (2 * (1 - count_share) * rho))
    events.append(GaussianEvent(PURPOSE_VOTES, sigma, 1.0, rounds))
    return events


def _epsilon(events, delta, accountant) -> float:
    return accountant.epsilon([e.as_tuple() for e in events], delta=delta)


def _largest_rho(epsilon, delta, rounds, count_share, accountant, rho_floor, rel_tol=1e-3, prior=()) -> float:
    """Largest total rho whose plan has epsilon <= budget (bisection in log rho).

    ``rho_floor`` must be feasible (the caller checked it). The bracket comes from opacus
    RDP first (fast, and an upper bound on epsilon, so its answer is nearly feasible for the
    tighter accountants); the chosen accountant decides every final step. ``rel_tol`` 1e-3
    on rho leaves under 0.1% of the budget unspent.
    """
    # opacus RDP is fast for plain Gaussian events but slow for subsampled ones (a DP-SGD
    # prior event): then the chosen accountant brackets too.
    subsampled = any(e.sample_rate < 1 for e in prior)
    rdp = accountant if subsampled else create_accountant("rdp")
    if subsampled:  # every evaluation then costs ~0.3 s: stop at 0.5% instead of 0.1%
        rel_tol = max(rel_tol, 5e-3)

    def eps(rho, acc=accountant):
        return _epsilon(_events(rho, rounds, count_share, prior), delta, acc)

    log_d = math.log(1 / delta)
    lo = rho_floor
    hi = max((math.sqrt(log_d + epsilon) - math.sqrt(log_d)) ** 2, 2 * lo)
    while eps(hi, rdp) <= epsilon:
        lo, hi = hi, hi * 2
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if eps(mid, rdp) <= epsilon else (lo, mid)
    lo = max(lo / 1.02, rho_floor)
    while eps(lo) > epsilon:
        lo = max(lo / 2, rho_floor)
    hi = lo * 1.25
    while eps(hi) <= epsilon:
        lo, hi = hi, hi * 1.5
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if eps(mid) <= epsilon else (lo, mid)
    return lo


def plan_private_evolution(
    *,
    epsilon: float,
    delta: float | None,
    n_records: int,
    rounds: int = 5,
    count_share: float = 0.05,
    threshold: float = 2.0,
    population_per_class: int = 64,
    accountant: str = "prv",
    n_classes: int | None = None,
    n_synthetic: int | None = None,
    prior_events: tuple[GaussianEvent, ...] = (),
) -> Plan:
    """Find the noise multipliers that spend at most ``epsilon`` over ``rounds`` rounds.

    ``count_share`` is 0 when the class sizes are given (no count histogram). Raises
    ``UserError`` for a bad budget, or a budget too small for even one useful round: one
    where the noise would hide a candidate even if every record voted for it
    (``threshold * sigma >= n_records``); the message states the smallest workable epsilon.
    ``prior_events`` (the DP-SGD adaptation of the bridge, the class judge, the survivor
    centroids) are fixed in advance; the rounds get what is left of the budget after
    composing with them.
    """
    delta = check_budget(epsilon, delta, n_records)
    if int(rounds) != rounds or rounds < 1:
        raise UserError(f"--rounds must be a positive integer; got {rounds!r}")
    if not 0 <= count_share < 1:
        raise ValueError(f"count_share must be within [0, 1); got {count_share!r}")
    if threshold <= 0:
        raise ValueError(f"threshold must be positive (in units of sigma); got {threshold!r}")
    if population_per_class < 2:
        raise UserError(f"population per class must be at least 2; got {population_per_class!r}")
    acc = create_accountant(accountant)
    # A round is useless when its noise would hide a candidate that every record voted for
    # (threshold * sigma >= n): that sets the smallest workable budget.
    sigma_max = n_records / threshold
    rho_floor = rounds / (2 * (1 - count_share) * sigma_max**2)
    eps_floor = _epsilon(_events(rho_floor, rounds, count_share, prior_events), delta, acc)
    if eps_floor >= epsilon and prior_events:
        raise UserError(f"--epsilon {epsilon:g} leaves too little for {rounds} Private Evolution round(s) "
                        f"after the share of {', '.join(e.purpose.split(':')[0] for e in prior_events)}; "
                        f"the smallest workable budget with them is --epsilon {eps_floor:.3g}, or turn them off "
                        f"(--judge-share 0, --centroid-share 0, no --adapt-bridge)")
    if eps_floor >= epsilon:
        one = minimum_epsilon(delta=delta, n_records=n_records, count_share=count_share,
                              threshold=threshold, accountant=accountant)
        raise UserError(
            f"--epsilon {epsilon:g} is too small for {rounds} round(s) on {n_records} records: the "
            f"vote noise would hide a candidate even if every record voted for it; the smallest "
            f"workable budget is --epsilon {eps_floor:.3g} with --rounds {rounds}"
            + (f" ({one:.3g} with --rounds 1)" if rounds > 1 else "")
        )
    rho = _largest_rho(epsilon, delta, rounds, count_share, acc, rho_floor, prior=tuple(prior_events))
    events = _events(rho, rounds, count_share, tuple(prior_events))
    planned = _epsilon(events, delta, acc)
    if planned > epsilon:  # bisection keeps lo feasible; this guards the invariant
        raise AssertionError(f"planner produced epsilon {planned} over budget {epsilon}")
    sigma = events[-1].noise_multiplier
    return Plan(
        epsilon_budget=float(epsilon), delta=delta, accountant=accountant, rounds=int(rounds),
        noise_multiplier=sigma,
        count_noise_multiplier=next((e.noise_multiplier for e in events if e.purpose == PURPOSE_COUNTS), None),
        count_share=count_share, threshold=threshold, population_per_class=int(population_per_class),
        n_records=int(n_records), epsilon_planned=planned, n_classes=n_classes,
        n_synthetic=n_synthetic, events=tuple(events),
    )


def minimum_epsilon(*, delta: float, n_records: int, count_share: float = 0.05,
                    threshold: float = 2.0, accountant: str = "prv") -> float:
    """Epsilon of one round whose vote noise just lets a unanimous candidate survive."""
    sigma = n_records / threshold
    rho = 1.0 / (2 * (1 - count_share) * sigma**2)
    return _epsilon(_events(rho, 1, count_share), delta, create_accountant(accountant))
