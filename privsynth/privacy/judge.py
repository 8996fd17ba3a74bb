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
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy.dpsgd import calibrate_event, poisson_batch, steps_for
from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.rng import secure_normal

DEFAULT_SHARE = 0.25  # the CLI's --judge-share when not given (dp only; 0: off)

PURPOSE_JUDGE = ("class judge: DP-SGD logistic regression on the member vectors; each member record (or person) "
                 "joins a step's batch with probability sample_rate and its gradient is clipped to norm C")


@dataclass(frozen=True)
class JudgeConfig:
    """Settings of the DP class judge.

    share: part of --epsilon the judge would spend on its own; the Private Evolution rounds
        get what is left after composing with it (so the total meets the budget).
    epochs: passes over the data in expectation (steps = epochs / rate).
    batch_size: expected records per step; None: n/16 (16 steps an epoch), within [16, 256].
    lr, momentum: SGD on the mean noisy gradient.
    max_grad_norm: the clipping norm C.
    min_units: with fewer members (people) the judge is skipped and spends nothing: measured
        on SMS (``benchmarks/results/judge_accuracy.md``) at epsilon 1 alone it reaches macro-F1
        0.94 on 4,460 members, 0.83 on 1,000 and 0.71 on 440 (0.88 without noise), and a judge
        that guesses steers every decode wrong.
    """

    share: float = 0.25
    epochs: float = 20.0
    batch_size: int | None = None
    lr: float = 0.5
    momentum: float = 0.9
    max_grad_norm: float = 1.0
    min_units: int = 1000

    def applies(self, n_units: int) -> bool:
        """Whether a run on ``n_units`` members (people) trains the judge (reads only the count)."""
        return n_units >= self.min_units

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def batch_for(self, n_units: int) -> int:
        return int(self.batch_size) if self.batch_size is not None else int(min(256, max(16, n_units // 16)))


def judge_config(share: float | None) -> JudgeConfig | None:
    """The judge for ``--judge-share`` (None: ``DEFAULT_SHARE``; 0: no judge); refuses a share outside [0, 1)."""
    share = DEFAULT_SHARE if share is None else float(share)
    if not 0 <= share < 1:
        raise UserError(f"--judge-share must be within [0, 1); got {share!r}")
    return JudgeConfig(share=share) if share else None


@functools.lru_cache(maxsize=64)
def judge_event(*, epsilon: float, delta: float, n_units: int, cfg: JudgeConfig,
                accountant: str = "prv") -> GaussianEvent:
    """The DP-SGD event whose epsilon alone is at most ``cfg.share * epsilon`` (reads only the unit count)."""
    if not 0 < cfg.share < 1:
        raise UserError(f"the class judge's budget share must be within (0, 1); got {cfg.share!r}")
    if cfg.epochs <= 0 or cfg.max_grad_norm <= 0 or cfg.lr <= 0 or not 0 <= cfg.momentum < 1 \
            or (cfg.batch_size is not None and cfg.batch_size < 1):
        raise UserError(f"bad class judge settings: {cfg}")
    q, steps = steps_for(batch_size=cfg.batch_for(n_units), epochs=cfg.epochs, n_units=n_units)
    return calibrate_event(purpose=PURPOSE_JUDGE, target_epsilon=cfg.share * epsilon, delta=delta, sample_rate=q,
                           steps=steps, accountant=accountant, what="the class judge",
                           off="--judge-share 0")


class DPJudge:
    """A fitted linear softmax model over unit-norm vectors; every use of it is post-processing."""

    def __init__(self, weights: np.ndarray, info: dict[str, Any]):
        self.weights = weights  # (n_classes, dim + 1), the last column the bias
        self.info = info

    def scores(self, E: np.ndarray) -> np.ndarray:
        E = np.asarray(E, dtype=np.float64)
        return E @ self.weights[:, :-1].T + self.weights[:, -1]

    def predict(self, E: np.ndarray) -> np.ndarray:
        """Class index per row of ``E``."""
        return np.argmax(self.scores(E), axis=1)


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    return P / P.sum(axis=1, keepdims=True)


def fit_dp_judge(member_vectors: np.ndarray, member_classes: np.ndarray, n_classes: int, *, event: GaussianEvent,
                 ledger: PrivacyLedger, cfg: JudgeConfig, user_ids: Sequence[Any] | None = None,
                 log: Callable[[str], None] | None = None) -> DPJudge:
    """Train the judge by DP-SGD. TOUCHES MEMBER DATA (vectors and classes).

    Covered by ``event``, recorded in ``ledger`` before the first step (the ledger refuses it
    if over budget). The returned model and its ``info`` (steps, settings; no member data) are
    DP outputs.
    """
    X = np.asarray(member_vectors, dtype=np.float64)
    y = np.asarray(member_classes, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"member_vectors {X.shape} and member_classes ({len(y)}) do not match")
    q, steps, sigma, C = event.sample_rate, event.steps, event.noise_multiplier, cfg.max_grad_norm
    ledger.record(purpose=event.purpose, noise_multiplier=sigma, sample_rate=q, steps=steps)
    Xb = np.hstack([X, np.ones((len(X), 1))])
    n_units = len(X) if user_ids is None else len(set(user_ids))
    expected = q * n_units
    W = np.zeros((n_classes, Xb.shape[1]))
    velocity = np.zeros_like(W)
    onehot = np.eye(n_classes)
    for step in range(steps):
        rows = poisson_batch(len(X), user_ids, q)
        total = np.zeros_like(W)
        if rows.size:
            xb = Xb[rows]
            err = _softmax(xb @ W.T) - onehot[y[rows]]  # (b, K); the gradient of record i is err_i x xb_i
            norms = np.linalg.norm(err, axis=1) * np.linalg.norm(xb, axis=1)
            scale = np.minimum(1.0, C / np.maximum(norms, 1e-12))
            total = (err * scale[:, None]).T @ xb
        noisy = total + secure_normal(W.shape, scale=sigma * C)
        velocity = cfg.momentum * velocity + noisy / expected
        W -= cfg.lr * velocity
        if log is not None and (step + 1) % max(1, steps // 4) == 0:
            log(f"class judge: DP-SGD step {step + 1}/{steps}")
    info = {"steps": steps, "sample_rate": q, "noise_multiplier": sigma, "max_grad_norm": C,
            "epochs": cfg.epochs, "lr": cfg.lr, "momentum": cfg.momentum}
    return DPJudge(W, info)
