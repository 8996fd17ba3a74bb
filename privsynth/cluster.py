"""Embedding, decoding and Private Evolution's votes on a Ray cluster (``pip install 'privsynth[ray]'``).

``--ray ADDRESS`` (``auto``: the cluster this machine is part of, as ``ray start`` made it;
``local``: a cluster started for this run on this machine; otherwise a Ray address such as
``ray://head:10001``) sends the work that grows with the data to actors, each holding a copy
of the encoder and the bridge:

- embedding: the texts are cut into the encoder's own batches (sentence-transformers' length
  order) and each batch is embedded by one actor, so every vector is computed from the same
  batch as in one process;
- decoding: :meth:`privsynth.bridge.Bridge.decode`'s batches (same members, same per-batch
  seeds) each go to one actor, and the results are put back in order;
- Private Evolution's votes: the member vectors are cut into shards, whole people to a shard
  (``--user-col``), each shard's exact histogram is counted by an actor, the histograms are
  summed here, and the noise is added once, here. The ledger and the guarantee are unchanged.

The driver keeps everything else (splitting, the class judge's DP-SGD, the audit, the gate).
Member texts and vectors travel to the actors through Ray's object store, which spills to
disk under memory pressure: see ``docs/ray.md`` for where, and how to keep it on private,
encrypted storage.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from privsynth.errors import UserError

#: ``--ray`` values that are not addresses
LOCAL, AUTO = "local", "auto"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'privsynth[ray]'") from None
    return ray


class _Worker:
    """One actor: a copy of the encoder and the bridge, and its own name (host:pid)."""

    def __init__(self, encoder: Any, bridge: Any) -> None:
        self.encoder, self.bridge = encoder, bridge
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def encode(self, texts: list[str]) -> tuple[str, np.ndarray]:
        return self.name, np.asarray(self.encoder.encode(texts), dtype=np.float32)

    def decode(self, job: dict[str, Any]) -> tuple[str, tuple[list[str], np.ndarray, np.ndarray]]:
        return self.name, self.bridge.decode_batch(job, self.encoder)

    def votes(self, shard: dict[str, Any], candidates: np.ndarray, cand_class: np.ndarray, among: str):
        """One shard's exact vote histogram. READS MEMBER VECTORS AND LABELS of this shard;
        each unit (record, or person) lies in one shard, so the sum has sensitivity 1."""
        from privsynth.privacy.mechanisms import vote_histogram

        return self.name, vote_histogram(
            shard["vectors"], shard["classes"], candidates, cand_class, among=among, user_ids=shard["users"]
        )


class RayCluster:
    """Actors on a Ray cluster that embed, decode and count votes for one run.

    address: ``local``, ``auto`` or a Ray address. workers: actors to start (default: one per
    CPU the cluster offers, at most 64). ``processed`` counts, per actor, the batches and
    shards it ran: the run records it.
    """

    def __init__(self, address: str, *, workers: int | None = None, cpus_per_worker: float = 1.0) -> None:
        ray = _ray()
        self.address = address
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "error"}
            try:
                if address == LOCAL:
                    ray.init(**kwargs)
                else:
                    ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise UserError(f"--ray {address}: no Ray cluster there ({exc})") from None
            self._started = True
        total = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(64, workers or int(total // cpus_per_worker) or 1))
        self.cpus_per_worker = cpus_per_worker
        self.actors: list[Any] = []
        self.processed: Counter[str] = Counter()
        self._shard_src: tuple[Any, ...] | None = None
        self._shard_refs: list[Any] = []

    def attach(self, encoder: Any, bridge: Any) -> ClusterEncoder:
        """Start the actors with copies of ``encoder`` and ``bridge``; the bridge decodes through
        them from now on. Returns the encoder to use in their place (it embeds through them)."""
        ray = _ray()
        had = getattr(bridge, "cluster", None)
        bridge.cluster = None  # the actors' copies decode locally
        try:
            enc_ref, bridge_ref = ray.put(encoder), ray.put(bridge)
        finally:
            bridge.cluster = had
        remote = ray.remote(num_cpus=self.cpus_per_worker)(_Worker)
        self.actors = [remote.remote(enc_ref, bridge_ref) for _ in range(self.workers)]
        bridge.cluster = self
        return ClusterEncoder(encoder, self)

    def _map(self, method: str, items: Sequence[Any], *args: Any) -> Iterator[Any]:
        """``actor.method(item, *args)`` for each item, spread over the actors, in item order."""
        from ray.util import ActorPool

        if not self.actors:
            raise RuntimeError("RayCluster.attach() first")
        pool = ActorPool(self.actors)
        for name, result in pool.map(lambda a, item: getattr(a, method).remote(item, *args), list(items)):
            self.processed[name] += 1
            yield result

    def map_decode(self, jobs: Sequence[dict[str, Any]]) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
        """:meth:`privsynth.bridge.Bridge.decode_batch` for each job, on the actors, in job order."""
        return self._map("decode", jobs)

    def encode(self, encoder: Any, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` batch by batch on the actors; rows in input order."""
        batch = int(getattr(encoder, "batch_size", 64))
        order = _encoder_order(encoder, texts)
        chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
        out: np.ndarray | None = None
        for idx, vecs in zip(chunks, self._map("encode", [[texts[i] for i in idx] for idx in chunks])):
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        assert out is not None
        return out

    def vote_histogram(
        self,
        members: np.ndarray,
        member_class: np.ndarray,
        candidates: np.ndarray,
        cand_class: np.ndarray,
        *,
        among: str,
        user_ids: Sequence[Any] | None = None,
    ) -> np.ndarray:
        """:func:`privsynth.privacy.mechanisms.vote_histogram`, counted per shard on the actors and
        summed here. READS MEMBER VECTORS AND LABELS; sensitivity 1: a record (or, with
        ``user_ids``, all of a person's records) lies in exactly one shard, and each shard counts
        one vote per unit. The caller adds the noise, once, to the sum."""
        total = np.zeros(len(candidates), dtype=np.float64)
        shards = self._member_shards(members, member_class, user_ids)
        for part in self._map("votes", shards, np.asarray(candidates), np.asarray(cand_class), among):
            total += part
        return total

    def _member_shards(self, members: np.ndarray, member_class: np.ndarray, user_ids: Sequence[Any] | None) -> list:
        """The member shards in the object store, put there once per run: every round votes on
        the same members, so later rounds reuse the references (the arrays are held, so the
        identity check cannot be fooled by a reused id)."""
        ray = _ray()
        src = (members, member_class, user_ids)
        if self._shard_src is not None and all(a is b for a, b in zip(self._shard_src, src)):
            return self._shard_refs
        self._shard_refs = [
            ray.put(
                {
                    "vectors": np.asarray(members)[rows],
                    "classes": np.asarray(member_class)[rows],
                    "users": None if user_ids is None else np.asarray(user_ids, dtype=object)[rows],
                }
            )
            for rows in shard_rows(len(members), len(self.actors), user_ids)
        ]
        self._shard_src = src
        return self._shard_refs

    def summary(self) -> dict[str, Any]:
        """What ran where: the address, the actors, and the batches and shards each ran."""
        return {"address": self.address, "workers": self.workers, "processed_by_worker": dict(self.processed)}

    def close(self) -> None:
        """Stop the actors, and the cluster if this run started it."""
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        self._shard_src, self._shard_refs = None, []
        if self._started:
            ray.shutdown()
            self._started = False


