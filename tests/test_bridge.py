import numpy as np
import pytest
import torch

from privsynth.bridge import Bridge, BridgeConfig, cosine_schedule, token_budget
from privsynth.errors import UserError
from tests.conftest import make_tiny_lm


def test_loss_decreases_when_training_the_projector_and_lora(tiny_bridge, hashing_encoder, corpus_texts):
    tiny_bridge.train()
    vecs = torch.from_numpy(hashing_encoder.encode(corpus_texts))
    params = [p for p in tiny_bridge.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2)
    first = tiny_bridge.loss(vecs, corpus_texts).item()
    for _ in range(30):
        opt.zero_grad()
        loss = tiny_bridge.loss(vecs, corpus_texts)
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.2  # measured: 4.87 -> 4.58 after 25 steps


def test_only_projector_and_lora_are_trainable(tiny_bridge):
    names = [n for n, p in tiny_bridge.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("projector.") or "lora_" in n for n in names)


def test_save_and_load_round_trip_gives_the_same_text(
    tmp_path, tiny_bridge, tiny_tokenizer, hashing_encoder, corpus_texts
):
    path = tmp_path / "b.safetensors"
    tiny_bridge.save(path, dtype=torch.float32)
    lm = make_tiny_lm(tiny_tokenizer)  # same seed: same frozen base weights
    loaded = Bridge.load(path, lm=lm, tokenizer=tiny_tokenizer)
    assert loaded.config.n_tokens == tiny_bridge.config.n_tokens
    v = hashing_encoder.encode(corpus_texts[:3])
    assert loaded.generate(v, max_new_tokens=6) == tiny_bridge.generate(v, max_new_tokens=6)


def test_decode_keeps_the_candidate_closest_to_the_target(tiny_bridge, hashing_encoder, corpus_texts):
    v = hashing_encoder.encode(corpus_texts[:4])
    cands = tiny_bridge.generate(v, max_new_tokens=6, n_candidates=4, seed=0)  # decode seeds batch 0 with 0
    texts, scores = tiny_bridge.decode(
        v, encoder=hashing_encoder, n_candidates=4, max_new_tokens=6, batch_size=4, seed=0, return_scores=True
    )
    for i in range(4):
        sims = hashing_encoder.encode(cands[i]) @ v[i]
        assert texts[i] in cands[i]
        assert np.isclose(scores[i], sims.max(), atol=1e-5)


def test_decode_prefers_an_accepted_candidate_over_a_closer_one(tiny_bridge, hashing_encoder, corpus_texts):
    v = hashing_encoder.encode(corpus_texts[:4])
    cands = tiny_bridge.generate(v, max_new_tokens=6, n_candidates=4, seed=0)
    sims = [hashing_encoder.encode(c) @ v[i] for i, c in enumerate(cands)]
    best = np.array([s.max() for s in sims])
    calls = []

    def not_the_closest(E, rows):
        calls.append(len(rows))
        return np.einsum("md,md->m", E, v[rows]) < best[rows] - 1e-5

    texts, scores, accepted = tiny_bridge.decode(
        v,
        encoder=hashing_encoder,
        n_candidates=4,
        max_new_tokens=6,
        batch_size=4,
        seed=0,
        return_scores=True,
        accept=not_the_closest,
        return_accepted=True,
    )
    assert calls == [16]  # every candidate of the batch, once
    for i in range(4):
        ok = sims[i] < best[i] - 1e-5
        assert accepted[i] == ok.any()  # the verdict on the chosen text, without encoding it again
        want = sims[i][ok].max() if ok.any() else best[i]  # nothing accepted: the closest, as without accept
        assert np.isclose(scores[i], want, atol=1e-5)
        assert np.isclose(hashing_encoder.encode([texts[i]])[0] @ v[i], scores[i], atol=1e-5)
    assert any((s < b - 1e-5).any() for s, b in zip(sims, best))  # the test picked a farther candidate somewhere


def test_return_accepted_needs_an_accept_function(tiny_bridge, hashing_encoder, corpus_texts):
    with pytest.raises(ValueError, match="return_accepted needs accept"):
        tiny_bridge.decode(hashing_encoder.encode(corpus_texts[:2]), encoder=hashing_encoder, return_accepted=True)


