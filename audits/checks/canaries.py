"""Canaries: records made of public words and a random secret, planted into the generator's
input; the audit measures how much of each secret surfaces in the synthetic text.

A canary never carries member text: its opening words are drawn from the auditor's public
common-word list (``audits/reference/common_words.txt``), so planting one adds a record whose
content depends on no private record.

Exposure (Carlini et al., "The Secret Sharer"): rank the true secret among ``n_alternatives``
random secrets of the same form by the likelihood a character n-gram model fitted on the
synthetic text gives it after the canary's prefix; exposure = log2(n + 1) - log2(rank).
A secret the synthetic text never saw sits near the middle (about 1 bit); a copied one ranks
first (log2(10000) = 13.3 bits with the default 9,999 alternatives).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audits.errors import AuditInputError
from audits.io import Record, as_records, iter_jsonl, write_atomic
from audits.policy import Policy, load_policy
from audits.result import CheckResult

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I: secrets read back unambiguously
SECRET_LEN = 8
N_ALTERNATIVES = 9999
ORDER = 6


@dataclass(frozen=True)
class Canary:
    """One planted record: ``text`` ends with ``secret``."""

    id: str
    text: str
    secret: str

    @property
    def prefix(self) -> str:
        return self.text[: self.text.rindex(self.secret)]


def _secret(rng: np.random.Generator, length: int) -> str:
    return "".join(ALPHABET[i] for i in rng.integers(0, len(ALPHABET), length))


def make_canaries(n: int = 10, *, seed: int = 0, secret_len: int = SECRET_LEN, prefix_words: int = 8) -> list[Canary]:
    """``n`` canaries: ``prefix_words`` words drawn from the public common-word list, then
    "ref <secret>". Seeded; reads no private text."""
    from audits.checks.pii import common_words

    if n < 0:
        raise AuditInputError(f"make_canaries: n must be >= 0; got {n!r}")
    vocab = sorted(w for w in common_words() if w.isalpha() and 3 <= len(w) <= 8)
    rng = np.random.default_rng([seed, 7])
    out = []
    for k in range(n):
        prefix = " ".join(vocab[int(i)] for i in rng.integers(0, len(vocab), prefix_words))
        secret = _secret(rng, secret_len)
        out.append(Canary(f"canary-{k:04d}", f"{prefix.capitalize()} ref {secret}", secret))
    return out


def write_canaries(path: str | Path, canaries: Sequence[Canary]) -> None:
    """Write the canary file (JSONL: id, text, secret) atomically."""
    write_atomic(path, "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in canaries))


def read_canaries(path: str | Path) -> list[Canary]:
    """Read and check a canary file; every secret must occur in its text."""
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AuditInputError(f"{path}: cannot read canary file ({e.strerror})") from None
    except UnicodeDecodeError:
        raise AuditInputError(f"{path}: canary file is not valid UTF-8") from None
    out = []
    for row, obj in iter_jsonl(path, content):
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("id", "text", "secret")):
            raise AuditInputError(f"{path}: row {row}: a canary needs string fields id, text and secret")
        if not obj["secret"] or obj["secret"] not in obj["text"]:
            raise AuditInputError(f"{path}: row {row}: the secret does not occur in the canary text")
        out.append(Canary(obj["id"], obj["text"], obj["secret"]))
    if not out:
        raise AuditInputError(f"{path}: the canary file holds no canaries")
    return out


class CharLM:
    """Interpolated character n-gram model (uniform base over the characters seen)."""

    def __init__(self, texts: Sequence[str], order: int = ORDER, lam: float = 0.8) -> None:
        corpus = "\n".join(t.casefold() for t in texts)
        self.order, self.lam = order, lam
        self.counts = [Counter(corpus[i : i + n] for i in range(len(corpus) - n + 1)) for n in range(order + 1)]
        self.base = 1.0 / (len(self.counts[1]) + len(ALPHABET) + 1)

    def logprob(self, context: str, s: str) -> float:
        """log P(s | context), character by character."""
        text, total = context.casefold(), 0.0
        for ch in s.casefold():
            p = self.base
            for n in range(1, self.order + 1):
                ctx = text[len(text) - n + 1 :]
                if len(ctx) < n - 1:
                    break
                c = self.counts[n - 1].get(ctx, 0)  # counts[0][""] is the corpus length
                if c:
                    p = self.lam * self.counts[n].get(ctx + ch, 0) / c + (1 - self.lam) * p
            total += math.log(p)
            text += ch
        return total


def canary_exposure(
    canaries: Sequence[Canary],
    synthetic: Sequence[Any],
    *,
    policy: Policy | None = None,
    n_alternatives: int = N_ALTERNATIVES,
    seed: int = 0,
) -> CheckResult:
    """Highest exposure (bits) of any canary secret in the synthetic text; evidence per canary."""
    policy = policy or load_policy()
    syn: list[Record] = as_records(synthetic, role="synthetic")
    lm = CharLM([r.text for r in syn])
    corpus = "\n".join(r.text.casefold() for r in syn)
    rng = np.random.default_rng([seed, 8])
    per: list[dict[str, Any]] = []
    for c in canaries:
        alts = [_secret(rng, len(c.secret)) for _ in range(n_alternatives)]
        alts = [a for a in alts if a != c.secret]
        ctx = c.prefix[-(ORDER - 1) :]
        true = lm.logprob(ctx, c.secret)
        scores = np.array([lm.logprob(ctx, a) for a in alts])
        rank = 1 + np.sum(scores > true) + 0.5 * np.sum(scores == true)
        exposure = math.log2(len(alts) + 1) - math.log2(rank)
        per.append(
            {
                "id": c.id,
                "exposure_bits": round(exposure, 3),
                "rank": float(rank),
                "alternatives": len(alts),
                "verbatim_in_synthetic": c.secret.casefold() in corpus,
                "share_of_secret_surfacing": _surfacing(c.secret.casefold(), corpus),
            }
        )
    worst = sorted(per, key=lambda p: -p["exposure_bits"])
    return policy.judge(
        "canary_exposure",
        worst[0]["exposure_bits"] if worst else None,
        evidence={
            "canaries": len(per),
            "max_possible_bits": round(math.log2(n_alternatives + 1), 3),
            "mean_exposure_bits": round(float(np.mean([p["exposure_bits"] for p in per])), 3) if per else None,
            "secrets_verbatim_in_synthetic": sum(p["verbatim_in_synthetic"] for p in per),
            "worst": worst[:5],
        },
    )


def _surfacing(secret: str, corpus: str) -> float:
    """Longest leading part of the secret found anywhere in the synthetic text, as a share."""
    k = 0
    while k < len(secret) and secret[: k + 1] in corpus:
        k += 1
    return round(k / len(secret), 3)
