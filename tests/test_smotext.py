import numpy as np
import pytest

from privsynth.errors import UserError
from privsynth.smotext import SMOTExT, class_sizes, copy_key, interpolate, normalize_text


def unit(rng, n, d=16):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_interpolated_vectors_are_unit_and_keep_labels():
    rng = np.random.default_rng(0)
    X, y = unit(rng, 20), np.array(["a"] * 10 + ["b"] * 10, dtype=object)
    V, Y, pairs = interpolate(X, y, {"a": 7, "b": 5}, rng=np.random.default_rng(1), return_pairs=True)
    assert V.shape == (12, 16)
    assert np.allclose(np.linalg.norm(V, axis=1), 1, atol=1e-5)
    assert list(Y) == ["a"] * 7 + ["b"] * 5
    for (i, j, lam), label in zip(pairs, Y):
        assert y[i] == y[j] == label and i != j
        assert 0.25 <= lam <= 0.75


def test_partner_is_among_the_k_nearest_same_class():
    rng = np.random.default_rng(0)
    X, y = unit(rng, 30), np.array(["a"] * 30, dtype=object)
    _, _, pairs = interpolate(X, y, {"a": 50}, k_neighbors=2, rng=np.random.default_rng(0), return_pairs=True)
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    for i, j, _ in pairs:
        assert j in np.argsort(-sims[i])[:2]


@pytest.mark.parametrize("bad", [(0.0, 0.5), (0.2, 1.0), (0.8, 0.2), (0.1,)])
def test_lam_range_outside_open_interval_is_refused(bad):
    with pytest.raises(ValueError, match="lam_range must"):
        interpolate(
            np.eye(3, dtype=np.float32), np.array(["a"] * 3), {"a": 1}, lam_range=bad, rng=np.random.default_rng(0)
        )


def test_class_sizes_follow_input_scale_or_balance():
    counts = {"ham": 87, "spam": 13}
    assert class_sizes(counts) == counts
    assert class_sizes(counts, n=10) == {"ham": 9, "spam": 1}
    assert sum(class_sizes({"a": 1, "b": 1, "c": 1}, n=10).values()) == 10
    assert class_sizes(counts, n_per_class=5) == {"ham": 5, "spam": 5}
    with pytest.raises(UserError, match="not both"):
        class_sizes(counts, n=5, n_per_class=5)


def test_class_sizes_for_some_classes_only():
    assert class_sizes({"ham": 9, "spam": 2}, n_per_class={"spam": 5}) == {"spam": 5}
    with pytest.raises(UserError, match="class 'spma', which the data does not have"):
        class_sizes({"ham": 9, "spam": 2}, n_per_class={"spma": 5})
    with pytest.raises(UserError, match="sizes >= 1"):
        class_sizes({"ham": 9, "spam": 2}, n_per_class={"spam": 0})


def test_normalize_text_ignores_case_whitespace_and_edge_punctuation():
    assert normalize_text("  Hello   World! ") == normalize_text("hello world")


def test_copy_check_rejects_every_copy_the_auditor_counts(hashing_encoder):
    from audits.checks.duplicates import exact_duplicates

    members = ["Where @", "ok lor...", "Call 0800-123 now!", "Ｆｒｅｅ entry"]
    gen = SMOTExT(encoder=hashing_encoder).fit(members, ["a", "a", "b", "b"])
    copies = ["Where?", "OK, lor", "call 0800 123 now", "free ENTRY!!"]
    assert exact_duplicates(members, ["unrelated"], copies).value == 4
    assert all(gen._is_copy(t, (2, 3, 0.5) if k < 2 else (0, 1, 0.5)) for k, t in enumerate(copies))
    assert not gen._is_copy("where are you", (2, 3, 0.5))


def test_generate_with_a_tiny_bridge_keeps_labels_and_never_copies(tiny_bridge, hashing_encoder, corpus_texts):
    labels = ["x"] * 5 + ["y"] * 5
    gen = SMOTExT(n_candidates=3, max_new_tokens=8, encoder=hashing_encoder, bridge=tiny_bridge, random_state=3)
    texts, out_labels = gen.fit(corpus_texts, labels).generate(n_per_class=3)
    assert out_labels == ["x"] * 3 + ["y"] * 3
    assert len(texts) == 6
    members = {copy_key(t) for t in corpus_texts}
    assert all(normalize_text(t) and copy_key(t) not in members for t in texts)