def test_refining_never_loses_to_the_first_round_and_reports_true_scores(tiny_bridge, hashing_encoder, corpus_texts):
    v = hashing_encoder.encode(corpus_texts[:4])
    kw = dict(encoder=hashing_encoder, n_candidates=2, max_new_tokens=6, batch_size=4, seed=0, return_scores=True)
    t0, s0 = tiny_bridge.decode(v, **kw)
    t2, s2 = tiny_bridge.decode(v, refine_rounds=2, **kw)
    assert np.all(s2 >= s0 - 1e-6)  # the first round's candidates still compete
    assert np.allclose(s2, np.einsum("bd,bd->b", hashing_encoder.encode(t2), v), atol=1e-5)
    assert (t2, list(s2)) == (lambda r: (r[0], list(r[1])))(tiny_bridge.decode(v, refine_rounds=2, **kw))
    with pytest.raises(ValueError, match="refine_rounds"):
        tiny_bridge.decode(v, refine_rounds=-1, **kw)


def test_first_candidate_is_greedy_and_sampling_is_seeded(tiny_bridge, hashing_encoder, corpus_texts):
    v = hashing_encoder.encode(corpus_texts[:2])
    a = tiny_bridge.generate(v, max_new_tokens=6, n_candidates=3, seed=7)
    b = tiny_bridge.generate(v, max_new_tokens=6, n_candidates=3, seed=7)
    assert a == b
    assert [c[0] for c in a] == [c[0] for c in tiny_bridge.generate(v, max_new_tokens=6)]


def test_min_new_tokens_holds_back_the_end_token(tiny_bridge, hashing_encoder, corpus_texts):
    """An LM that always wants to stop writes nothing, unless a floor holds the end token back;
    each vector's own floor is honoured inside a batch, for every candidate."""
    import torch

    end = torch.zeros(len(tiny_bridge.tokenizer))
    end[tiny_bridge.end_id] = 1e4
    hook = tiny_bridge.lm.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + end)
    try:
        V = hashing_encoder.encode(corpus_texts[:4])
        assert all(t == "" for cs in tiny_bridge.generate(V, n_candidates=3, max_new_tokens=8) for t in cs)
        ids = tiny_bridge.generate(V, n_candidates=3, max_new_tokens=8, min_new_tokens=5)
        assert all(len(tiny_bridge.tokenizer(t).input_ids) >= 3 for cs in ids for t in cs)
        texts = tiny_bridge.decode(
            V, encoder=hashing_encoder, n_candidates=2, max_new_tokens=8, min_new_tokens=[4, 0, 4, 0], batch_size=4
        )
        assert texts[1] == texts[3] == "" and texts[0] and texts[2]
        mixed = tiny_bridge.generate(V, n_candidates=3, max_new_tokens=8, min_new_tokens=np.array([0, 5, 0, 5]))
        assert [all(cs) for cs in mixed] == [False, True, False, True]
    finally:
        hook.remove()


def test_token_budget_grows_with_length_and_is_clipped(tiny_tokenizer):
    b = token_budget(tiny_tokenizer, ["a cat", "the cat sat on the mat " * 40], lo=4, hi=50)
    assert b[0] < b[1] == 50


def test_schedule_warms_up_then_decays():
    assert cosine_schedule(0, 100, 10) < cosine_schedule(9, 100, 10) == 1.0
    assert abs(cosine_schedule(100, 100, 10) - 0.1) < 1e-9


def test_config_round_trips_through_json():
    c = BridgeConfig(n_tokens=3, provenance={"corpus": "x"})
    assert BridgeConfig.from_json(c.to_json()) == c


def test_pair_batches_join_two_short_texts_and_are_seeded():
    from privsynth.train_bridge import make_batch

    texts = ["one two", "three four five", "a much longer sentence that is not short at all", "six"]
    short = np.array([0, 1, 3])
    idx = np.array([2, 2, 2, 2, 2, 2])
    assert make_batch(texts, idx, short, 0.0, np.random.default_rng(0)) == [texts[2]] * 6
    joined = make_batch(texts, idx, short, 1.0, np.random.default_rng(0))
    for t in joined:
        a, b = [x for x in (texts[i] for i in short) if t.startswith(x + " ")], t
        assert a and b[len(a[0]) + 1 :] in [texts[i] for i in short] and b[len(a[0]) + 1 :] != a[0]
    assert joined == make_batch(texts, idx, short, 1.0, np.random.default_rng(0))


