"""End to end with the real embedded models (MiniLM, SmolLM2 GGUF, the shipped bridge).

Slow: about a minute or two each on 2 cores. Run with `make test-slow`.
"""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from privsynth.cli import cli
from privsynth.smotext import normalize_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # real models on 2 cores


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory):
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "privsynth" / "data" / "sample_sms.csv"
    rows = list(csv.DictReader(open(src, encoding="utf-8")))
    out = tmp_path_factory.mktemp("data") / "sms.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows([[r["text"], r["label"]] for r in rows[:60]])
    return out, rows[:60]


def test_shipped_bridge_decodes_offline_close_to_its_target():
    from privsynth.bridge import Bridge
    from privsynth.encoder import Encoder

    enc, bridge = Encoder(), Bridge.load()
    texts = [
        "The committee approved the new budget for the city schools.",
        "She walked along the river in the cold morning light.",
    ]
    v = enc.encode(texts)
    out, scores = bridge.decode(v, encoder=enc, n_candidates=4, return_scores=True)
    assert all(isinstance(t, str) and t for t in out)
    # an unrelated sentence scores about 0.0-0.15 with MiniLM; decoded text must be on topic
    assert scores.mean() > 0.3


def test_generate_cli_with_real_models_keeps_labels_and_copies_nothing(tmp_path, sample_csv):
    path, rows = sample_csv
    out = tmp_path / "syn.csv"
    res = CliRunner().invoke(
        cli,
        ["generate", str(path), "--out", str(out), "--n-per-class", "3", "--candidates", "2", "--seed", "1", "--quiet"],
    )
    assert res.exit_code == 0, res.output
    got = list(csv.DictReader(open(out, encoding="utf-8")))
    assert [r["label"] for r in got] == ["ham"] * 3 + ["spam"] * 3
    members = {normalize_text(r["text"]) for r in rows}
    assert all(normalize_text(r["text"]) not in members for r in got)


def test_generate_dp_with_real_models_writes_a_recomputable_ledger(tmp_path, sample_csv):
    from privsynth.privacy.ledger import recompute_epsilon

    path, _ = sample_csv
    out = tmp_path / "dp.csv"
    res = CliRunner().invoke(
        cli,
        [
            "generate",
            str(path),
            "--out",
            str(out),
            "--privacy",
            "dp",
            "--epsilon",
            "8",
            "--n-per-class",
            "2",
            "--rounds",
            "1",
            "--candidates",
            "1",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    ledger = json.loads((tmp_path / "dp.ledger.json").read_text())
    assert ledger["epsilon"] <= 8.0
    assert np.isclose(recompute_epsilon(ledger), ledger["epsilon"], rtol=0.01)
    assert len(list(csv.DictReader(open(out, encoding="utf-8")))) == 4
