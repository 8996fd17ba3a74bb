"""privsynth's decoding loop against transformers' own ``generate`` and logits warpers."""

import pytest
import torch

from privsynth.sampling import nucleus, sample_tokens


def _warped_probs(logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    warp = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k), TopPLogitsWarper(top_p)])
    return warp(torch.zeros(len(logits), 1, dtype=torch.long), logits.clone()).softmax(dim=-1)


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.7, 50, 0.9), (1.0, 50, 0.95), (0.5, 5, 0.5), (2.0, 200, 1.0)])
def test_nucleus_keeps_what_transformers_warpers_keep_with_the_same_probabilities(temperature, top_k, top_p):
    logits = torch.randn(6, 300, generator=torch.Generator().manual_seed(0)) * 3
    probs, index = nucleus(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    mine = torch.zeros_like(logits).scatter(1, index, probs / probs.sum(dim=1, keepdim=True))
    assert torch.allclose(mine, _warped_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p), atol=1e-6)


def test_greedy_rows_match_transformers_generate_when_rows_end_at_different_steps(tiny_tokenizer, tiny_lm):
    ids = tiny_tokenizer(
        ["the cat sat", "win cash now", "see you at", "free prize call"], return_tensors="pt"
    ).input_ids
    plain = tiny_lm.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=10,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )[:, ids.shape[1] :]
    end = int(plain[0, 2])  # a token row 0 writes third: it ends there, and others at their own step
    want = tiny_lm.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=10,
        pad_token_id=tiny_tokenizer.pad_token_id,
        eos_token_id=end,
    )[:, ids.shape[1] :]
    got = sample_tokens(
        tiny_lm,
        {"input_ids": ids},
        copies=1,
        max_new_tokens=10,
        end_id=end,
        pad_id=tiny_tokenizer.pad_token_id,
        temperature=0.7,
        top_p=0.9,
        greedy_first=True,
    )
    assert (want == end).any(dim=1).tolist().count(True) >= 1 and not (want == end).all()
    assert torch.equal(got[:, : want.shape[1]], want)
    assert (got[:, want.shape[1] :] == tiny_tokenizer.pad_token_id).all()


def test_copies_share_their_prompt_and_sampling_is_seeded(tiny_tokenizer, tiny_lm):
    ids = tiny_tokenizer(["the cat sat", "win cash now"], return_tensors="pt").input_ids
    kw = dict(
        copies=5,
        max_new_tokens=8,
        end_id=tiny_tokenizer.eos_token_id,
        pad_id=tiny_tokenizer.pad_token_id,
        temperature=1.0,
        top_p=0.95,
        greedy_first=True,
    )
    a = sample_tokens(tiny_lm, {"input_ids": ids}, seed=3, **kw)
    assert a.shape == (10, 8)
    assert torch.equal(a, sample_tokens(tiny_lm, {"input_ids": ids}, seed=3, **kw))
    assert not torch.equal(a, sample_tokens(tiny_lm, {"input_ids": ids}, seed=4, **kw))
    one = sample_tokens(tiny_lm, {"input_ids": ids}, seed=9, **{**kw, "copies": 1})
    assert torch.equal(a[::5], one)  # copy 0 of each prompt is its greedy text


def test_zero_new_tokens_gives_empty_rows(tiny_tokenizer, tiny_lm):
    ids = tiny_tokenizer(["the cat sat"], return_tensors="pt").input_ids
    out = sample_tokens(
        tiny_lm, {"input_ids": ids}, copies=3, max_new_tokens=0, end_id=1, pad_id=1, temperature=1.0, top_p=1.0
    )
    assert out.shape == (3, 0)


def test_bridge_decodes_the_same_with_its_adapters_folded_in(tiny_bridge, hashing_encoder, corpus_texts):
    with torch.no_grad():  # make the adapters matter
        for name, p in tiny_bridge.lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    v = torch.from_numpy(hashing_encoder.encode(corpus_texts[:4]))
    embeds = tiny_bridge.prompt_embeds(v)
    want = tiny_bridge.lm.generate(
        inputs_embeds=embeds,
        attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
        do_sample=False,
        max_new_tokens=6,
        pad_token_id=tiny_bridge.tokenizer.pad_token_id,
        eos_token_id=tiny_bridge.end_id,
    )
    loss_before = tiny_bridge.loss(v, corpus_texts[:4]).item()
    got = [c[0] for c in tiny_bridge.generate(v.numpy(), max_new_tokens=6)]
    assert tiny_bridge._merged_at is not None  # decoding folded them in
    assert got == [t.strip() for t in tiny_bridge.tokenizer.batch_decode(want, skip_special_tokens=True)]
    assert tiny_bridge.loss(v, corpus_texts[:4]).item() == pytest.approx(loss_before, abs=1e-5)
    assert tiny_bridge._merged_at is None  # training reads the adapters themselves


def test_changing_folded_adapters_in_place_is_refused(tiny_bridge, hashing_encoder, corpus_texts):
    v = hashing_encoder.encode(corpus_texts[:2])
    tiny_bridge.generate(v, max_new_tokens=4)
    with torch.no_grad():
        next(p for n, p in tiny_bridge.lm.named_parameters() if "lora_B" in n).add_(1.0)
    with pytest.raises(RuntimeError, match="unmerge_lora"):
        tiny_bridge.generate(v, max_new_tokens=4)
