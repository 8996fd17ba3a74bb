"""Batched decoding over a KV cache: greedy and temperature / top-k / top-p sampling.

The bridge decodes many candidates of each vector; transformers' ``generate`` spent most of
that time on work the candidates do not need. Here (``benchmarks/decode_speed.py`` has the
numbers):

- the prompt of each vector runs through the LM once and its cache is copied for each of
  its candidates, instead of once per candidate;
- a row that has written its end token leaves the batch, instead of writing padding until the
  longest row ends (SMS texts end long before the 48-token budget);
- a sampled token is drawn among the ``top_k`` best instead of after sorting the whole
  vocabulary.

It samples from the distribution ``generate`` samples from with the same settings: the
logits divided by the temperature, cut to the ``top_k`` best (transformers' default 50), then
to the smallest set whose probability reaches ``top_p``. The random stream is its own (a
seeded ``torch.Generator``), so the same seed gives the same texts here, not the texts
``generate`` gave.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Hashable
from typing import Any, cast

import torch


@functools.lru_cache(maxsize=16)
def _forward_args(cls: type[Any]) -> frozenset[str]:
    return frozenset(inspect.signature(cls.forward).parameters)


def _cache_args(lm) -> tuple[str, dict]:
    """The keyword that passes a KV cache to ``lm`` (transformers 5.x renamed ``past_key_values``
    to ``cache``), and the option that keeps only the last position's logits, where it exists."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    names = _forward_args(cast(Hashable, type(base)))  # mypy takes no class for Hashable (python/mypy#11470)
    keep = (
        {"logits_to_keep": 1}
        if "logits_to_keep" in names
        else {"num_logits_to_keep": 1}
        if "num_logits_to_keep" in names
        else {}
    )
    return ("cache" if "cache" in names else "past_key_values"), keep


@torch.no_grad()
def sample_tokens(
    lm,
    prompt: dict[str, torch.Tensor],
    *,
    copies: int,
    max_new_tokens: int,
    end_id: int,
    pad_id: int,
    temperature: float,
    top_p: float,
    top_k: int = 50,
    greedy_first: bool = False,
    min_new_tokens: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """New token ids, ``[B * copies, max_new_tokens]`` (row ``b * copies + j`` is copy ``j`` of
    prompt ``b``), padded with ``pad_id`` after each row's end token.

    prompt: the first forward's inputs for the B prompts, all of one length (``inputs_embeds``
        or ``input_ids``; no padding, so no attention mask is needed).
    greedy_first: copy 0 of every prompt takes the most likely token at each step; the others
        are sampled.
    min_new_tokens: one floor per prompt; the end token is held back until a row has that many.
    """
    from transformers import DynamicCache

    first = next(iter(prompt.values()))
    B, device = first.shape[0], first.device
    n = B * copies
    out = torch.full((n, max_new_tokens), pad_id, dtype=torch.long, device=device)
    if max_new_tokens <= 0 or n == 0:
        return out
    floors = (
        (
            torch.zeros(B, dtype=torch.long)
            if min_new_tokens is None
            else torch.as_tensor(min_new_tokens, dtype=torch.long).reshape(B)
        )
        .to(device)
        .repeat_interleave(copies)
    )
    sampled = torch.ones(n, dtype=torch.bool, device=device)
    if greedy_first:
        sampled[::copies] = False
    gen = torch.Generator(device=device).manual_seed(int(seed))
    cache_kw, keep = _cache_args(lm)
    cache = DynamicCache()
    logits = lm(**prompt, **{cache_kw: cache}, use_cache=True, **keep).logits[:, -1].float()
    if copies > 1:
        cache.batch_repeat_interleave(copies)
        logits = logits.repeat_interleave(copies, dim=0)
    rows = torch.arange(n, device=device)  # the output row of each batch row still writing
    for step in range(max_new_tokens):
        held = floors[rows] > step
        if bool(held.any()):
            logits[held, end_id] = -float("inf")
        token = logits.argmax(dim=-1)
        pick = sampled[rows]
        if bool(pick.any()):
            token[pick] = _draw(logits[pick], temperature=temperature, top_k=top_k, top_p=top_p, gen=gen)
        out[rows, step] = token
        ended = token == end_id
        if step == max_new_tokens - 1 or bool(ended.all()):
            break
        if bool(ended.any()):
            stay = torch.nonzero(~ended)[:, 0]
            cache.batch_select_indices(stay)
            rows, token = rows[stay], token[stay]
        logits = lm(input_ids=token[:, None], **{cache_kw: cache}, use_cache=True, **keep).logits[:, -1].float()
    return out


def nucleus(logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, token ids) of the tokens a row may draw, best first: temperature, then the
    ``top_k`` best, then the smallest set whose probability reaches ``top_p`` (always at least
    the best token), as transformers' warpers do. Cut tokens keep probability 0."""
    values, index = (logits / temperature).topk(min(top_k, logits.shape[-1]), dim=-1)  # sorted, best first
    probs = values.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability of the better tokens
    return probs.masked_fill(before >= top_p, 0.0), index


def _draw(logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float, gen: torch.Generator) -> torch.Tensor:
    probs, index = nucleus(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    return index.gather(1, torch.multinomial(probs, 1, generator=gen))[:, 0]
