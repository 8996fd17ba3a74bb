"""SMOTExT: SMOTE in sentence-embedding space, decoded back to text through the bridge.

For each synthetic record: pick a member x_i of a class, one of its k nearest same-class
neighbours x_j, and lambda ~ U[l_min, l_max]; the target is normalize((1-l) x_i + l x_j).
imbalanced-learn draws lambda from U[0, 1); values near 0 or 1 reproduce a real record, so the
default range (0.25, 0.75) keeps every target at least a quarter of the way from both parents.

Privacy mode `none`: no formal guarantee. Outputs are only screened (no exact copy of a member,
no near copy of either parent) and should be audited before they leave the building.

Decoding can drift into another class (SMS spam decoded as ham about half the time). The class
check prefers, among a target's candidates, one that a logistic regression fitted on the members'
embeddings gives the target's class, and decodes again the records whose output it does not.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import cast

import numpy as np

from privsynth.encoder import Encoder, normalize
from privsynth.errors import UserError

NEAR_COPY_JACCARD = 0.7


def _check_lam_range(lam_range) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in lam_range)
    except (TypeError, ValueError):
        raise ValueError(f"lam_range must be a pair (l_min, l_max); got {lam_range!r}") from None
    if not (0.0 < lo <= hi < 1.0):
        raise ValueError(f"lam_range must be within (0, 1) with l_min <= l_max; got {lam_range!r}")
    return lo, hi


def nearest_same_class(X: np.ndarray, members: np.ndarray, k: int) -> np.ndarray:
    """Indices (into `members`) of each member's k nearest other members by cosine."""
    sims = X[members] @ X[members].T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(members) - 1)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def interpolate(
    X: np.ndarray,
    y: np.ndarray,
    n_per_class: dict,
    *,
    k_neighbors: int = 5,
    lam_range=(0.25, 0.75),
    rng: np.random.Generator,
    return_pairs: bool = False,
):
    """SMOTExT vector synthesis: (vectors, labels[, (i, j, lam)]) for the requested class sizes.

    X holds unit-norm vectors, y their labels. Pairs are (record, one of its k nearest
    same-class neighbours); a class needs at least 2 records.
    """
    lo, hi = _check_lam_range(lam_range)
    if k_neighbors < 1:
        raise ValueError(f"k_neighbors must be >= 1; got {k_neighbors}")
    y = np.asarray(y)
    out_v, out_y = [], []
    pairs: list[tuple[int, int, float]] = []
    for label, n in n_per_class.items():
        if n <= 0:
            continue
        members = np.flatnonzero(y == label)
        if len(members) < 2:
            raise UserError(f"class {label!r} has {len(members)} record(s); SMOTExT needs at least 2")
        nbrs = nearest_same_class(X, members, k_neighbors)
        a = rng.integers(0, len(members), size=n)
        b = nbrs[a, rng.integers(0, nbrs.shape[1], size=n)]
        lam = rng.uniform(lo, hi, size=n)
        i, j = members[a], members[b]
        out_v.append(normalize((1 - lam)[:, None] * X[i] + lam[:, None] * X[j]))
        out_y.extend([label] * n)
        pairs.extend(zip(i.tolist(), j.tolist(), lam.tolist()))
    V = np.concatenate(out_v) if out_v else np.zeros((0, X.shape[1]), dtype=np.float32)
    Y = np.asarray(out_y, dtype=object)
    return (V, Y, pairs) if return_pairs else (V, Y)


def class_sizes(counts: dict, n: int | None = None, n_per_class: int | dict | None = None) -> dict:
    """Synthetic class sizes: follow the input (default), scale to n total, or n_per_class each.

    n_per_class may also map labels to sizes, for some classes only: SMOTE's minority
    oversampling ({"spam": 500}) with every class still read (the class check sees them all).
    """
    if n is not None and n_per_class is not None:
        raise UserError("give either --n or --n-per-class, not both")
    if isinstance(n_per_class, dict):
        unknown = [c for c in n_per_class if c not in counts]
        if unknown:
            raise UserError(
                f"n_per_class names class {unknown[0]!r}, which the data does not have; "
                f"classes: {sorted(map(str, counts))}"
            )
        bad = {c: k for c, k in n_per_class.items() if not isinstance(k, int) or k < 1}
        if bad or not n_per_class:
            raise UserError(f"n_per_class needs sizes >= 1 for at least one class; got {dict(n_per_class)!r}")
        return dict(n_per_class)
    if n_per_class is not None:
        if n_per_class < 1:
            raise UserError(f"--n-per-class must be >= 1; got {n_per_class}")
        return {c: n_per_class for c in counts}
    total = sum(counts.values())
    if n is None:
        return dict(counts)
    if n < 1:
        raise UserError(f"--n must be >= 1; got {n}")
    # largest remainder, so the sizes add up to exactly n
    raw = {c: n * k / total for c, k in counts.items()}
    sizes = {c: int(v) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - sizes[c], reverse=True)[: n - sum(sizes.values())]:
        sizes[c] += 1
    return sizes


def normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace, strip punctuation at the edges: the 'same text' test."""
    return re.sub(r"\s+", " ", text.lower()).strip(" .,!?;:'\"")


def copy_key(text: str) -> str:
    """The auditor's 'same text' (``audits.text.normalize``: NFKC, case-folded, every punctuation mark
    dropped), so the generator rejects each copy the release gate would count ("Where?" copies a
    member "Where @"). ``normalize_text`` stays looser: the benchmark splits were drawn with it."""
    from audits.text import normalize  # privsynth may call the auditor, never the reverse

    return normalize(text)


def char_ngrams(text: str, n: int = 5) -> set[str]:
    t = normalize_text(text)
    return {t[i : i + n] for i in range(max(1, len(t) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


# Rounds of the class check in modes none/noise. At 1,000 records (3 seeds, MiniLM-LR), 4 rounds
# gave 97.2% of train-on-real on SMS and 99.0% on RT, against 96.7% and 98.3% at 2
# (benchmarks/results/utility_n1000_cc4.md); the extra rounds only re-decode what is still off class.
DEFAULT_CLASS_CHECK = 4


class SMOTExT:
    """Synthetic labelled text by interpolating sentence embeddings and decoding them.

    >>> gen = SMOTExT(k_neighbors=5, lam_range=(0.25, 0.75), random_state=0)
    >>> texts, labels = gen.fit(real_texts, real_labels).generate(n=100)  # doctest: +SKIP

    Parameters are stored as given; `fit` embeds the members, `generate` interpolates and decodes.
    encoder / bridge: None loads the embedded defaults (MiniLM; the shipped SmolLM2 bridge) on `device`
        ("cpu", "cuda", "cuda:N"; see :func:`privsynth.device.resolve`).
    max_new_tokens: None is length-aware (a budget from the parents' lengths), or a fixed cap.
    class_check_rounds: prefer candidates that a logistic regression on the members' embeddings
        puts in the target's class, and decode again, up to this many times, a record whose
        output it puts in another (the first time from the same target, then from a new one);
        a replacement is kept only if it is in its class. 0: off (closest candidate only).
        The check reads the members, as SMOTExT does: no formal guarantee either way.
    """

    def __init__(
        self,
        *,
        k_neighbors: int = 5,
        lam_range=(0.25, 0.75),
        n_candidates: int = 8,
        max_new_tokens: int | None = None,
        encoder: Encoder | None = None,
        bridge=None,
        batch_size: int = 16,
        class_check_rounds: int = DEFAULT_CLASS_CHECK,
        random_state: int = 0,
        progress: bool = False,
        device: str = "cpu",
    ):
        self.device = device
        self.k_neighbors = k_neighbors
        self.lam_range = lam_range
        self.n_candidates = n_candidates
        self.class_check_rounds = class_check_rounds
        self.max_new_tokens = max_new_tokens
        self.encoder = encoder
        self.bridge = bridge
        self.batch_size = batch_size
        self.random_state = random_state
        self.progress = progress

    def _validate(self) -> None:
        _check_lam_range(self.lam_range)
        if not isinstance(self.k_neighbors, int) or self.k_neighbors < 1:
            raise ValueError(f"k_neighbors must be an int >= 1; got {self.k_neighbors!r}")
        if not isinstance(self.n_candidates, int) or self.n_candidates < 1:
            raise ValueError(f"n_candidates must be an int >= 1; got {self.n_candidates!r}")
        if not isinstance(self.class_check_rounds, int) or self.class_check_rounds < 0:
            raise ValueError(f"class_check_rounds must be an int >= 0; got {self.class_check_rounds!r}")

    def fit(self, texts: list[str], labels: list[str], vectors: np.ndarray | None = None) -> SMOTExT:
        """Embed the member texts (or take precomputed unit-norm `vectors`)."""
        self._validate()
        if len(texts) != len(labels):
            raise ValueError(f"texts and labels differ in length: {len(texts)} != {len(labels)}")
        counts = Counter(labels)
        small = {c: k for c, k in counts.items() if k < 2}
        if small:
            c, k = next(iter(small.items()))
            raise UserError(f"class {c!r} has {k} record(s); SMOTExT needs at least 2")
        self.encoder_ = self.encoder or Encoder(device=self.device, show_progress=self.progress)
        self.texts_ = list(texts)
        self.labels_ = np.asarray(labels, dtype=object)
        self.class_counts_ = dict(sorted(counts.items()))
        self.X_ = np.asarray(vectors, dtype=np.float32) if vectors is not None else self.encoder_.encode(self.texts_)
        self._copy_keys = {copy_key(t) for t in self.texts_}
        self.class_model_ = None
        if self.class_check_rounds > 0 and len(self.class_counts_) > 1:
            from sklearn.linear_model import LogisticRegression

            self.class_model_ = LogisticRegression(max_iter=1000).fit(self.X_, self.labels_.astype(str))
        return self

    def _bridge(self):
        if self.bridge is None:
            from privsynth.bridge import Bridge

            self.bridge = Bridge.load().to(self.device)
        return self.bridge

    def sample_vectors(self, n: int | None = None, n_per_class: int | None = None):
        """Target vectors, labels and parent pairs (no decoding): the private read of members."""
        sizes = class_sizes(self.class_counts_, n, n_per_class)
        rng = np.random.default_rng(self.random_state)
        return interpolate(
            self.X_,
            self.labels_,
            sizes,
            k_neighbors=self.k_neighbors,
            lam_range=self.lam_range,
            rng=rng,
            return_pairs=True,
        )

    def generate(
        self, n: int | None = None, n_per_class: int | None = None, *, transform=None
    ) -> tuple[list[str], list[str]]:
        """Synthetic (texts, labels); class sizes follow the input unless n or n_per_class is given.

        transform: applied to every target vector before decoding (mode noise).
        """
        V, Y, pairs = self.sample_vectors(n, n_per_class)
        if transform is not None:
            V = transform(V)
        texts = self.decode(V, pairs, transform=transform)
        return texts, [str(y) for y in Y]

    def decode(
        self, V: np.ndarray, pairs: list[tuple[int, int, float]], *, seed_offset: int = 0, transform=None
    ) -> list[str]:
        """Decode targets, rejecting exact copies of any member and near copies of either parent.

        With the class check on, a record whose output reads as another class is decoded again
        first (``class_check_rounds``). A rejected copy is decoded again (3 tries); if its target
        keeps decoding to a copy (the better the bridge, the likelier near a short member), it
        gets a new target of its class: a fresh interpolation, passed through ``transform``
        (e.g. mode noise) like the first ones (3 more tries). A record that still copies is an
        error, never released.
        """
        from privsynth.bridge import token_budget

        bridge = self._bridge()
        parent_budget = token_budget(bridge.tokenizer, self.texts_) if self.max_new_tokens is None else None

        def budget(pair) -> int:
            if parent_budget is None:
                return int(cast(int, self.max_new_tokens))
            return int(max(parent_budget[pair[0]], parent_budget[pair[1]]))

        V, pairs = np.array(V, dtype=np.float32, copy=True), list(pairs)
        want = [str(self.labels_[p[0]]) for p in pairs]

        def run(rows: list[int], Vr: np.ndarray, prs: list, seed: int, progress: bool = False):
            """Decoded texts, and per text whether the class model puts it in its class (None: check off)."""
            accept = None
            if self.class_model_ is not None:
                # the verdict closes over the model alone: it travels with each batch to a cluster's workers
                model, wanted = self.class_model_, np.asarray([want[k] for k in rows], dtype=object)
                accept = lambda E, r: model.predict(E) == wanted[r]  # noqa: E731
            out = bridge.decode(
                Vr,
                encoder=self.encoder_,
                n_candidates=self.n_candidates,
                max_new_tokens=[budget(p) for p in prs],
                batch_size=self.batch_size,
                seed=seed,
                progress=progress,
                accept=accept,
                return_accepted=accept is not None,
            )
            return (list(out[0]), out[1]) if accept is not None else (list(out), None)

        base = self.random_state + seed_offset
        texts, in_class = run(list(range(len(V))), V, pairs, base, self.progress)
        rng = np.random.default_rng([int(self.random_state or 0), 7919, seed_offset])
        self._class_check(texts, in_class, V, pairs, run, base, rng, transform)
        self._tidy(texts, in_class, V, pairs, run, base)
        self.rejected_ = self.retargeted_ = 0
        for attempt in range(1, 7):
            bad = [k for k, t in enumerate(texts) if self._is_copy(t, pairs[k])]
            if not bad:
                break
            self.rejected_ += len(bad)
            if attempt > 3:
                self._retarget(V, pairs, bad, rng, transform)
                self.retargeted_ += len(bad)
            again, again_ok = run(bad, V[bad], [pairs[k] for k in bad], base + 7919 * attempt)
            for j, k in enumerate(bad):
                texts[k] = again[j]
                if in_class is not None:
                    in_class[k] = again_ok[j]
        still = [k for k, t in enumerate(texts) if self._is_copy(t, pairs[k])]
        if still:
            classes = sorted({str(self.labels_[pairs[k][0]]) for k in still})
            raise UserError(
                f"{len(still)} synthetic record(s) of class(es) {classes} still copied a member after "
                f"3 re-decodes and 3 new targets; the class may hold many near-duplicate records "
                f"(deduplicate the input) or be too small for SMOTExT"
            )
        if in_class is not None:
            self.class_mismatch_: int | None = int(np.size(in_class) - np.count_nonzero(in_class))
        return texts

    def _tidy(self, texts, in_class, V, pairs, run, base: int, rounds: int = 2) -> None:
        """Cut LM lead-ins ("Here's a message: ...") and decode again (in place, ``rounds`` tries)
        the records that still carry LM scaffolding (template slots, task talk); a replacement
        is taken only if it is clean. Counted in ``scaffolding_first_pass_`` / ``scaffolding_left_``."""
        from privsynth import scaffolding

        for k, t in enumerate(texts):
            texts[k] = scaffolding.cut(t) or t
        bad = [k for k, t in enumerate(texts) if scaffolding.find(t)]
        self.scaffolding_first_pass_ = len(bad)
        for attempt in range(1, rounds + 1):
            if not bad:
                break
            again, again_ok = run(bad, V[bad], [pairs[k] for k in bad], base + 104729 * attempt)
            for j, k in enumerate(bad):
                t = scaffolding.cut(again[j]) or again[j]
                if not scaffolding.find(t):
                    texts[k] = t
                    if in_class is not None:
                        in_class[k] = again_ok[j]
            bad = [k for k in bad if scaffolding.find(texts[k])]
        self.scaffolding_left_ = len(bad)

    def _class_check(self, texts, in_class, V, pairs, run, base: int, rng, transform) -> None:
        """Decode again (in place) the records whose output the class model puts in another class;
        ``in_class`` (decode's verdicts) is updated in place.

        Round 1 decodes the same targets with a new seed; later rounds new targets of the class.
        A replacement is kept only if it reads as its class and copies nothing, so the check
        never makes a record worse; the target and parents move with the text they produced.
        """
        self.class_mismatch_initial_ = self.class_mismatch_ = None  # None: no check ran
        if self.class_model_ is None:
            return
        bad = [k for k, ok in enumerate(in_class) if not ok]  # decode's verdicts: no second encoding
        self.class_mismatch_initial_ = len(bad)
        for r in range(1, self.class_check_rounds + 1):
            if not bad:
                break
            Vb, pb = V[bad].copy(), [pairs[k] for k in bad]
            if r > 1:
                self._retarget(Vb, pb, list(range(len(bad))), rng, transform)
            redo, redo_ok = run(bad, Vb, pb, base + 104_729 * r)
            still_off = {j for j, ok in enumerate(redo_ok) if not ok}
            kept = []  # a record not replaced keeps the text already found off class
            for j, k in enumerate(bad):
                if j not in still_off and not self._is_copy(redo[j], pb[j]):
                    texts[k], V[k], pairs[k], in_class[k] = redo[j], Vb[j], pb[j], True
                else:
                    kept.append(k)
            bad = kept

    def _retarget(self, V: np.ndarray, pairs: list, bad: list[int], rng, transform) -> None:
        """New interpolation targets, of the same classes, for the records at ``bad`` (in place)."""
        labels = [self.labels_[pairs[k][0]] for k in bad]
        for lab in dict.fromkeys(labels):
            ks = [k for k, lab_k in zip(bad, labels) if lab_k == lab]
            Z, _, fresh = interpolate(
                self.X_,
                self.labels_,
                {lab: len(ks)},
                k_neighbors=self.k_neighbors,
                lam_range=self.lam_range,
                rng=rng,
                return_pairs=True,
            )
            if transform is not None:
                Z = transform(Z)
            for k, z, pair in zip(ks, Z, fresh):
                V[k], pairs[k] = z, pair

    def _is_copy(self, text: str, pair) -> bool:
        if not normalize_text(text) or copy_key(text) in self._copy_keys:
            return True
        grams = char_ngrams(text)
        return any(jaccard(grams, char_ngrams(self.texts_[p])) > NEAR_COPY_JACCARD for p in pair[:2])