def test_training_checkpoints_resumes_and_can_start_from_other_weights(
    tmp_path, tiny_tokenizer, hashing_encoder, corpus_texts
):
    import json

    from privsynth.train_bridge import TrainConfig, train

    cfg = BridgeConfig(d_hidden=32, n_tokens=2, lora_r=4, lora_alpha=8, max_target_tokens=16)
    kw = dict(bridge_config=cfg, encoder=hashing_encoder, tokenizer=tiny_tokenizer, log=lambda m: None)
    train(
        corpus_texts,
        tmp_path / "a",
        lm=make_tiny_lm(tiny_tokenizer),
        train_config=TrainConfig(steps=2, batch_size=4, warmup=1, log_every=1, ckpt_every=1, pair_rate=0.5),
        **kw,
    )
    assert torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["step"] == 2
    # a longer run in the same folder resumes at step 2 instead of starting again
    train(
        corpus_texts,
        tmp_path / "a",
        lm=make_tiny_lm(tiny_tokenizer),
        train_config=TrainConfig(steps=4, batch_size=4, warmup=1, log_every=1, ckpt_every=1),
        **kw,
    )
    steps = [json.loads(line)["step"] for line in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    # init_from starts a new run (fresh optimiser, step 0) from those weights
    logs = []
    b = train(
        corpus_texts,
        tmp_path / "b",
        lm=make_tiny_lm(tiny_tokenizer),
        train_config=TrainConfig(steps=1, batch_size=4, warmup=1, init_from=str(tmp_path / "a" / "checkpoint.pt")),
        **{**kw, "log": logs.append},
    )
    assert any("initialised from" in m for m in logs)
    assert (
        Bridge.load(
            tmp_path / "b" / "bridge.safetensors", lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer
        ).config
        == b.config
    )


def test_clean_sample_keeps_the_message_and_drops_the_wrapping():
    from privsynth.bridge import clean_sample

    assert (
        clean_sample('Here\'s a possible SMS message:\n\n"WIN a free cruise! Text YES"')
        == "WIN a free cruise! Text YES"
    )
    assert clean_sample("SMS: Call me later") == "Call me later"
    assert clean_sample("Hey Sam,\nsee you at 5") == "Hey Sam, see you at 5"
    assert clean_sample(" ".join(["w"] * 60)).count("w") == 40
    assert clean_sample("Sure! Here it is:\n") == ""


def test_sample_prompted_is_seeded_and_reads_the_plain_lm_without_lora(tiny_bridge, tiny_tokenizer):
    with torch.no_grad():  # make the adapters matter: trained LoRA would change what the LM writes
        for name, p in tiny_bridge.lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 1.0)
    a = tiny_bridge.sample_prompted("write a message", 5, max_new_tokens=8, seed=3)
    assert a == tiny_bridge.sample_prompted("write a message", 5, max_new_tokens=8, seed=3)
    assert a != tiny_bridge.sample_prompted("write a message", 5, max_new_tokens=8, seed=4)
    assert len(a) == 5 and all(t.strip() for t in a)
    plain = Bridge(
        BridgeConfig(d_hidden=32, n_tokens=2, lora_r=0, max_target_tokens=16),
        lm=make_tiny_lm(tiny_tokenizer),
        tokenizer=tiny_tokenizer,
    ).eval()
    assert plain.sample_prompted("write a message", 5, max_new_tokens=8, seed=3) == a