def test_generate_is_deterministic_under_a_seed(tiny_bridge, hashing_encoder, corpus_texts):
    labels = ["x"] * 10

    def run(seed):
        gen = SMOTExT(n_candidates=2, max_new_tokens=6, encoder=hashing_encoder, bridge=tiny_bridge, random_state=seed)
        return gen.fit(corpus_texts, labels).generate(n=4)[0]

    assert run(5) == run(5)


def test_fit_refuses_a_singleton_class(hashing_encoder, corpus_texts):
    with pytest.raises(UserError, match="class 'lonely' has 1"):
        SMOTExT(encoder=hashing_encoder).fit(corpus_texts[:3], ["a", "a", "lonely"])


def test_bad_k_neighbors_names_the_parameter(hashing_encoder):
    with pytest.raises(ValueError, match="k_neighbors must be an int >= 1; got 0"):
        SMOTExT(k_neighbors=0, encoder=hashing_encoder).fit(["a", "b"], ["x", "x"])


def _reply(texts, encoder, kw):
    """What ``Bridge.decode`` returns for these texts under these keyword options."""
    out = (texts,) + ((np.ones(len(texts), dtype=np.float32),) if kw.get("return_scores") else ())
    if kw.get("return_accepted"):
        out += (np.asarray(kw["accept"](encoder.encode(texts), np.arange(len(texts))), dtype=bool),)
    return out if len(out) > 1 else texts


class CopyingBridge:
    """The tiny bridge, except that its first `copies` decode calls return each target's nearest member
    text verbatim: a decoder that reproduces members, to exercise the copy rejection."""

    def __init__(self, bridge, members, encoder, copies):
        self.inner, self.members, self.encoder, self.copies = bridge, list(members), encoder, copies
        self.tokenizer = bridge.tokenizer
        self.calls = 0

    def decode(self, V, **kw):
        self.calls += 1
        if self.calls > self.copies:
            return self.inner.decode(V, **kw)
        near = np.argmax(np.asarray(V) @ self.encoder.encode(self.members).T, axis=1)
        return _reply([self.members[i] for i in near], self.encoder, kw)


@pytest.mark.parametrize("copies, retargeted", [(2, False), (5, True)])
def test_records_that_keep_copying_get_new_targets(tiny_bridge, hashing_encoder, corpus_texts, copies, retargeted):
    labels = ["x"] * 5 + ["y"] * 5
    bridge = CopyingBridge(tiny_bridge, corpus_texts, hashing_encoder, copies)
    gen = SMOTExT(n_candidates=2, max_new_tokens=8, encoder=hashing_encoder, bridge=bridge, random_state=3)
    seen = []
    texts, out_labels = gen.fit(corpus_texts, labels).generate(
        n_per_class=3, transform=lambda V: seen.append(len(V)) or V
    )
    members = {copy_key(t) for t in corpus_texts}
    assert out_labels == ["x"] * 3 + ["y"] * 3
    assert all(normalize_text(t) and copy_key(t) not in members for t in texts)
    assert gen.rejected_ >= 6 * min(copies, 4)
    assert (gen.retargeted_ > 0) == retargeted
    # new targets pass through the same transform as the first ones (mode noise)
    assert seen[0] == 6 and (len(seen) > 1) == retargeted


def test_a_record_that_never_stops_copying_is_an_error_not_a_release(tiny_bridge, hashing_encoder, corpus_texts):
    labels = ["x"] * 5 + ["y"] * 5
    bridge = CopyingBridge(tiny_bridge, corpus_texts, hashing_encoder, copies=10**6)
    gen = SMOTExT(n_candidates=2, max_new_tokens=8, encoder=hashing_encoder, bridge=bridge, random_state=3)
    with pytest.raises(UserError, match=r"6 synthetic record\(s\) of class\(es\) \['x', 'y'\] still copied"):
        gen.fit(corpus_texts, labels).generate(n_per_class=3)


CATS = [
    "my cat naps on the sofa",
    "the kitten chased a ball of yarn",
    "our cat purrs when fed",
    "a cat slept in the warm sun",
    "the kitten climbed the curtains",
]
MONEY = [
    "stock prices fell sharply today",
    "the bank raised interest rates",
    "bond yields climbed this week",
    "the market rallied on earnings",
    "shares of the firm dropped",
]
STYLE = {"cat": "the cat and the kitten purr softly, take {}", "money": "stock market bank shares fell, take {}"}


