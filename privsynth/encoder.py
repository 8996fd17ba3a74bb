"""Sentence encoder: texts -> unit-norm vectors (all-MiniLM-L6-v2 by default, offline).

Member embeddings can be inverted back into text, so the on-disk cache is private data: it
lives in a user-only folder (0700, files 0600), is never part of a release, and
`privsynth cache purge` deletes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from privsynth.models import offline, quiet_loading, resolve_encoder


def cache_dir() -> Path:
    """The private cache folder ($PRIVSYNTH_CACHE or ~/.cache/privsynth), created 0700."""
    root = Path(os.environ.get("PRIVSYNTH_CACHE") or Path.home() / ".cache" / "privsynth")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    return root


def purge_cache() -> int:
    """Delete every cached embedding; returns the number of files removed."""
    root = Path(os.environ.get("PRIVSYNTH_CACHE") or Path.home() / ".cache" / "privsynth")
    if not root.exists():
        return 0
    n = sum(1 for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return n


class Encoder:
    """Embed texts with a sentence-transformers model into unit-norm float32 vectors.

    Parameters are stored as given; the model loads on first use.
    model: None (embedded all-MiniLM-L6-v2), a sentence-transformers name or a local path.
    cache: keep embeddings on disk keyed by model and content hash (private folder).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        cache: bool = False,
        show_progress: bool = False,
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self.show_progress = show_progress
        self._st = None

    @property
    def st(self):
        if self._st is None:
            offline()
            from sentence_transformers import SentenceTransformer

            with quiet_loading():
                self._st = SentenceTransformer(resolve_encoder(self.model), device=self.device)
        return self._st

    @property
    def dim(self) -> int:
        return int(
            self.st.get_embedding_dimension()
            if hasattr(self.st, "get_embedding_dimension")
            else self.st.get_sentence_embedding_dimension()
        )

    @property
    def max_seq_length(self) -> int:
        return int(self.st.max_seq_length)

    def encode(self, texts: list[str], *, show_progress: bool | None = None) -> np.ndarray:
        """Return an [n, d] float32 array of unit-norm embeddings, in input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        key = None
        if self.cache:
            key = self._cache_key(texts)
            hit = cache_dir() / f"{key}.npy"
            if hit.exists():
                return np.load(hit)
        progress = self.show_progress if show_progress is None else show_progress
        vecs = self.st.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        if key is not None:
            path = cache_dir() / f"{key}.npy"
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vecs)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        return vecs

    def _cache_key(self, texts: list[str]) -> str:
        h = hashlib.sha256(str(resolve_encoder(self.model)).encode())
        for t in texts:
            h.update(b"\0" + t.encode("utf-8"))
        return h.hexdigest()


def normalize(v: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)