def test_training_from_precomputed_vectors_with_a_time_budget(tmp_path, tiny_tokenizer, hashing_encoder, corpus_texts):
    """The GPU path: vectors computed beforehand (no encoder), a pair pool, steps set by a time budget,
    and a start from a bridge file of the same configuration."""
    import json

    from privsynth.train_bridge import TrainConfig, pooled_batch, train

    cfg = BridgeConfig(d_hidden=32, n_tokens=2, lora_r=4, lora_alpha=8, max_target_tokens=16)
    vecs = hashing_encoder.encode(corpus_texts)
    pool = (["joined a b", "joined c d"], hashing_encoder.encode(["joined a b", "joined c d"]))
    batch, bv = pooled_batch(corpus_texts, vecs, np.arange(6), pool, 1.0, np.random.default_rng(0))
    assert set(batch) <= set(pool[0]) and np.allclose(bv.numpy(), pool[1][[pool[0].index(t) for t in batch]])
    with pytest.raises(UserError, match="3 rows for 10 texts"):
        train(
            corpus_texts,
            tmp_path / "x",
            bridge_config=cfg,
            lm=make_tiny_lm(tiny_tokenizer),
            tokenizer=tiny_tokenizer,
            vectors=vecs[:3],
            log=lambda m: None,
        )
    first = train(
        corpus_texts,
        tmp_path / "a",
        bridge_config=cfg,
        lm=make_tiny_lm(tiny_tokenizer),
        tokenizer=tiny_tokenizer,
        vectors=vecs,
        pair_pool=pool,
        log=lambda m: None,
        train_config=TrainConfig(steps=2, batch_size=4, warmup=1, pair_rate=0.5),
    )
    logs = []
    train(
        corpus_texts,
        tmp_path / "b",
        bridge_config=cfg,
        lm=make_tiny_lm(tiny_tokenizer),
        tokenizer=tiny_tokenizer,
        vectors=vecs,
        pair_pool=pool,
        log=logs.append,
        heldout=(corpus_texts[:3], vecs[:3]),
        train_config=TrainConfig(
            steps=10_000,
            batch_size=4,
            warmup=1,
            log_every=1,
            max_seconds=1.0,
            eval_every=2,
            calibrate_steps=2,
            init_from=str(tmp_path / "a" / "bridge.safetensors"),
        ),
    )
    assert any("initialised from" in m for m in logs) and any("steps fit in 1 s" in m for m in logs)
    recs = [json.loads(line) for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert 2 <= recs[-1]["step"] == recs[-1]["total_steps"] < 10_000
    assert recs[-1]["elapsed_s"] < 10
    held = [r["heldout_loss"] for r in recs if "heldout_loss" in r]
    total = recs[-1]["total_steps"]  # how many fit in 1 s depends on the machine's load
    assert len(held) == total // 2 + total % 2 and all(
        np.isfinite(held)
    )  # every 2nd step and the last and (tmp_path / "b" / "bridge_best.safetensors").exists()
    # the start really came from run a: at step 0 run b's weights were a's
    other = BridgeConfig(d_hidden=32, n_tokens=3, lora_r=4, lora_alpha=8, max_target_tokens=16)
    with pytest.raises(UserError, match="configuration differs"):
        Bridge(other, lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer).load_trainable(
            tmp_path / "a" / "bridge.safetensors"
        )
    fresh = Bridge(cfg, lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer)
    fresh.load_trainable(tmp_path / "a" / "bridge.safetensors")
    for k, v in first.trainable_state_dict().items():
        assert torch.allclose(fresh.trainable_state_dict()[k], v.half().float())


def test_the_end_token_is_pinned_by_its_string(tmp_path, tiny_tokenizer, hashing_encoder, corpus_texts):
    """The end of a decoded text is named in the config, so another transformers version that maps the
    GGUF's eos to another id cannot change where a trained bridge stops."""
    cfg = BridgeConfig(d_hidden=32, n_tokens=2, lora_r=4, lora_alpha=8, max_target_tokens=16)
    b = Bridge(cfg, lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer)
    assert b.config.end_token == "<eos>" and b.end_id == tiny_tokenizer.eos_token_id
    b.save(tmp_path / "b.safetensors")
    assert (
        Bridge.load(
            tmp_path / "b.safetensors", lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer
        ).config.end_token
        == "<eos>"
    )
    other = Bridge(
        BridgeConfig(**{**cfg.__dict__, "end_token": "cat"}), lm=make_tiny_lm(tiny_tokenizer), tokenizer=tiny_tokenizer
    )
    assert other.end_id == tiny_tokenizer.convert_tokens_to_ids("cat") != b.end_id
    other.projector.load_state_dict(b.projector.state_dict())
    v = torch.from_numpy(hashing_encoder.encode(corpus_texts[:2]))
    with torch.no_grad():  # same weights, other end token: another target, another loss
        assert not torch.allclose(
            b.loss(v, corpus_texts[:2], per_sample=True), other.loss(v, corpus_texts[:2], per_sample=True)
        )
    with pytest.raises(UserError, match="not in the LM's vocabulary"):
        Bridge(
            BridgeConfig(**{**cfg.__dict__, "end_token": "<nope>"}),
            lm=make_tiny_lm(tiny_tokenizer),
            tokenizer=tiny_tokenizer,
        )
    with pytest.raises(UserError, match="configuration differs"):
        other.load_trainable(tmp_path / "b.safetensors")


def test_held_out_loss_runs_on_its_own_schedule_not_only_on_log_steps(
    tmp_path, tiny_tokenizer, hashing_encoder, corpus_texts
):
    import json

    from privsynth.train_bridge import TrainConfig, train

    cfg = BridgeConfig(d_hidden=32, n_tokens=2, lora_r=4, lora_alpha=8, max_target_tokens=16)
    vecs = hashing_encoder.encode(corpus_texts)
    train(
        corpus_texts,
        tmp_path,
        bridge_config=cfg,
        lm=make_tiny_lm(tiny_tokenizer),
        tokenizer=tiny_tokenizer,
        vectors=vecs,
        heldout=(corpus_texts[:3], vecs[:3]),
        log=lambda m: None,
        train_config=TrainConfig(steps=4, batch_size=4, warmup=1, log_every=10, eval_every=2),
    )
    recs = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "heldout_loss" in r] == [2, 4]