class DriftingBridge:
    """Decodes each target to a new text of its nearest member's class, except that its first
    `drift` calls write the other class: a decoder that drifts across the class boundary."""

    def __init__(self, members, labels, encoder, drift):
        self.M, self.labels, self.drift, self.calls, self.n = encoder.encode(members), labels, drift, 0, 0
        self.encoder, self.accepts = encoder, []

    def decode(self, V, *, accept=None, **kw):
        self.calls += 1
        self.accepts.append(accept is not None)
        out = []
        for v in np.asarray(V):
            own = self.labels[int(np.argmax(self.M @ v))]
            cls = own if self.calls > self.drift else ({"cat", "money"} - {own}).pop()
            self.n += 1
            out.append(STYLE[cls].format(self.n))
        return _reply(out, self.encoder, {**kw, "accept": accept})


@pytest.mark.parametrize("drift, rounds, fixed", [(1, 2, True), (2, 2, True), (10, 2, False), (1, 0, False)])
def test_class_check_decodes_again_what_drifted_into_another_class(hashing_encoder, drift, rounds, fixed):
    texts, labels = CATS + MONEY, ["cat"] * 5 + ["money"] * 5
    bridge = DriftingBridge(texts, labels, hashing_encoder, drift)
    gen = SMOTExT(
        n_candidates=1,
        max_new_tokens=8,
        encoder=hashing_encoder,
        bridge=bridge,
        class_check_rounds=rounds,
        random_state=0,
    )
    seen = []
    out, out_labels = gen.fit(texts, labels).generate(n_per_class=3, transform=lambda V: seen.append(len(V)) or V)
    wrote = ["cat" if "kitten" in t else "money" for t in out]
    assert out_labels == ["cat"] * 3 + ["money"] * 3
    assert (wrote == out_labels) == fixed
    if rounds:
        assert gen.class_mismatch_initial_ == 6 and gen.class_mismatch_ == (0 if fixed else 6)
        assert all(bridge.accepts)
        # round 1 decodes the same targets again; only round 2 draws new ones (through the transform)
        assert seen[0] == 6 and sum(seen[1:]) == (6 if drift >= 2 else 0)
    else:
        assert gen.class_model_ is None and bridge.calls == 1 and not any(bridge.accepts)


def test_class_check_is_off_for_a_single_class_and_validated(hashing_encoder):
    bridge = DriftingBridge(CATS, ["cat"] * 5, hashing_encoder, drift=0)
    gen = SMOTExT(n_candidates=1, max_new_tokens=8, encoder=hashing_encoder, bridge=bridge).fit(CATS, ["cat"] * 5)
    assert gen.class_model_ is None and len(gen.generate(n=3)[0]) == 3
    with pytest.raises(ValueError, match="class_check_rounds must be an int >= 0; got -1"):
        SMOTExT(class_check_rounds=-1, encoder=hashing_encoder).fit(CATS, ["cat"] * 5)


class ScaffoldingBridge:
    """Writes LM scaffolding on its first `dirty` calls (a lead-in before the text, a template slot in
    it), clean text after: a decoder that talks like a chat model, to exercise the tidy step."""

    def __init__(self, encoder, dirty):
        self.encoder, self.dirty, self.calls, self.n = encoder, dirty, 0, 0

    def decode(self, V, **kw):
        self.calls += 1
        out = []
        for _ in np.asarray(V):
            self.n += 1
            if self.calls > self.dirty:
                out.append(f"see you at the pub at eight, table {self.n}")
            elif self.calls == 1 and self.n % 2:
                out.append(f"Here's a short text message to a friend: see you at the pub, table {self.n}")
            else:
                out.append(f"Hi [friend's name], see you at the pub at eight, table {self.n}")
        return _reply(out, self.encoder, kw)


@pytest.mark.parametrize("dirty, left", [(1, 0), (10, 3)])
def test_lead_ins_are_cut_and_template_slots_decoded_again(hashing_encoder, corpus_texts, dirty, left):
    from privsynth import scaffolding

    gen = SMOTExT(
        n_candidates=1,
        max_new_tokens=8,
        encoder=hashing_encoder,
        bridge=ScaffoldingBridge(hashing_encoder, dirty),
        class_check_rounds=0,
        random_state=0,
    )
    out, _ = gen.fit(corpus_texts, ["x"] * 5 + ["y"] * 5).generate(n_per_class=3)
    assert not any(t.lower().startswith("here's") for t in out)  # lead-ins cut in every case
    assert gen.scaffolding_first_pass_ == 3 and gen.scaffolding_left_ == left
    assert sum(bool(scaffolding.find(t)) for t in out) == left
