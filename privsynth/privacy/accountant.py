"""Accountants: total epsilon of a list of Gaussian events, picked by name.

We never compute epsilon with a formula of our own. Each accountant here is a thin
adapter that hands the ledger's events -- plain ``(noise_multiplier, sample_rate,
steps)`` data, as in opacus' accountant history -- to a maintained library:

- ``"prv"`` (default): opacus' PRV accountant (Gopi et al. 2021), numerical composition
  of privacy-loss random variables; we report its *upper* bound.
- ``"rdp"``: opacus' RDP accountant. For ``sample_rate == 1`` it is the exact RDP of the
  Gaussian mechanism, converted to (epsilon, delta); looser than PRV/PLD by a few percent.
- ``"pld"``: Google's dp-accounting privacy-loss-distribution accountant (pessimistic
  discretisation), under add/remove-one adjacency.

All three assume add/remove-one-record adjacency and L2 sensitivity 1 (the noise
multiplier is sigma / sensitivity), which is what every event in privsynth records.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# (noise_multiplier, sample_rate, steps): the same plain tuple opacus keeps in `history`.
EventTuple = tuple[float, float, int]

# Upper bound of the relative error we accept from PRV's discretisation (eps_error is
# absolute in opacus, so we set it from a first coarse pass). 0.1% keeps PRV within 1% of
# PLD on every plan we test, at about 20-200 ms per evaluation for our step counts.
PRV_RELATIVE_ERROR = 1e-3

# RDP orders: opacus' defaults stop at 63, too low for the large noise multipliers PE uses
# at sample_rate 1 (opacus warns "optimal order is the largest alpha"). We add larger
# integer orders to opacus' own grid; a superset of orders can only tighten the bound,
# and every order gives a valid one.
RDP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + sorted(
    set(range(12, 64)) | {int(a) for a in np.geomspace(64, 20000, 120)}
)


class Accountant(abc.ABC):
    """Total epsilon of composed Gaussian events at a given delta."""

    name: str = ""

    @abc.abstractmethod
    def epsilon(self, events: Sequence[EventTuple], *, delta: float) -> float:
        """Epsilon of the composition of ``events`` at ``delta`` (an upper bound)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_events(events: Iterable[EventTuple]) -> list[EventTuple]:
    out = []
    for sigma, q, steps in events:
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"noise_multiplier must be a positive finite number; got {sigma!r}")
        if not 0 < q <= 1:
            raise ValueError(f"sample_rate must be within (0, 1]; got {q!r}")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer; got {steps!r}")
        out.append((float(sigma), float(q), int(steps)))
    if not out:
        raise ValueError("no events to account for")
    return out


class PRVAccountant(Accountant):
    """opacus ``PRVAccountant``; returns the upper end of its error bracket."""

    name = "prv"

    def __init__(self, *, relative_error: float = PRV_RELATIVE_ERROR):
        self.relative_error = relative_error

    def _eps(self, events: Sequence[EventTuple], delta: float, eps_error: float) -> float:
        from opacus.accountants import PRVAccountant as _PRV

        acc = _PRV()
        acc.history = list(events)
        # q == 1 makes opacus take log(0) in a branch it then discards, and its domain-size
        # bound (an RDP computation) warns about its order grid; neither affects the result.
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            return float(acc.get_epsilon(delta, eps_error=eps_error))

    def epsilon(self, events: Sequence[EventTuple], *, delta: float) -> float:
        events = _check_events(events)
        coarse = self._eps(events, delta, 0.05)
        eps_error = max(2e-4, min(0.01, self.relative_error * coarse))
        return self._eps(events, delta, eps_error)


class RDPAccountant(Accountant):
    """opacus ``RDPAccountant`` with a wider grid of orders (see ``RDP_ORDERS``)."""

    name = "rdp"

    def epsilon(self, events: Sequence[EventTuple], *, delta: float) -> float:
        from opacus.accountants import RDPAccountant as _RDP

        acc = _RDP()
        acc.history = list(_check_events(events))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return float(acc.get_epsilon(delta, alphas=RDP_ORDERS))


class PLDAccountant(Accountant):
    """dp-accounting's ``PLDAccountant`` (add/remove-one, pessimistic discretisation).

    Composing a subsampled event of many steps (DP-SGD) is the slow part and a planner asks
    for the same one many times beside different Gaussians: the composition of the
    subsampled events is kept (by their parameters) and copied before the rest is added.
    Composition is commutative, so the result is the same."""

    name = "pld"
    _prefix_cache: dict[tuple[Any, ...], Any] = {}

    def __init__(self, *, value_discretization_interval: float = 1e-4):
        self.value_discretization_interval = value_discretization_interval

    def _fresh(self) -> Any:
        import dp_accounting
        from dp_accounting.pld import pld_privacy_accountant

        return pld_privacy_accountant.PLDAccountant(
            neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE,
            value_discretization_interval=self.value_discretization_interval,
        )

    @staticmethod
    def _compose(acc: Any, sigma: float, q: float, steps: int) -> None:
        import dp_accounting

        event = dp_accounting.GaussianDpEvent(sigma)
        if q < 1:
            event = dp_accounting.PoissonSampledDpEvent(q, event)
        acc.compose(event, steps)

    def epsilon(self, events: Sequence[EventTuple], *, delta: float) -> float:
        import copy

        events = _check_events(events)
        slow = tuple(sorted(e for e in events if e[1] < 1))
        key = (slow, self.value_discretization_interval)
        if slow and key not in self._prefix_cache:
            acc = self._fresh()
            for sigma, q, steps in slow:
                self._compose(acc, sigma, q, steps)
            if len(self._prefix_cache) > 32:
                self._prefix_cache.clear()
            self._prefix_cache[key] = acc
        acc = copy.deepcopy(self._prefix_cache[key]) if slow else self._fresh()
        for sigma, q, steps in events:
            if q == 1:
                self._compose(acc, sigma, q, steps)
        return float(acc.get_epsilon(delta))


_ACCOUNTANTS: dict[str, type[Accountant]] = {
    "prv": PRVAccountant,
    "rdp": RDPAccountant,
    "pld": PLDAccountant,
}


def register_accountant(name: str, cls: type[Accountant], *, force: bool = False) -> None:
    """Make ``cls`` available under ``name`` (opacus' registry pattern)."""
    if name in _ACCOUNTANTS and not force:
        raise ValueError(f"an accountant is already registered as {name!r}")
    _ACCOUNTANTS[name] = cls


def accountant_names() -> list[str]:
    return sorted(_ACCOUNTANTS)


def create_accountant(name: str) -> Accountant:
    """The accountant registered as ``name`` ("prv", "rdp" or "pld")."""
    from privsynth.errors import UserError

    try:
        return _ACCOUNTANTS[name]()
    except KeyError:
        raise UserError(f"--accountant must be one of {', '.join(accountant_names())}; got {name!r}") from None
