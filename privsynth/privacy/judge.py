"""The DP class judge of mode dp: a logistic regression on the members' vectors, trained by
DP-SGD, that tells which class a decoded text reads as.

Why: decoding drifts across the class boundary (SMS spam decodes to ham-like text), and the
survivors of Private Evolution, the only other thing a dp run may read, draw that boundary
poorly (their centroids flagged about 3% of the outputs, where a real-data classifier reads
15-20% as the other class). In modes none and noise the generator checks each output with a
logistic regression fitted on the members; here the same model is fitted by DP-SGD, so its
use afterwards (choosing among a target's candidates, re-decoding off-class outputs) is
post-processing. Its cost is one subsampled Gaussian event in the ledger, composed with the
Private Evolution rounds by the accountant (the rounds get what the judge leaves).

The mechanism is DP-SGD (Abadi et al. 2016) on a linear softmax model over the unit-norm
vectors plus a bias: each step every member (or person) joins the batch with probability q
(OS CSPRNG), each record's gradient -- exact, ``(softmax - onehot) x [x, 1]`` -- is clipped
to L2 norm C, the clipped gradients are summed and N(0, (sigma C)^2) noise from the OS CSPRNG
is added to every coordinate; only that noisy sum moves the weights (SGD with momentum).
The settings are fixed in advance, as the DP-SGD classifier baseline of the utility
benchmark: tuning them on the members would itself cost privacy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy.dpsgd import calibrate_event
from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.mechanisms import fit_judge

DEFAULT_SHARE = 0.25  # the CLI's --judge-share when not given (dp only; 0: off)

PURPOSE_JUDGE = (
    "class judge: DP-SGD logistic regression on the member vectors; each member record (or person) "
    "joins a step's batch with probability sample_rate and its gradient is clipped to norm C"
)
PURPOSE_JUDGE_RESERVED = (
    "class judge, reserved and not run: the DP member count was below its minimum; the planned "
    "event stays in the ledger because the plan is fixed before the count is known"
)


@dataclass(frozen=True)
class JudgeConfig:
    """Settings of the DP class judge (public: none depends on the data).

    share: part of --epsilon the judge would spend on its own; the Private Evolution rounds
        get what is left after composing with it (so the total meets the budget).
    epochs: passes over the data in expectation (steps = epochs / sample_rate).
    sample_rate: each member (person) joins a step's batch with this probability (Poisson
        sampling); a public constant, so the event does not depend on the record count.
    lr, momentum: SGD on the mean noisy gradient (divided by sample_rate x the DP member count).
    max_grad_norm: the clipping norm C.
    min_units: below this DP count of members (people) the judge is not trained, though its
        share stays reserved in the ledger (the plan is fixed before the count is known):
        measured on SMS (``benchmarks/results/judge_accuracy.md``) at epsilon 1 alone it reaches
        macro-F1 0.94 on 4,460 members, 0.83 on 1,000 and 0.71 on 440 (0.88 without noise), and a
        judge that guesses steers every decode wrong.
    """

    share: float = 0.25
    epochs: float = 20.0
    sample_rate: float = 1.0 / 16
    lr: float = 0.5
    momentum: float = 0.9
    max_grad_norm: float = 1.0
    min_units: int = 1000

    def applies(self, n_units: float) -> bool:
        """Whether a run whose DP member count is ``n_units`` trains the judge."""
        return n_units >= self.min_units

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.epochs / self.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_config(share: float | None) -> JudgeConfig | None:
    """The judge for ``--judge-share`` (None: ``DEFAULT_SHARE``; 0: no judge); refuses a share outside [0, 1)."""
    share = DEFAULT_SHARE if share is None else float(share)
    if not 0 <= share < 1:
        raise UserError(f"--judge-share must be within [0, 1); got {share!r}")
    return JudgeConfig(share=share) if share else None


@functools.lru_cache(maxsize=64)
def judge_event(*, epsilon: float, delta: float, cfg: JudgeConfig, accountant: str = "prv") -> GaussianEvent:
    """The DP-SGD event whose epsilon alone is at most ``cfg.share * epsilon`` (public settings only)."""
    if not 0 < cfg.share < 1:
        raise UserError(f"the class judge's budget share must be within (0, 1); got {cfg.share!r}")
    if (
        cfg.epochs <= 0
        or cfg.max_grad_norm <= 0
        or cfg.lr <= 0
        or not 0 <= cfg.momentum < 1
        or not 0 < cfg.sample_rate <= 1
    ):
        raise UserError(f"bad class judge settings: {cfg}")
    return calibrate_event(
        purpose=PURPOSE_JUDGE,
        target_epsilon=cfg.share * epsilon,
        delta=delta,
        sample_rate=cfg.sample_rate,
        steps=cfg.steps,
        accountant=accountant,
        what="the class judge",
        off="--judge-share 0",
    )


class DPJudge:
    """A fitted linear softmax model over unit-norm vectors; every use of it is post-processing."""

    def __init__(self, weights: np.ndarray, info: dict[str, Any]):
        self.weights = weights  # (n_classes, dim + 1), the last column the bias
        self.info = info

    def scores(self, E: np.ndarray) -> np.ndarray:
        E = np.asarray(E, dtype=np.float64)
        return cast(np.ndarray, E @ self.weights[:, :-1].T + self.weights[:, -1])

    def predict(self, E: np.ndarray) -> np.ndarray:
        """Class index per row of ``E``."""
        return cast(np.ndarray, np.argmax(self.scores(E), axis=1))


def fit_dp_judge(
    member_vectors: np.ndarray,
    member_classes: np.ndarray,
    n_classes: int,
    *,
    event: GaussianEvent,
    ledger: PrivacyLedger,
    cfg: JudgeConfig,
    n_units_noisy: float,
    user_ids: Sequence[Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> DPJudge:
    """Train the judge by DP-SGD (:func:`privsynth.privacy.mechanisms.fit_judge`, which reads the
    members). ``n_units_noisy`` is the DP member count: the step size divides by
    ``sample_rate x n_units_noisy``, never by the exact count. The returned model is a DP output."""
    W = fit_judge(
        member_vectors,
        member_classes,
        n_classes,
        event=event,
        ledger=ledger,
        clip=cfg.max_grad_norm,
        lr=cfg.lr,
        momentum=cfg.momentum,
        expected_batch=event.sample_rate * n_units_noisy,
        user_ids=user_ids,
        log=log,
    )
    info = {
        "steps": event.steps,
        "sample_rate": event.sample_rate,
        "noise_multiplier": event.noise_multiplier,
        "max_grad_norm": cfg.max_grad_norm,
        "epochs": cfg.epochs,
        "lr": cfg.lr,
        "momentum": cfg.momentum,
    }
    return DPJudge(W, info)
