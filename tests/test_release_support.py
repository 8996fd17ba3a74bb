"""Shared by the release tests (and the subprocess the kill test starts): a tiny real engine.

Real SMOTExT, a real bridge around a 2-layer random-weight Llama, a word-level tokenizer
trained on PUBLIC text only (the bundled Brown sentences: no member word is in its
vocabulary, so the decoder cannot spell out a planted secret), the conftest's hashing
encoder, and the real auditor with its model-free hashing encoder. No test functions here.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import random
import sys
from pathlib import Path

from conftest import HashingEncoder, make_tiny_lm

ROOT = Path(__file__).resolve().parent.parent

# Loose thresholds: with ~30 holdout records every CI is wide, and a random-weight decoder
# is not what these tests are about. The gate logic is the same as with the defaults.
LENIENT_POLICY = """
[audit.dcr_share]
bound = 1.0
[audit.dcr_share_level]
bound = 1.0
[audit.nndr_share]
bound = 1.0
[audit.mia_auc]
bound = 1.0
[audit.mia_tpr_at_1pct_fpr]
bound = 1.0
[audit.mia_tpr_at_0_1pct_fpr]
# needs >= 1000 holdout records to be measured at all (null fails closed)
enabled = false
[audit.empirical_epsilon]
bound = 100.0
[audit.near_duplicates]
bound = 1.0
[audit.longest_shared_ngram]
bound = 100
[audit.pii_leaks_quasi]
bound = 1.0
[dp_gate]
# the dp gate's noise would block a clean release now and then (about 2.5% of the time): these
# tests are about the release path, so its rules are wide open (test_dp_gate tests it)
members_reproduced_max = 100000
auc_max = 1.0
min_holdout = 0
"""

IMPOSSIBLE_POLICY = LENIENT_POLICY.replace("[audit.mia_auc]\nbound = 1.0", "[audit.mia_auc]\nbound = 0.0")

# Planted values: none of them may appear in a log, a report, the manifest or the data card.
PLANTED = ["Zebulon Quaxworth", "zq.secret@example.org", "555-867-5309", "4111 1111 1111 1111", "MARKER7Q3Z"]


@functools.lru_cache(maxsize=1)
def public_sentences(n: int = 1500) -> list[str]:
    with gzip.open(ROOT / "privsynth" / "data" / "brown_sentences.csv.gz", "rt", encoding="utf-8") as fh:
        return [row["text"] for _, row in zip(range(n), csv.DictReader(fh))]


@functools.lru_cache(maxsize=1)
def public_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()  # joins words with spaces
    tok.train_from_iterator(
        public_sentences(), trainers.WordLevelTrainer(vocab_size=600, special_tokens=["<unk>", "<eos>"])
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>")


def tiny_engine():
    """The release engine with tiny models; the generator and the auditor are the real ones."""
    import torch

    from privsynth.audit import audit_default
    from privsynth.bridge import Bridge, BridgeConfig
    from privsynth.generate import smotext_generator
    from privsynth.release import Engine
    from privsynth.report import write_reports_default

    tok = public_tokenizer()
    torch.manual_seed(0)
    bridge = Bridge(
        BridgeConfig(d_in=384, d_hidden=32, n_tokens=2, lora_r=0, max_target_tokens=16),
        lm=make_tiny_lm(tok),
        tokenizer=tok,
    ).eval()
    models = {
        "encoder": {"name": "test-hashing-384"},
        "lm": {"name": "tiny-llama-random"},
        "bridge": {"name": "tiny-random"},
    }
    gen = smotext_generator(
        encoder=HashingEncoder(),
        bridge=bridge,
        models=models,
        n_candidates=2,
        max_new_tokens=10,
        pe_options={"rounds": 1, "population_per_class": 8, "n_candidates": 1},
    )

    def audit(members, holdout, synthetic, **kw):
        return audit_default(members, holdout, synthetic, encoder="hashing", **kw)

    return Engine(generate=gen, audit=audit, write_reports=write_reports_default)


def write_input(path: Path, n: int = 150, seed: int = 0, plant: bool = True) -> Path:
    """A small two-class CSV; a few records carry the PLANTED values."""
    rng = random.Random(seed)
    words = public_sentences()
    rows = []
    for i in range(n):
        label = "a" if i % 2 else "b"
        text = " ".join(rng.choice(words).split()[:8]) + f" item {i}"
        if plant and i < len(PLANTED) * 2:
            text += f" contact {PLANTED[i % len(PLANTED)]}"
        rows.append((f"id-{i}", text, label))
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["id", "text", "label"])
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    """`python tests/test_release_support.py INPUT OUT [mode]`: one release with the tiny engine."""
    from privsynth.errors import GateBlocked, UserError, environment_error
    from privsynth.release import ReleaseRequest, run_release
    from privsynth.signals import Interrupted, install

    install()  # as the CLI does: SIGTERM and SIGINT clean up on the way out
    inp, out, policy = Path(argv[0]), Path(argv[1]), Path(argv[2])
    try:
        run_release(
            ReleaseRequest(input=inp, out=out, privacy="none", policy=policy, n=30, quiet=False, holdout_fraction=0.5),
            engine=tiny_engine(),
        )
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    except GateBlocked as err:
        print(err, file=sys.stderr)
        return 3
    except Interrupted as err:
        print(f"stopped by {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # as the CLI does: the machine's faults are one line and exit 2
        user = environment_error(err)
        if user is None:
            raise
        print(user, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main(sys.argv[1:]))