@contextlib.contextmanager
def on_cluster(
    address: str | None, encoder: Any, bridge: Any, *, pe: Any = None, log: Callable[[str], None] | None = None
) -> Iterator[Any]:
    """Within the block, ``bridge`` decodes and the yielded encoder embeds on a Ray cluster at
    ``address`` (and ``pe`` counts its votes there); without an address, ``encoder`` as it is.
    The actors are stopped on the way out, whatever happens."""
    if not address:
        yield encoder
        return
    if log:
        log(f"connecting to Ray ({address})...")
    cluster = RayCluster(address)
    try:
        wrapped = cluster.attach(encoder, bridge)
        if pe is not None:
            pe.cluster = cluster
        if log:
            log(f"Ray: {cluster.workers} workers embed and decode")
        yield wrapped
    finally:
        bridge.cluster = None
        if pe is not None:
            pe.cluster = None
        cluster.close()


class ClusterEncoder:
    """An encoder that embeds large lists on the cluster's actors and small ones here."""

    def __init__(self, encoder: Any, cluster: RayCluster) -> None:
        self.inner, self.cluster = encoder, cluster

    def encode(self, texts: Sequence[str], *, show_progress: bool | None = None) -> np.ndarray:
        texts = list(texts)
        if len(texts) <= int(getattr(self.inner, "batch_size", 64)):
            return np.asarray(self.inner.encode(texts), dtype=np.float32)
        return self.cluster.encode(self.inner, texts)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "inner" not in self.__dict__:  # copies, pickling: no delegation yet
            raise AttributeError(name)
        return getattr(self.inner, name)


def _encoder_order(encoder: Any, texts: list[str]) -> np.ndarray:
    """The order sentence-transformers batches ``texts`` in (by length, longest first; or
    interleaved where it flattens inputs), so that each batch sent to an actor is the very batch
    one process would have embedded; input order for other encoders."""
    st = getattr(encoder, "st", None) if hasattr(encoder, "model") else None
    length = getattr(st, "_input_length", None) or getattr(st, "_text_length", None)
    if st is None or length is None:
        return np.arange(len(texts))
    order = np.argsort([-length(t) for t in texts])
    if getattr(st, "_can_flatten_inputs", lambda: False)():
        order = st._interleave_sorted_indices(order)
    return np.asarray(order)


def shard_rows(n: int, shards: int, user_ids: Sequence[Any] | None = None) -> list[np.ndarray]:
    """Row indices of each shard: contiguous runs of records, or with ``user_ids`` whole
    people (a person's rows always in one shard). Empty shards are left out."""
    shards = max(1, shards)
    if user_ids is None:
        return [rows for rows in np.array_split(np.arange(n), shards) if len(rows)]
    _, person = np.unique(np.asarray(user_ids, dtype=object).astype(str), return_inverse=True)
    return [rows for s in range(shards) if len(rows := np.flatnonzero(person % shards == s))]
