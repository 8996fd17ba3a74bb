"""Atomic staging export and the lifetime budget store, alone."""

import os
import stat

import numpy as np
import pytest

from privsynth.budget import BudgetStore
from privsynth.errors import UserError
from privsynth.export import Staging, remove_stale


def test_nothing_appears_until_commit_and_an_error_leaves_nothing(tmp_path):
    out = tmp_path / "rel"
    with pytest.raises(RuntimeError):
        with Staging(out) as st:
            (st.path / "synthetic.csv").write_text("x")
            assert not out.exists()
            raise RuntimeError("crash")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_commit_renames_the_staging_folder_into_place(tmp_path):
    out = tmp_path / "rel"
    with Staging(out) as st:
        (st.path / "a.txt").write_text("a")
        st.commit()
    assert (out / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["rel"]


def test_existing_dir_is_refused_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "rel"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UserError, match="--force"):
        Staging(out)
    with Staging(out, force=True) as st:
        (st.path / "new.txt").write_text("new")
        st.commit()
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["rel"]


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    out = tmp_path / "rel"
    dead = tmp_path / ".rel.staging-999999999-abc"
    live = tmp_path / f".rel.staging-{os.getppid()}-abc"
    dead.mkdir()
    live.mkdir()
    assert remove_stale(out) == [dead]
    assert live.exists()


def test_budget_adds_up_runs_and_refuses_past_the_lifetime_cap(tmp_path):
    store = BudgetStore(tmp_path / "home")
    store.charge("ds1", epsilon=4, delta=1e-5, lifetime=10)
    store.charge("ds1", epsilon=4, delta=1e-5, lifetime=10)
    assert store.spent("ds1").epsilon == 8 and store.spent("ds1").runs == 2
    assert store.spent("ds2").epsilon == 0
    with pytest.raises(UserError, match="lifetime budget"):
        store.check("ds1", 3, 10)
    with pytest.raises(UserError):
        store.charge("ds1", epsilon=3, delta=1e-5, lifetime=10)
    assert store.spent("ds1").epsilon == 8  # a refused charge spends nothing
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_a_corrupt_budget_record_is_an_error_not_a_fresh_budget(tmp_path):
    store = BudgetStore(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        store.check("ds1", 1, 10)


def test_a_dataset_sharing_half_its_records_with_a_charged_one_spends_from_its_budget(tmp_path):
    from privsynth.budget import record_keys

    key = b"k" * 32
    texts = [f"record {i}" for i in range(100)]
    labels = ["a"] * 100
    store = BudgetStore(tmp_path / "home")
    store.charge("ds1", epsilon=4, delta=1e-6, lifetime=10, records=record_keys(texts, labels, key))
    edited = texts[:60] + [f"new {i}" for i in range(40)]  # 60% of its records already charged
    assert store.spent("ds2", record_keys(edited, labels, key)).epsilon == 4
    with pytest.raises(UserError, match="lifetime budget"):
        store.check("ds2", 7, 10, record_keys(edited, labels, key))
    store.charge("ds2", epsilon=4, delta=1e-6, lifetime=10, records=record_keys(edited, labels, key))
    assert store.spent("ds1").epsilon == 8 and "ds2" not in {s.dataset_id for s in store.all()}
    # the charged budget now knows the edited records too: a second edit of them still matches
    again = edited[20:] + [f"newer {i}" for i in range(20)]
    assert store.spent("ds3", record_keys(again, labels, key)).epsilon == 8
    other = [f"unrelated {i}" for i in range(100)]  # shares nothing: a budget of its own
    assert store.spent("ds4", record_keys(other, labels, key)).epsilon == 0
    assert record_keys(texts, labels, key).dtype == np.uint64 and len(record_keys(texts * 2, labels * 2, key)) == 100


def test_generate_privacy_dp_is_charged_to_the_lifetime_budget_before_any_model_loads(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import privsynth.encoder
    from privsynth.cli import cli

    monkeypatch.setenv("PRIVSYNTH_HOME", str(tmp_path / "home"))
    (tmp_path / "in.csv").write_text("text,label\n" + "".join(f"message {i},{'ab'[i % 2]}\n" for i in range(50)))

    class Stop(Exception):
        pass

    def no_models(*a, **k):
        raise Stop

    monkeypatch.setattr(privsynth.encoder, "Encoder", no_models)
    res = CliRunner().invoke(
        cli,
        [
            "generate",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "s.csv"),
            "--privacy",
            "dp",
            "--epsilon",
            "3",
            "--labels",
            "a,b",
            "--quiet",
        ],
    )
    assert isinstance(res.exception, Stop)
    shown = CliRunner().invoke(cli, ["budget", "show", str(tmp_path / "in.csv")])
    assert "spent epsilon 3," in shown.output, shown.output
