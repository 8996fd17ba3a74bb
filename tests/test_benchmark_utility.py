"""The utility benchmark's pure-Python parts: splits, the resumable store, the table, the verdicts,
EDA. No model is loaded; the committed split files are checked against a fresh construction."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import splits  # noqa: E402
import utility_report as report  # noqa: E402
from utility_baselines import EDA_OPERATIONS, eda_minority, oversample_minority, random_deletion, random_swap  # noqa: E402

from privsynth.smotext import normalize_text  # noqa: E402


def _records():
    recs = []
    for i in range(200):
        label = "spam" if i % 5 == 0 else "ham"
        text = f"message number {i % 60}" + ("!" if i % 2 else "")  # many normalised duplicates
        recs.append(splits.Record(f"r{i:03d}", text if i % 7 else text.upper(), label))
    return recs


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    recs = _records()
    assert splits.make_test_ids(recs, seed=0) == splits.make_test_ids(list(reversed(recs)), seed=0)
    assert splits.make_test_ids(recs, seed=0) != splits.make_test_ids(recs, seed=1)


def test_split_keeps_identical_normalised_texts_on_one_side():
    recs = _records()
    test = set(splits.make_test_ids(recs, seed=3))
    sides: dict[str, set[bool]] = {}
    for r in recs:
        sides.setdefault(normalize_text(r.text), set()).add(r.id in test)
    assert all(len(s) == 1 for s in sides.values())


def test_split_takes_about_a_fifth_of_each_class():
    recs = [splits.Record(f"x{i}", f"distinct text {i}", "a" if i < 300 else "b") for i in range(400)]
    test = set(splits.make_test_ids(recs))
    assert sum(r.id in test for r in recs if r.label == "a") == 60
    assert sum(r.id in test for r in recs if r.label == "b") == 20


def test_committed_split_files_match_a_fresh_construction(tmp_path):
    for name in splits.DATASETS:
        records = splits.read_dataset(name)
        committed = splits.read_ids(splits.SPLIT_DIR / splits.SPLIT_FILES[name])
        assert committed == splits.make_test_ids(records)
        train, test = splits.load_split(name)
        assert not {normalize_text(r.text) for r in train} & {normalize_text(r.text) for r in test}


def test_subsample_is_stratified_seeded_and_keeps_small_classes():
    recs = [splits.Record(f"x{i}", f"t{i}", "big" if i < 990 else "small") for i in range(1000)]
    a = splits.subsample(recs, 100, seed=0)
    assert a == splits.subsample(recs, 100, seed=0)
    assert sum(r.label == "small" for r in a) >= 2


def _entry(dataset, row, seed, f1, spam=None, epsilon=None, status="ok"):
    m = {"macro_f1": f1, "accuracy": f1 + 0.05}
    if spam is not None:
        m["spam_f1"] = spam
    return {
        "key": report.entry_key(dataset, row, seed),
        "dataset": dataset,
        "row": row,
        "seed": seed,
        "label": row,
        "epsilon": epsilon,
        "fingerprint": "fp",
        "status": status,
        "metrics": {"tfidf_lr": dict(m), "minilm_lr": dict(m)},
    }


def test_store_resumes_finished_entries_and_recomputes_changed_ones(tmp_path):
    path = tmp_path / "u.json"
    store = report.ResultStore(path, {"quick": True}, {"argv": ["first"]})
    store.add(_entry("sms", "real", 0, 0.9))
    on_disk = json.loads(path.read_text())  # written at once: a kill after add loses nothing
    assert [e["key"] for e in on_disk["entries"]] == ["sms/real/seed0"]

    again = report.ResultStore(path, {"quick": True}, {"argv": ["second"]})
    assert again.done("sms/real/seed0", "fp")
    assert not again.done("sms/real/seed0", "other-options")
    assert not again.done("sms/real/seed1", "fp")
    assert [r["argv"] for r in again.data["runs"]] == [["first"], ["second"]]
    again.add({**_entry("sms", "real", 0, 0.8), "fingerprint": "new"})
    assert len(again.entries) == 1 and again.entries[0]["fingerprint"] == "new"

    fresh = report.ResultStore(path, {"quick": True}, {"argv": ["third"]}, fresh=True)
    assert fresh.entries == []


def test_fingerprint_is_stable_and_order_free():
    assert report.fingerprint({"a": 1, "b": [1, 2]}) == report.fingerprint({"b": [1, 2], "a": 1})
    assert report.fingerprint({"a": 1}) != report.fingerprint({"a": 2})


def test_summary_gives_mean_and_sample_sd_over_seeds_and_lists_failures():
    entries = [
        _entry("sms", "real", 0, 0.90, 0.80),
        _entry("sms", "real", 1, 0.94, 0.84),
        {**_entry("sms", "synth-dp-eps1", 0, 0.0, 0.0, 1.0), "status": "refused", "error": "class too small"},
    ]
    s = {x["row"]: x for x in report.summarize(entries)}
    f1 = s["real"]["metrics"]["tfidf_lr"]["macro_f1"]
    assert f1["mean"] == pytest.approx(0.92) and f1["sd"] == pytest.approx(0.0282843, rel=1e-4) and f1["n"] == 2
    assert s["synth-dp-eps1"]["metrics"]["tfidf_lr"]["macro_f1"] is None
    assert s["synth-dp-eps1"]["failed"] == {"0": "class too small"}


def test_markdown_table_has_one_table_per_dataset_and_spam_columns_only_for_sms():
    entries = [_entry("sms", "real", 0, 0.9, 0.8), _entry("sms", "real", 1, 0.92, 0.82), _entry("rt", "real", 0, 0.7)]
    md = report.markdown_table(report.summarize(entries))
    sms, rt = md.split("## sms")[1], md.split("## rt")[1].split("## sms")[0]
    assert "spam F1" in sms and "spam F1" not in rt
    assert "| real | - | 2 | 0.910 ± 0.014 |" in sms
    assert "| real | - | 1 | 0.700 |" in rt
    synth = [
        {**_entry("rt", "synth-none", k, 0.6), "audit": {"mia_auc": 0.5, "failed_checks": f}}
        for k, f in enumerate((["nndr_share"], [], ["dcr_share", "nndr_share"]))
    ]
    row = report.markdown_table(report.summarize(synth)).splitlines()[-2]
    assert row.endswith("| 2/3 (dcr_share, nndr_share) |"), row


def test_verdicts_compare_against_the_targets():
    entries = [
        _entry("sms", "real", 0, 1.0, 0.80),
        _entry("sms", "synth-none", 0, 0.98, 0.7),
        _entry("sms", "synth-dp-eps4", 0, 0.90, 0.6, 4.0),
        _entry("sms", "dpsgd-eps4", 0, 0.85, 0.5, 4.0),
        _entry("sms", "real+synth-spam", 0, 1.0, 0.86),
        _entry("sms", "eda", 0, 1.0, 0.87),
    ]
    v = {(x["classifier"], x["target"]): x["status"] for x in report.verdicts(report.summarize(entries))}
    assert v[("tfidf_lr", "synth-none macro-F1 >= 97% of train-on-real")] == "MET"
    assert v[("tfidf_lr", "synth-dp-eps4 macro-F1 >= 92% of train-on-real")] == "MISSED"
    assert v[("tfidf_lr", "synth-dp-eps4 macro-F1 above dpsgd-eps4")] == "MET"
    assert v[("tfidf_lr", "synth-dp-eps4 macro-F1 above dpgen-eps4")] == "not run"
    assert v[("tfidf_lr", "spam F1 with privsynth minority augmentation >= 5 points above none")] == "MET"
    assert v[("tfidf_lr", "spam F1 with privsynth minority augmentation above EDA")] == "MISSED"


def test_plot_writes_a_png(tmp_path):
    entries = [
        _entry("sms", "real", 0, 0.9, 0.8),
        _entry("sms", "synth-dp-eps4", 0, 0.8, 0.7, 4.0),
        _entry("sms", "dpsgd-eps1", 0, 0.6, 0.5, 1.0),
        _entry("sms", "dpsgd-eps4", 0, 0.7, 0.6, 4.0),
    ]
    report.plot(report.summarize(entries), tmp_path / "u.png")
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"


def test_oversampling_copies_each_minority_record_evenly_and_is_seeded():
    texts = ["win a prize", "call now", "free cash"]
    out = oversample_minority(texts, 7, seed=1)
    assert len(out) == 7 and set(out) == set(texts)
    assert sorted(out.count(t) for t in texts) == [2, 2, 3]
    assert out == oversample_minority(texts, 7, seed=1)


def test_eda_operations_keep_words_and_are_seeded():
    words = "one two three four five six seven eight nine ten".split()
    swapped = random_swap(words, 2, random.Random(0))
    assert sorted(swapped) == sorted(words)
    kept = random_deletion(words, 0.1, random.Random(0))
    assert kept and set(kept) <= set(words)
    assert random_deletion(["solo"], 0.9, random.Random(0)) == ["solo"]
    texts = ["win a free prize now call", "claim your cash reward today", "urgent text back to win"]
    assert eda_minority(texts, 7, seed=1) == eda_minority(texts, 7, seed=1)
    assert len(eda_minority(texts, 7, seed=1)) == 7
    assert EDA_OPERATIONS == {
        "random_swap": True,
        "random_deletion": True,
        "synonym_replacement": False,
        "random_insertion": False,
    }


def test_row_selection_accepts_patterns_and_refuses_unknown_rows():
    import utility

    assert utility.select_rows("dpsgd-*") == ["dpsgd-eps1", "dpsgd-eps4", "dpsgd-eps8"]
    assert "dpgen-eps4" not in utility.select_rows(None)
    assert "dpgen-eps4" in utility.select_rows("all")
    with pytest.raises(SystemExit):
        utility.select_rows("no-such-row")


def test_class_keeping_scores_each_class_and_the_macro_mean():
    import utility

    real = [
        "win a free prize now",
        "claim your cash prize",
        "free entry win cash",
        "see you at lunch",
        "are we meeting later",
        "call me when you get home",
    ]
    labels = ["spam", "spam", "spam", "ham", "ham", "ham"]
    syn = ["free cash prize to win", "meeting you for lunch later", "win free entry", "cash prize claim"]
    kept = utility.class_keeping(real, labels, syn, ["spam", "ham", "spam", "ham"], utility.Config())
    assert kept["spam"] == 1.0  # both spam-like records keep their label
    assert kept["ham"] == 0.5  # the spam-like record labelled ham does not
    assert kept["macro"] == pytest.approx(0.75)
    assert utility.class_keeping(real, labels, [], [], utility.Config()) == {}
    # the same through vectors: here a hashing encoder stands in for MiniLM
    from conftest import HashingEncoder

    kept = utility.class_keeping(
        real, labels, syn, ["spam", "ham", "spam", "ham"], utility.Config(), embed=HashingEncoder().encode
    )
    assert kept["spam"] == 1.0 and kept["ham"] == 0.5


def test_config_for_bridge_rows_records_the_shipped_weights_hash():
    import utility

    args = utility.parse_args(["--quick", "--rows", "synth-none", "--pe-rounds", "4"])
    cfg = utility.build_config(args, utility.select_rows(args.rows))
    assert cfg.bridge.endswith("bridge.safetensors") and len(cfg.bridge_sha256) == 64 and cfg.pe_rounds == 4


def test_private_evolution_options_change_only_the_dp_rows_fingerprints():
    """Recorded rows that do not run Private Evolution stay valid when its vote or range changes;
    the dp rows are recomputed."""
    import utility

    base, other = utility.Config(), utility.Config(pe_vote="own-class", pe_lam="0.02,0.25", pe_elite=0.5)
    for row in ("real", "synth-none", "synth-noise", "real+synth-spam", "dpsgd-eps4"):
        assert utility.entry_fingerprint(base, "sms", row) == utility.entry_fingerprint(other, "sms", row), row
    assert utility.entry_fingerprint(base, "sms", "synth-dp-eps4") != utility.entry_fingerprint(
        other, "sms", "synth-dp-eps4"
    )
    assert utility.entry_fingerprint(base, "sms", "synth-dp-eps4") != utility.entry_fingerprint(
        utility.Config(pe_minlen=0.8), "sms", "synth-dp-eps4"
    )
    # the class judge (on by default) recomputes the dp rows only
    off = utility.Config(pe_judge=0.0)
    assert utility.entry_fingerprint(base, "sms", "synth-dp-eps4") != utility.entry_fingerprint(
        off, "sms", "synth-dp-eps4"
    )
    assert utility.entry_fingerprint(base, "sms", "synth-none") == utility.entry_fingerprint(off, "sms", "synth-none")
    wide = utility.Config(pe_final_k=31)
    assert utility.entry_fingerprint(base, "sms", "synth-dp-eps4") != utility.entry_fingerprint(
        wide, "sms", "synth-dp-eps4"
    )
    assert utility.entry_fingerprint(base, "sms", "synth-none") == utility.entry_fingerprint(wide, "sms", "synth-none")
    # options added later, at their neutral values, leave recorded entries valid: the dp rows of
    # results/utility_vote.json match a run without a gate share; with the release gate's share
    # of the budget (the default) they are recomputed
    recorded = json.loads((utility.RESULTS / "utility_vote.json").read_text(encoding="utf-8"))
    cfg = {k: v for k, v in recorded["config"].items() if k in {f.name for f in dataclasses.fields(utility.Config)}}
    cfg.setdefault("pe_judge", 0.0)  # rows recorded without a class judge
    fps = {e["fingerprint"] for e in recorded["entries"] if e["row"] == "synth-dp-eps4"}
    assert (
        fps
        == {utility.entry_fingerprint(utility.Config(**cfg, pe_gate_share=0.0), "sms", "synth-dp-eps4")}
        == {"417223a513eb4b87"}
    )
    assert utility.entry_fingerprint(utility.Config(**cfg), "sms", "synth-dp-eps4") not in fps


def test_the_smotext_class_check_changes_only_the_smotext_rows_fingerprints():
    """Entries recorded before the class check (which ran without it) match class_check=0; the
    new default recomputes the SMOTExT rows (modes none and noise, minority) and nothing else."""
    import utility

    on, off = utility.Config(), utility.Config(class_check=0)
    for row in ("real", "synth-dp-eps4", "dpsgd-eps4", "prompts-only", "eda"):
        assert utility.entry_fingerprint(on, "sms", row) == utility.entry_fingerprint(off, "sms", row), row
    for row in ("synth-none", "synth-noise", "real+synth-spam"):
        assert utility.entry_fingerprint(on, "sms", row) != utility.entry_fingerprint(off, "sms", row), row
    # the recorded mode-none rows (class check 4, the default) stay valid, with or without it set
    recorded = json.loads((utility.RESULTS / "utility_n1000_cc4.json").read_text(encoding="utf-8"))
    assert recorded["config"]["class_check"] == 4
    cfg = {k: v for k, v in recorded["config"].items() if k in {f.name for f in dataclasses.fields(utility.Config)}}
    fps = {e["fingerprint"] for e in recorded["entries"] if e["row"] == "synth-none" and e["dataset"] == "sms"}
    assert fps == {utility.entry_fingerprint(utility.Config(**cfg), "sms", "synth-none")}


def test_n_train_subsamples_the_training_split_only_and_names_its_own_entries():
    """The small-data case: --n-train trains on a stratified subset; the test split stays whole,
    and the entries are fingerprinted apart from the full-size ones."""
    import splits
    import utility

    args = utility.parse_args(["--rows", "real,eda", "--n-train", "300"])
    cfg = utility.build_config(args, utility.select_rows(args.rows))
    assert cfg.n_train == 300
    small, full = utility.load_data("sms", cfg), splits.load_split("sms")
    assert abs(len(small.train) - 300) <= 2 and len(small.test) == len(full[1])
    share = lambda recs: sum(r.label == "spam" for r in recs) / len(recs)  # noqa: E731
    assert share(small.train) == pytest.approx(share(full[0]), abs=0.01)
    assert utility.entry_fingerprint(cfg, "sms", "eda") != utility.entry_fingerprint(utility.Config(), "sms", "eda")


@pytest.mark.parametrize("spec", ["0.5,0.2", "0.1", "a,b", "0,0.3", "0.2,1"])
def test_pe_lam_refuses_a_bad_range(spec):
    import utility

    with pytest.raises(SystemExit, match="--pe-lam"):
        utility.parse_lam(spec)
    assert utility.parse_lam("0.02,0.25") == (0.02, 0.25)


def test_prompts_only_row_reads_labels_but_no_member_text(tiny_bridge):
    """The control for the DP votes: the public LM writes from the class prompts alone."""
    from types import SimpleNamespace

    from utility import ROWS, Config, generate_privsynth

    class Untouchable(list):
        def __iter__(self):
            raise AssertionError("a member text was read")

        __getitem__ = __iter__

    labels = ["spam"] * 3 + ["ham"] * 9
    texts = Untouchable(["secret"] * 12)
    prompts = {"spam": "win a prize now", "ham": "see you at lunch"}
    out_t, out_y, info = generate_privsynth(
        "prompts",
        texts,
        labels,
        seed=0,
        cfg=Config(),
        models=SimpleNamespace(bridge=tiny_bridge),
        n=8,
        class_prompts=prompts,
    )
    assert len(out_t) == 8 and out_y.count("spam") == 2 and out_y.count("ham") == 6
    assert all(isinstance(t, str) and t for t in out_t)
    assert info["members_read"].startswith("labels only") and ROWS["prompts-only"].default is False
    again = generate_privsynth(
        "prompts",
        texts,
        labels,
        seed=0,
        cfg=Config(),
        models=SimpleNamespace(bridge=tiny_bridge),
        n=8,
        class_prompts=prompts,
    )
    assert again[0] == out_t


def test_generate_only_writes_a_generation_that_a_later_run_reuses(tiny_bridge, tmp_path):
    """The GPU split of the work: generate there, audit and classify here, same fingerprint."""
    from types import SimpleNamespace

    import utility

    cfg = utility.Config(n_synth=6, bridge="/one/machine/bridge.safetensors", bridge_sha256="ab" * 32)
    moved = utility.Config(n_synth=6, bridge="/another/machine/bridge.safetensors", bridge_sha256="ab" * 32)
    fp = utility.entry_fingerprint(cfg, "sms", "prompts-only")
    assert fp == utility.entry_fingerprint(moved, "sms", "prompts-only")  # the path is not the weights
    assert fp != utility.entry_fingerprint(utility.Config(n_synth=6, bridge_sha256="cd" * 32), "sms", "prompts-only")
    train = [splits.Record(str(i), f"text {i}", "spam" if i < 4 else "ham") for i in range(12)]
    data = utility.Data(train, train[:4])
    models = SimpleNamespace(_bridge=tiny_bridge, bridge=tiny_bridge)
    out = utility.run_entry(
        "sms", "prompts-only", 0, data, cfg, models, tmp_path, print, fingerprint=fp, generate_only=True
    )
    files = list(tmp_path.glob(f"sms-prompts-only-seed0-{fp}.json"))
    assert out is None and len(files) == 1
    saved = json.loads(files[0].read_text())
    assert len(saved["texts"]) == 6 and saved["info"]["machine"]["device"] == "cpu"
    reused = utility._cached_generation(files[0], lambda: pytest.fail("generated again"))
    assert reused["texts"] == saved["texts"]


def test_reaudit_replaces_the_audit_of_recorded_entries_with_the_right_sets(tmp_path, monkeypatch):
    """After an auditor change: audit the cached generations again, members and holdout as the
    generator saw them (spam only for the minority row), other numbers untouched."""
    import utility

    train = [splits.Record(str(i), f"train {i}", "spam" if i < 3 else "ham") for i in range(10)]
    test = [splits.Record(f"t{i}", f"test {i}", "spam" if i < 2 else "ham") for i in range(6)]
    monkeypatch.setattr(utility, "load_data", lambda ds, cfg: utility.Data(train, test))
    calls = []
    monkeypatch.setattr(
        utility,
        "run_audit",
        lambda m, h, s, seed, enc: calls.append((m, h, s, seed)) or {"failed_checks": [], "decision": "pass"},
    )
    gen = tmp_path / "gen.json"
    gen.write_text(json.dumps({"texts": ["syn a", "syn b"], "labels": ["spam", "spam"], "info": {}}))
    store = report.ResultStore(tmp_path / "u.json", {}, {"started": "now"})
    for row in ("real+synth-spam", "synth-none"):
        store.add(
            {
                "key": f"sms/{row}/1",
                "dataset": "sms",
                "row": row,
                "seed": 1,
                "metrics": {"x": 1},
                "audit": {"failed_checks": ["dcr_share"]},
                "synthetic_file": str(gen),
                "fingerprint": utility.entry_fingerprint(utility.Config(), "sms", row),
            }
        )
    store.add(
        {
            "key": "sms/synth-dp-eps1/1",
            "dataset": "sms",
            "row": "synth-dp-eps1",
            "seed": 1,
            "metrics": {"x": 3},
            "audit": {"failed_checks": ["old"]},
            "synthetic_file": str(gen),
            "fingerprint": "other options",
        }
    )
    store.add({"key": "sms/real/1", "dataset": "sms", "row": "real", "seed": 1, "metrics": {"x": 2}})
    from types import SimpleNamespace

    utility.reaudit(store, utility.Config(), SimpleNamespace(audit_encoder=None), lambda msg: None)
    (m1, h1, s1, seed1), (m2, h2, _, _) = calls
    assert m1 == ["train 0", "train 1", "train 2"] and h1 == ["test 0", "test 1"] and s1 == ["syn a", "syn b"]
    assert len(m2) == 10 and len(h2) == 6 and seed1 == 1 and len(calls) == 2
    saved = json.loads((tmp_path / "u.json").read_text())["entries"]
    assert {e["key"]: e["audit"]["failed_checks"] for e in saved if "audit" in e} == {
        "sms/real+synth-spam/1": [],
        "sms/synth-none/1": [],
        "sms/synth-dp-eps1/1": ["old"],
    }  # other options: kept
    assert sorted((e["key"], e["metrics"]["x"]) for e in saved) == [
        ("sms/real+synth-spam/1", 1),
        ("sms/real/1", 2),
        ("sms/synth-dp-eps1/1", 3),
        ("sms/synth-none/1", 1),
    ]


def test_reaudit_keeps_to_the_selected_datasets_and_rows(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import utility

    monkeypatch.setattr(utility, "load_data", lambda ds, cfg: utility.Data([], []))
    seen = []
    monkeypatch.setattr(utility, "run_audit", lambda m, h, s, seed, enc: {"failed_checks": []})
    monkeypatch.setattr(utility, "audit_sets", lambda ds, row, data: seen.append((ds, row)) or ([], []))
    gen = tmp_path / "gen.json"
    gen.write_text(json.dumps({"texts": ["s"], "labels": ["ham"], "info": {}}))
    store = report.ResultStore(tmp_path / "u.json", {}, {"started": "now"})
    for ds, row in (("sms", "synth-none"), ("rt", "synth-none"), ("sms", "synth-dp-eps4")):
        store.add(
            {
                "key": f"{ds}/{row}/0",
                "dataset": ds,
                "row": row,
                "seed": 0,
                "audit": {},
                "synthetic_file": str(gen),
                "fingerprint": utility.entry_fingerprint(utility.Config(), ds, row),
            }
        )
    utility.reaudit(
        store,
        utility.Config(),
        SimpleNamespace(audit_encoder=None),
        lambda m: None,
        datasets=["sms"],
        rows=["synth-none", "synth-noise"],
    )
    assert seen == [("sms", "synth-none")]


def test_coverage_reads_how_near_and_how_spread_a_training_set_sits_to_the_test_split():
    from types import SimpleNamespace

    import synth_coverage as coverage
    import utility
    from conftest import HashingEncoder

    spam = ["win a free prize now", "claim your cash prize", "free entry win cash", "text WIN to claim"]
    ham = ["see you at lunch", "are we meeting later", "call me when you get home", "sorry running late"]
    test = [splits.Record(str(i), t, "spam" if t in spam else "ham") for i, t in enumerate(spam + ham)]
    data = utility.Data(train=[], test=test)
    models = SimpleNamespace(embed=HashingEncoder().encode)
    cfg = utility.Config()

    same = coverage.measure(spam + ham, ["spam"] * 4 + ["ham"] * 4, data, "sms", models, cfg)
    assert same["coverage"] == {"ham": pytest.approx(1.0), "spam": pytest.approx(1.0)}
    assert same["support"] == {"ham": pytest.approx(4.0), "spam": pytest.approx(4.0)}
    assert same["nn_macro_f1"] == 1.0 and same["distinct"] == 1.0

    # one record per class, each copied: the set is as large but sits on one point per class
    narrow = coverage.measure([spam[0]] * 4 + [ham[0]] * 4, ["spam"] * 4 + ["ham"] * 4, data, "sms", models, cfg)
    assert narrow["support"] == {"ham": pytest.approx(1.0), "spam": pytest.approx(1.0)}
    assert narrow["coverage"]["spam"] < 1.0 and narrow["distinct"] == 0.25
    # a class the set lacks has no coverage, and the summary keeps mean and sd per class
    one_class = coverage.measure(ham, ["ham"] * 4, data, "sms", models, cfg)
    assert one_class["coverage"]["spam"] == 0.0
    row = coverage.summarise("x", [same, narrow])
    assert row["support_spam"] == {"mean": pytest.approx(2.5), "sd": pytest.approx(2.1213, abs=1e-3), "n": 2}
    assert "| x | 2 | 8 |" in coverage.report("sms", [row])
