"""Shared fixtures: tiny real models built from configs (random weights, no network) and a
deterministic hashing encoder, so fast tests exercise the real code paths in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

CORPUS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "free prize call now to claim",
    "win cash now text back",
    "see you at lunch tomorrow",
    "are we still on for dinner",
    "urgent your account has a reward",
    "call this number to win a holiday",
    "i will be late tonight sorry",
    "ok see you soon then",
]


class HashingEncoder:
    """Character n-gram hashing embedding (scikit-learn), unit norm, 384-d: deterministic, no fit."""

    def __init__(self, dim: int = 384):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.dim = dim
        self._hv = HashingVectorizer(
            n_features=dim, analyzer="char_wb", ngram_range=(2, 4), alternate_sign=False, norm="l2"
        )

    def encode(self, texts, show_progress=None) -> np.ndarray:
        v = self._hv.transform(list(texts)).toarray().astype(np.float32)
        v[np.linalg.norm(v, axis=1) == 0, 0] = 1.0
        return v


@pytest.fixture(scope="session")
def hashing_encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<eos>"])
    tok.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>")


def make_tiny_lm(tokenizer, seed: int = 0):
    """A 2-layer Llama with random weights, sized for the tiny tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture
def tiny_lm(tiny_tokenizer):
    return make_tiny_lm(tiny_tokenizer)


@pytest.fixture
def tiny_bridge(tiny_tokenizer):
    from privsynth.bridge import Bridge, BridgeConfig

    torch.manual_seed(0)
    cfg = BridgeConfig(d_hidden=32, n_tokens=2, lora_r=4, lora_alpha=8, max_target_tokens=16)
    return Bridge(cfg, lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer).eval()


@pytest.fixture
def corpus_texts():
    return list(CORPUS)
