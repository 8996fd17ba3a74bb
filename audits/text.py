"""Text normalisation, tokenisation and a small interpolated n-gram language model."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def normalize(text: str) -> str:
    """Case-folded, punctuation-free, single-spaced form used for duplicate matching."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def words(text: str) -> list[str]:
    """Lower-case word tokens with punctuation dropped (for shared word n-grams)."""
    return normalize(text).split()


def lm_tokens(text: str) -> list[str]:
    """Lower-case words and punctuation marks (for the word n-gram language model)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


class NGramLM:
    """Interpolated (Jelinek-Mercer) n-gram model with add-one unigrams, fitted on token lists.

    Used by the membership-inference attack of Meeus et al. (2025) "The Canary's Echo": a model
    fitted on the synthetic text gives higher likelihood to records the generator saw.
    """

    def __init__(self, order: int = 3, *, lam: float = 0.6) -> None:
        self.order = order
        self.lam = lam

    def fit(self, sequences: Iterable[Sequence[str]]) -> NGramLM:
        self.counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(self.order + 1)]
        self.context: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(self.order + 1)]
        for seq in sequences:
            toks = ["<s>"] * (self.order - 1) + list(seq) + ["</s>"]
            for i in range(self.order - 1, len(toks)):
                for n in range(1, self.order + 1):
                    gram = tuple(toks[i - n + 1 : i + 1])
                    self.counts[n][gram] += 1
                    self.context[n][gram[:-1]] += 1
        self.vocab_size = len(self.counts[1]) + 1
        self.total = sum(self.counts[1].values())
        return self

    def token_logprob(self, history: Sequence[str], token: str) -> float:
        """log P(token | last order-1 tokens of history), interpolated down to add-one unigrams."""
        p = (self.counts[1].get((token,), 0) + 1) / (self.total + self.vocab_size)
        for n in range(2, self.order + 1):
            ctx = tuple(history[len(history) - n + 1 :]) if n > 1 else ()
            if len(ctx) < n - 1:
                break
            c = self.context[n].get(ctx, 0)
            if c:
                p = self.lam * self.counts[n].get(ctx + (token,), 0) / c + (1 - self.lam) * p
        return math.log(p)

    def mean_logprob(self, seq: Sequence[str]) -> float:
        """Average per-token log-likelihood of a sequence (end marker included)."""
        toks = ["<s>"] * (self.order - 1) + list(seq) + ["</s>"]
        total = 0.0
        for i in range(self.order - 1, len(toks)):
            total += self.token_logprob(toks[max(0, i - self.order + 1) : i], toks[i])
        return total / (len(toks) - self.order + 1)
