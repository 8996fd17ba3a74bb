"""The three record sets of one audit, with their embeddings computed once and shared by checks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audits.encoder import Encoder, encode_unique, load_encoder
from audits.errors import AuditInputError
from audits.io import Record, as_records

log = logging.getLogger("audits")

#: below this the holdout cannot serve as a control: AUCs, shares and rates would be noise
MIN_HOLDOUT = 20


@dataclass
class AuditData:
    """members (seen by the generator), holdout (never seen; the control) and synthetic (output)."""

    members: list[Record]
    holdout: list[Record]
    synthetic: list[Record]
    seed: int = 0
    encoder_spec: Any = None
    device: str = "cpu"
    _embeddings: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    encoder_name: str | None = None
    #: results shared between checks (e.g. neighbour distances), keyed by what they are
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        members: Any,
        holdout: Any,
        synthetic: Any,
        *,
        seed: int = 0,
        encoder: Any = None,
        validate: bool = True,
        device: str = "cpu",
    ) -> AuditData:
        """The three sets as records; ``validate`` refuses sets too small to audit."""
        data = cls(
            as_records(members, role="member"),
            as_records(holdout, role="holdout"),
            as_records(synthetic, role="synthetic"),
            seed=seed,
            encoder_spec=encoder,
            device=device,
        )
        if validate:
            data.validate()
        return data

    def validate(self) -> None:
        for name, recs in (("members", self.members), ("holdout", self.holdout), ("synthetic", self.synthetic)):
            if not recs:
                raise AuditInputError(
                    f"{name}: the set is empty; an audit needs members, holdout and synthetic records"
                )
        if len(self.holdout) < MIN_HOLDOUT:
            raise AuditInputError(
                f"holdout: {len(self.holdout)} records; at least {MIN_HOLDOUT} are needed, or the attack "
                "AUCs and distance shares would be meaningless (hold out more records)"
            )

    def embeddings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit-norm vectors of members, holdout and synthetic (encoded once, distinct texts only)."""
        if self._embeddings is None:
            enc: Encoder = load_encoder(self.encoder_spec, device=self.device)
            self.encoder_name = enc.name
            texts = [r.text for r in (*self.members, *self.holdout, *self.synthetic)]
            log.info("encoding %d records with %s", len(texts), enc.name)
            vecs = encode_unique(enc, texts)
            a, b = len(self.members), len(self.members) + len(self.holdout)
            self._embeddings = (vecs[:a], vecs[a:b], vecs[b:])
        return self._embeddings
