"""Neighbouring datasets: add or remove one row, or all rows of one person, in the input FILE;
run reading, cleaning, the split and each mechanism's pre-noise statistic with the synthetic
side fixed; the L2 difference never exceeds the sensitivity the ledger assumes.

The one record a person contributes is drawn by the CSPRNG among that person's own rows; the
bound holds for every draw in which each person keeps their own draw (the coupling the proof
uses), so the test fixes the draw to "the person's first row", a function of that person's
rows alone.
"""

from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pytest
from conftest import HashingEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privsynth.io import read_corpus
from privsynth.privacy import mechanisms
from privsynth.split import split_corpus

KEY = b"k" * 32
LABELS = ("a", "b")
# a small vocabulary: texts recur, within a person and across people
TEXTS = (
    "free prize call now",
    "see you at lunch",
    "ok",
    "Ok.",
    "win cash now text back",
    "are we still on for dinner",
    "call 555-867-5309 now",
    "late again sorry",
    "the cat sat on the mat",
)
PEOPLE = tuple(f"p{i}" for i in range(6))
SYNTHETIC = ["free prize call now", "see you at dinner", "win a holiday", "ok lor", "the dog sat on the mat"]
ENCODER = HashingEncoder()
CANDIDATES = ENCODER.encode(SYNTHETIC + ["we won cash", "lunch is late"])
CAND_CLASS = np.array([0, 1, 0, 1, 1, 0, 1])
FLOOR = 5

row = st.tuples(st.sampled_from(TEXTS), st.sampled_from(LABELS), st.sampled_from(PEOPLE))
new_persons_rows = st.lists(
    st.tuples(st.sampled_from(TEXTS), st.sampled_from(LABELS), st.just("newcomer")), min_size=1, max_size=4
)
rows_and_change = st.tuples(
    st.lists(row, min_size=1, max_size=24),
    st.one_of(
        st.tuples(st.just("add"), row, st.integers(0, 30)),
        st.tuples(st.just("remove"), st.integers(0, 30)),
        st.tuples(st.just("add person"), new_persons_rows, st.integers(0, 30)),
        st.tuples(st.just("remove person"), st.sampled_from(PEOPLE)),
    ),
)


def _neighbour(rows, change, by_person):
    """The neighbouring file, or None when the change is not one unit under this adjacency
    (records: one row; people: all rows of one person)."""
    rows = list(rows)
    if (change[0] in ("add", "remove")) == by_person:
        return None
    if change[0] == "add":
        rows.insert(change[2] % (len(rows) + 1), change[1])
    elif change[0] == "remove":
        del rows[change[1] % len(rows)]
    elif change[0] == "add person":  # their rows land anywhere in the file
        for k, r in enumerate(change[1]):
            rows.insert((change[2] + 7 * k) % (len(rows) + 1), r)
    else:
        rows = [r for r in rows if r[2] != change[1]]
    return rows


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label", "person"])
        w.writerows((f"r{hashlib.sha256(repr(r).encode()).hexdigest()[:8]}", *r) for r in rows)


def _first_row_per_person(user_ids):
    ids = np.asarray(user_ids, dtype=object).astype(str)
    return np.array(sorted(int(np.flatnonzero(ids == u)[0]) for u in set(ids.tolist())), dtype=np.int64)


def _statistics(path, by_person):
    """Every mechanism's exact statistic on the dataset in ``path`` (synthetic side fixed)."""
    from audits.data import AuditData
    from audits.records import record_figures

    corpus, _ = read_corpus(path, group_col="person" if by_person else None, min_class_size=0, allow_empty=True)
    members, holdout = split_corpus(corpus, fraction=0.35, seed=0, key=KEY, by_person=by_person)
    users = members.groups if by_person else None
    yc = np.array([LABELS.index(y) for y in members.labels], dtype=np.int64)
    X = ENCODER.encode(members.texts) if len(members) else np.zeros((0, CANDIDATES.shape[1]), np.float32)
    W = np.random.default_rng(0).standard_normal((2, X.shape[1] + 1))  # the judge's weights before a step
    rows = np.arange(len(X)) if users is None else mechanisms.one_record_per_person(users)
    data = AuditData.build(members.texts, holdout.texts, SYNTHETIC, encoder="hashing", validate=False)
    figs = record_figures(data, identifiers=False)
    return {
        "counts": (mechanisms.class_counts(yc, 2, user_ids=users), 1.0),
        "votes (all)": (mechanisms.vote_histogram(X, yc, CANDIDATES, CAND_CLASS, among="all", user_ids=users), 1.0),
        "votes (own class)": (
            mechanisms.vote_histogram(X, yc, CANDIDATES, CAND_CLASS, among="own-class", user_ids=users),
            1.0,
        ),
        "judge step": (mechanisms.clipped_gradient_sum(X, yc, rows, W, clip=0.7).ravel(), 0.7),
        "gate": (
            mechanisms.gate_statistics(
                figs.member_reproduced,
                figs.member_score,
                figs.holdout_score,
                auc_floor=FLOOR,
                member_units=users,
                holdout_units=holdout.groups if by_person else None,
            ),
            mechanisms.GATE_SENSITIVITY,
        ),
    }


