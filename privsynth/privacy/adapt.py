"""Optional DP-SGD domain adaptation of the bridge (``--adapt-bridge``).

The shipped bridge learned to decode Brown-corpus prose; an SMS corpus is far from it. This
step learns one shift added to every soft token (``Bridge.soft_shift``, k x d_model numbers,
4,608 for the default bridge) by DP-SGD on the members: each record's loss is the bridge's
reconstruction loss of that record from its own vector.

Why the shift and not the whole projector: DP-SGD adds noise of norm ~ sigma * C * sqrt(d)
per step, so on the 4.7M-parameter projector the noise would be ~30x the summed clipped
gradients of a 64-record batch; on 4,608 numbers it is about the size of the signal.

The mechanism is DP-SGD as in Abadi et al. (2016) with Poisson sampling: each step every
member (or person, with ``user_ids``: one record of theirs picked by the CSPRNG) joins the
batch with probability q, each joined record's gradient is clipped to L2 norm C, the clipped
gradients are summed and Gaussian noise of standard deviation sigma * C is added; the
optimiser only ever sees that noisy sum. One ledger event (sigma, q, steps) accounts for it.
Per-record gradients are exact: the shift is expanded to one copy per record in the batch,
and each record's loss depends only on its own copy (the LM handles records independently).
Noise and sampling come from :mod:`privsynth.privacy.rng` (OS CSPRNG, never the seed).
opacus' own optimiser is not used because its ``secure_mode`` needs torchcsprng, which has
no build for this torch; opacus' accountants still do the accounting (through the ledger).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from privsynth.errors import UserError
from privsynth.privacy.dpsgd import calibrate_event, poisson_batch, steps_for
from privsynth.privacy.ledger import GaussianEvent, PrivacyLedger
from privsynth.privacy.rng import secure_normal

PURPOSE_ADAPT = ("bridge adaptation: DP-SGD on a shift of the soft tokens; each member record (or person) "
                 "joins a step's batch with probability sample_rate and its gradient is clipped to norm C")


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of the adaptation.

    share: part of --epsilon the adaptation would spend on its own; the Private Evolution
        rounds get what is left after composing with it (so the total meets the budget).
    batch_size: expected records per step (Poisson sampling, rate batch_size / n).
    epochs: passes over the data in expectation (steps = epochs / rate).
    max_grad_norm: the clipping norm C.
    lr: Adam learning rate on the shift.
    micro_batch: records per forward pass (memory only; no effect on privacy).
    """

    share: float = 0.25
    batch_size: int = 64
    epochs: float = 1.0
    max_grad_norm: float = 1.0
    lr: float = 0.02
    micro_batch: int = 16

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=64)
def adaptation_event(*, epsilon: float, delta: float, n_units: int, cfg: AdaptConfig,
                     accountant: str = "prv") -> GaussianEvent:
    """The DP-SGD event whose epsilon alone is at most ``cfg.share * epsilon`` (bisection on
    sigma against the accountant, to 0.5%; reads only the unit count)."""
    if not 0 < cfg.share < 1:
        raise UserError(f"the adaptation's budget share must be within (0, 1); got {cfg.share!r}")
    if cfg.batch_size < 1 or cfg.epochs <= 0 or cfg.max_grad_norm <= 0:
        raise UserError(f"bad adaptation settings: {cfg}")
    q, steps = steps_for(batch_size=cfg.batch_size, epochs=cfg.epochs, n_units=n_units)
    return calibrate_event(purpose=PURPOSE_ADAPT, target_epsilon=cfg.share * epsilon, delta=delta, sample_rate=q,
                           steps=steps, accountant=accountant, what="the bridge adaptation",
                           off="drop --adapt-bridge")


def dp_adapt_bridge(bridge, member_vectors: np.ndarray, member_texts: Sequence[str], *, event: GaussianEvent,
                    ledger: PrivacyLedger, cfg: AdaptConfig, user_ids: Sequence[Any] | None = None,
                    log: Callable[[str], None] | None = None,
                    on_step: Callable[[int, Any, int], None] | None = None) -> dict[str, Any]:
    """Run DP-SGD on ``bridge.soft_shift`` and leave the learned shift in place.

    TOUCHES MEMBER DATA (vectors and texts). Covered by the DP-SGD event recorded in
    ``ledger`` before the first step (the ledger refuses it if over budget). Returns plain
    facts about the run (no member data): steps, records used per step, seconds.
    ``on_step(step, noisy_sum, batch_size)`` sees each step's noisy gradient sum (a DP output).
    """
    import torch

    X = np.asarray(member_vectors, dtype=np.float32)
    if len(X) != len(member_texts):
        raise ValueError(f"{len(X)} vectors for {len(member_texts)} texts")
    q, steps, sigma, C = event.sample_rate, event.steps, event.noise_multiplier, cfg.max_grad_norm
    ledger.record(purpose=event.purpose, noise_multiplier=sigma, sample_rate=q, steps=steps)

    k, d = bridge.projector.n_tokens, bridge.projector.d_model
    device = next(bridge.projector.parameters()).device
    shift = torch.zeros(k, d, device=device)
    opt = torch.optim.Adam([shift.requires_grad_(True)], lr=cfg.lr)
    frozen = [(p, p.requires_grad) for p in bridge.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    was_training = bridge.training
    bridge.eval()
    n_units = len(X) if user_ids is None else len(set(user_ids))
    expected = q * n_units
    t0, sizes = time.time(), []
    try:
        for step in range(steps):
            rows = poisson_batch(len(X), user_ids, q)
            sizes.append(len(rows))
            total = torch.zeros(k, d, dtype=torch.float64, device=device)
            for start in range(0, len(rows), cfg.micro_batch):
                idx = rows[start: start + cfg.micro_batch]
                per = shift.detach().expand(len(idx), k, d).clone().requires_grad_(True)
                bridge.soft_shift = per
                losses = bridge.loss(torch.from_numpy(X[idx]).to(device), [member_texts[i] for i in idx],
                                     per_sample=True)
                losses.sum().backward()
                g = per.grad.double()
                norms = g.flatten(1).norm(dim=1)
                total += (g * (C / (norms + 1e-12)).clamp(max=1.0)[:, None, None]).sum(0)
            noisy = total + torch.from_numpy(secure_normal((k, d), scale=sigma * C)).to(device)
            if on_step is not None:
                on_step(step, noisy.detach().clone(), len(rows))
            opt.zero_grad()
            shift.grad = (noisy / expected).float()
            opt.step()
            if log is not None and (step + 1) % max(1, steps // 5) == 0:
                log(f"bridge adaptation: step {step + 1}/{steps} ({time.time() - t0:.0f}s)")
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
        bridge.train(was_training)
    bridge.soft_shift = shift.detach()
    return {"steps": steps, "sample_rate": q, "noise_multiplier": sigma, "max_grad_norm": C,
            "mean_batch": float(np.mean(sizes)) if sizes else 0.0, "seconds": round(time.time() - t0, 1),
            "shift_norm": float(shift.detach().norm())}