@pytest.mark.parametrize("by_person", [False, True], ids=["record", "person"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=rows_and_change)
def test_one_neighbouring_change_moves_each_statistic_by_at_most_its_sensitivity(
    tmp_path, monkeypatch, by_person, case
):
    monkeypatch.setattr(mechanisms, "one_record_per_person", _first_row_per_person)
    rows, change = case
    other = _neighbour(rows, change, by_person)
    if other is None:
        return
    _write(tmp_path / "d.csv", rows)
    _write(tmp_path / "e.csv", other)
    a, b = _statistics(tmp_path / "d.csv", by_person), _statistics(tmp_path / "e.csv", by_person)
    for name, (x, bound) in a.items():
        y = b[name][0]
        assert x.shape == y.shape, name
        assert np.linalg.norm(x - y) <= bound + 1e-9, (name, x, y)


def test_the_floored_auc_moves_by_at_most_one_over_the_floor_at_every_size():
    rng = np.random.default_rng(0)
    for n_m, n_h in [(1, 1), (3, 50), (50, 3), (5, 5), (200, 40), (40, 200)]:
        m, h = rng.normal(size=n_m).round(1), rng.normal(size=n_h).round(1)  # ties included
        base = mechanisms.floored_auc(m, h, floor=20)
        for extra in (-5.0, 0.0, 5.0, float(m[0])):
            for add_m in (True, False):
                mm, hh = (np.r_[m, extra], h) if add_m else (m, np.r_[h, extra])
                assert abs(mechanisms.floored_auc(mm, hh, floor=20) - base) <= 1 / 20 + 1e-12
        # at or above the floor it is the AUC minus one half
        if min(n_m, n_h) >= 20:
            from sklearn.metrics import roc_auc_score

            auc = roc_auc_score(np.r_[np.ones(n_m), np.zeros(n_h)], np.r_[m, h])
            assert base == pytest.approx(auc - 0.5, abs=1e-12)


def test_a_persons_pick_depends_on_their_own_rows_only():
    ids = np.array(["x", "y", "x", "z", "y", "x"], dtype=object)
    for _ in range(20):
        rows = mechanisms.one_record_per_person(ids)
        assert sorted(ids[rows].tolist()) == ["x", "y", "z"]
    counts = np.bincount(np.concatenate([mechanisms.one_record_per_person(ids) for _ in range(3000)]), minlength=6)
    assert math.isclose(counts[0] / 3000, 1 / 3, abs_tol=0.05) and math.isclose(counts[1] / 3000, 1 / 2, abs_tol=0.05)


def test_removing_one_person_never_brings_back_another_persons_row(tmp_path):
    """Duplicates are looked for within each person's rows: a text two people share is kept for
    both, so one person's presence changes nothing of the other's cleaned rows."""
    rows = [
        ("see you at lunch", "a", "alice"),
        ("see you at lunch", "a", "bob"),
        ("ok", "b", "bob"),
        ("ok", "b", "bob"),
    ]
    _write(tmp_path / "d.csv", rows)
    _write(tmp_path / "e.csv", rows[1:])
    d, rep = read_corpus(tmp_path / "d.csv", group_col="person", min_class_size=0)
    e, _ = read_corpus(tmp_path / "e.csv", group_col="person", min_class_size=0)
    bob = [(t, y) for t, y, g in zip(d.texts, d.labels, d.groups) if g == "bob"]
    assert (
        bob
        == [(t, y) for t, y, g in zip(e.texts, e.labels, e.groups) if g == "bob"]
        == [("see you at lunch", "a"), ("ok", "b")]
    )
    assert rep.duplicates_removed == 1  # bob's own repeated "ok"
