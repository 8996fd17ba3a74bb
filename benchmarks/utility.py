"""Utility benchmark: train on synthetic (or augmented, or privately trained), test on real.

Every row trains two downstream classifiers -- TF-IDF + logistic regression and logistic
regression on MiniLM embeddings -- and scores them on the fixed real test split
(`benchmarks/splits/`, never seen by any generator): accuracy, macro-F1 and, on SMS, the
spam-class F1; mean and sd over the seeds. Each privsynth (and DP fine-tuned generator) run
also records its wall time, peak memory and the auditor's headline figures
(`audits.run(members=train, holdout=test, synthetic)`), so utility and leakage sit in one table.

Rows (`--rows`, comma-separated, shell patterns allowed, e.g. `synth-dp-*`); time on 2 busy
CPU cores, candidates 8 unless said:
  real               train on the real training split (the ceiling)               seconds
  synth-none         privsynth mode none, synthetic only (SMOTExT)                 ~1-3 s per synthetic record
  synth-noise        mode noise, scale 1.0 (median NN distances), synthetic only   as synth-none
  synth-dp-eps{1,4,8} mode dp (Private Evolution), synthetic only                  ~1-3 s per decode; decodes =
                     2*P (initial) + (T-1)*2*(P - P/4) + n  (P population per class, T rounds; 2 classes)
  real+synth-spam    SMS: real + privsynth (mode none) spam records                as synth-none, n = --n-minority
  eda                SMS: real + EDA variants of real spam (random swap/deletion)   seconds
  oversample         SMS: real + copies of real spam (random oversampling)          seconds
  dpsgd-eps{1,4,8}   DP-SGD logistic regression on the real data (opacus), delta as privsynth's dp rows
                     (hashed tf features for the TF-IDF column, MiniLM embeddings)   ~1 min per epsilon
  dpgen-eps4         DP-SGD LoRA fine-tuned SmolLM2, label-prompted sampling (dp-transformers recipe);
                     not in the default rows: on 2 CPU cores 22 s a DP-SGD step and 17 GB, so SMS (210 steps)
                     takes 57 min and RT (483) over 2 h; on a GPU (`--device cuda`) 3-7 min

The full run (default) is many hours on CPU: it is resumable. Results go to
`benchmarks/results/utility.json` one entry per finished (dataset, row, seed), written
atomically; started again with the same options it skips finished entries (an entry whose
options changed, e.g. a new bridge, is recomputed). Generated texts are kept beside the JSON
(`<out stem>_synthetic/`), so a crash after a long generation does not lose it.

Usage:
  python benchmarks/utility.py --quick --rows real,eda,dpsgd-*           # minutes
  python benchmarks/utility.py                                            # full (resumable)
  python benchmarks/utility.py --rows synth-dp-eps4 --datasets sms --seeds 0
  python benchmarks/utility.py --datasets sms --rows real,real+synth-spam,eda,oversample --n-train 500 \
      --out benchmarks/results/utility_small500.json        # the small-data case for minority augmentation

Split across machines: `--generate-only --device cuda` on a GPU machine writes just the
generations into `<out stem>_synthetic/` (it needs neither presidio nor the auditor); copy that
folder back and run the same command without `--generate-only`: it audits, classifies and
records each entry, reusing the generations (same options, same fingerprint). Each generation
records the machine it ran on, and the table shows it.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import platform
import resource
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import splits  # noqa: E402
import utility_report as report  # noqa: E402

from privsynth.errors import UserError  # noqa: E402
from privsynth.io import write_json_atomic  # noqa: E402

RESULTS = HERE / "results"
POSITIVE = {"sms": "spam"}  # the minority class whose F1 is reported


class Row(NamedTuple):
    kind: str  # real | synth | minority | eda | oversample | dpsgd | dpgen
    label: str
    datasets: tuple[str, ...]
    mode: str | None = None
    epsilon: float | None = None
    default: bool = True
    uses_bridge: bool = False


ROWS: dict[str, Row] = {
    "real": Row("real", "train on real (ceiling)", ("sms", "rt")),
    "synth-none": Row("synth", "privsynth none, synthetic only", ("sms", "rt"), "none", uses_bridge=True),
    "synth-noise": Row("synth", "privsynth noise 1.0, synthetic only", ("sms", "rt"), "noise", uses_bridge=True),
    **{
        f"synth-dp-eps{e}": Row(
            "synth", f"privsynth dp eps {e}, synthetic only", ("sms", "rt"), "dp", float(e), uses_bridge=True
        )
        for e in (1, 4, 8)
    },
    # Aug-PE's random API alone: what the public LM writes from the class prompts, no member text
    # read (class shares as in the data). The control that shows what the members' DP votes add.
    "prompts-only": Row(
        "synth",
        "public LM from class prompts only (no member data)",
        ("sms", "rt"),
        "prompts",
        default=False,
        uses_bridge=True,
    ),
    "real+synth-spam": Row("minority", "real + privsynth spam (none)", ("sms",), "none", uses_bridge=True),
    "eda": Row("eda", "real + EDA spam (swap, deletion)", ("sms",)),
    "oversample": Row("oversample", "real + copies of real spam (random oversampling)", ("sms",)),
    **{f"dpsgd-eps{e}": Row("dpsgd", f"DP-SGD classifier eps {e}", ("sms", "rt"), epsilon=float(e)) for e in (1, 4, 8)},
    "dpgen-eps4": Row("dpgen", "DP fine-tuned generator eps 4", ("sms", "rt"), epsilon=4.0, default=False),
}


@dataclass
class Config:
    """Every option an entry's numbers depend on (seeds, rows and datasets only select entries)."""

    quick: bool = False
    n_train: int | None = None  # None: the whole training split
    n_test: int | None = None
    n_synth: int | None = 1000  # synthetic records per run, class shares as in the data
    n_synth_per_class: int | None = None  # or this many per class (quick)
    n_minority: int | None = None  # synthetic spam added in real+synth-spam / eda; None: as many as real spam
    candidates: int = 8
    noise_scale: float = 1.0
    pe_rounds: int = 5
    pe_population: int = 64
    pe_prompts: bool = False  # seed PE with CLASS_PROMPTS (Aug-PE's random API)
    pe_judge: float = 0.25  # PrivateEvolution(class_judge=JudgeConfig(share=...)), privsynth's default; 0: off
    pe_class_check: int = 2  # PrivateEvolution(class_check_rounds=...)
    pe_vote: str = "all"  # PrivateEvolution(vote=...)
    pe_lam: str | None = None  # "LO,HI": PrivateEvolution(lam_range=...); None: its default
    pe_elite: float | None = None  # PrivateEvolution(elite_fraction=...); None: its default
    pe_minlen: float = 0.0  # PrivateEvolution(min_length_share=...), always passed
    pe_final_k: int | None = None  # PrivateEvolution(final_neighbors=...); None: its default (k_neighbors)
    pe_gate_share: float = 0.2  # share of rho a release's DP gate takes (privsynth's shipped policy)
    class_check: int = 4  # SMOTExT(class_check_rounds=...), modes none/noise
    dpsgd_epochs: int = 20
    dpgen_epochs: int = 3
    dpgen_batch: int = 64
    classifier_C: float = 10.0
    audit: bool = True
    bridge: str | None = None
    bridge_sha256: str | None = None

    @classmethod
    def quick_defaults(cls) -> Config:
        return cls(
            quick=True,
            n_train=300,
            n_test=200,
            n_synth=None,
            n_synth_per_class=5,
            n_minority=10,
            candidates=2,
            pe_rounds=2,
            pe_population=8,
            dpsgd_epochs=10,
            dpgen_epochs=1,
            dpgen_batch=16,
        )


# -- data and models ---------------------------------------------------------------------------------------


class Data(NamedTuple):
    train: list[splits.Record]
    test: list[splits.Record]


def load_data(dataset: str, cfg: Config) -> Data:
    train, test = splits.load_split(dataset)
    if cfg.n_train:
        train = splits.subsample(train, cfg.n_train, seed=0)
    if cfg.n_test:
        test = splits.subsample(test, cfg.n_test, seed=0)
    return Data(train, test)


class CachedEncoder:
    """An encoder's vectors kept by text: every entry of a dataset encodes the same training and
    test texts, which need encoding once, not once per entry. Loads the encoder on first use."""

    def __init__(self, load) -> None:
        self._load, self._encoder = load, None
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self._load()
        return self._encoder

    @property
    def name(self) -> str:
        return self.encoder.name

    def encode(self, texts) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self._vectors[t] for t in texts]) if len(texts) else np.zeros((0, 384), np.float32)


class Models:
    """privsynth's encoder and bridge and the auditor's own encoder, each loaded once; both
    encoders keep their vectors by text."""

    def __init__(self, cfg: Config, device: str = "cpu"):
        from audits.encoder import load_encoder
        from privsynth.encoder import Encoder

        self.cfg, self.device = cfg, device
        self._bridge = None
        self._privsynth = CachedEncoder(lambda: Encoder(device=device))
        self.audit_encoder = CachedEncoder(lambda: load_encoder(None))

    @property
    def encoder(self):
        return self._privsynth.encoder

    @property
    def bridge(self):
        if self._bridge is None:
            from privsynth.bridge import Bridge

            self._bridge = Bridge.load(ROOT / self.cfg.bridge).to(self.device)
        return self._bridge

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._privsynth.encode(texts)


# -- classifiers -------------------------------------------------------------------------------------------


def metrics(y_true: list[str], y_pred, dataset: str) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    labels = sorted(set(y_true))
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    if dataset in POSITIVE:
        out["spam_f1"] = float(f1_score(y_true, y_pred, labels=[POSITIVE[dataset]], average="macro", zero_division=0))
    return out


def _fit_predict(X_train, y_train: list[str], X_test, C: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    if len(set(y_train)) < 2:  # a generator that produced one class: the classifier can only say that
        return np.array([y_train[0] if y_train else ""] * X_test.shape[0], dtype=object)
    return LogisticRegression(C=C, max_iter=3000).fit(X_train, y_train).predict(X_test)


def classify(
    train_texts: list[str], train_labels: list[str], data: Data, dataset: str, models: Models, cfg: Config
) -> dict[str, dict[str, float]]:
    """Both downstream classifiers (fixed hyperparameters, never tuned on the test split)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    test_texts, test_labels = [r.text for r in data.test], [r.label for r in data.test]
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    Xtr = tfidf.fit_transform(train_texts)
    pred_tfidf = _fit_predict(Xtr, train_labels, tfidf.transform(test_texts), cfg.classifier_C)
    pred_mini = _fit_predict(models.embed(train_texts), train_labels, models.embed(test_texts), cfg.classifier_C)
    return {
        "tfidf_lr": metrics(test_labels, pred_tfidf, dataset),
        "minilm_lr": metrics(test_labels, pred_mini, dataset),
    }


def class_keeping(
    real_texts: list[str], real_labels: list[str], syn_texts: list[str], syn_labels: list[str], cfg: Config, embed=None
) -> dict[str, float]:
    """Share of synthetic records that a classifier trained on the REAL training split labels
    with their assigned class: per class and the macro mean (does the generator keep the class?).

    TF-IDF + LR by default (word choice); with ``embed`` (texts -> vectors), LR on those
    sentence vectors (meaning: an offer worded in plain English is still an offer)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not syn_texts:
        return {}
    if embed is not None:
        pred = _fit_predict(embed(real_texts), real_labels, embed(syn_texts), cfg.classifier_C)
    else:
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        pred = _fit_predict(tfidf.fit_transform(real_texts), real_labels, tfidf.transform(syn_texts), cfg.classifier_C)
    out = {}
    for c in sorted(set(syn_labels)):
        rows = [i for i, y in enumerate(syn_labels) if y == c]
        out[c] = float(np.mean([pred[i] == c for i in rows]))
    out["macro"] = float(np.mean([out[c] for c in sorted(set(syn_labels))]))
    return out


# -- measuring a generation run ------------------------------------------------------------------------------


class Measure:
    """Wall time and peak resident memory of a block: /proc/self/status VmRSS sampled every
    0.2 s (torch's allocations are invisible to tracemalloc), plus getrusage's process peak."""

    def __enter__(self) -> Measure:
        self.peak_kb, self._stop = _rss_kb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_kb = max(self.peak_kb, _rss_kb())

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _rss_kb())

    def as_dict(self, n_synthetic: int, device: str = "cpu") -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 2),
            "n_synthetic": n_synthetic,
            "s_per_record": round(self.wall_s / max(n_synthetic, 1), 3),
            "peak_rss_mb": round(self.peak_kb / 1024, 1),
            "process_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "machine": machine_info(device),
        }


def machine_info(device: str) -> dict[str, Any]:
    """Where a generation ran: its timings mean nothing without this (CPU cores, torch threads, GPU)."""
    import torch

    out: dict[str, Any] = {
        "device": device,
        "cpus": _cpus(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    return out


def _rss_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# Public descriptions of each dataset's classes, written from the label names alone (no record
# was read to write them): what `--class-prompt` gets when --pe-prompts is on.
CLASS_PROMPTS = {
    "sms": {
        "spam": "Write one short spam text message (SMS) advertising a prize, a free offer or a paid service.",
        "ham": "Write one short, casual text message (SMS) from a person to a friend or family member.",
    },
    "rt": {
        "fresh": "Write one sentence from a positive film review by a critic.",
        "rotten": "Write one sentence from a negative film review by a critic.",
    },
}


# -- generation ------------------------------------------------------------------------------------------------


def data_class_sizes(labels: list[str], n: int | None, n_per_class: int | None) -> dict[str, int]:
    """Synthetic class sizes that follow the training labels (or n_per_class each)."""
    from privsynth.smotext import class_sizes

    return class_sizes({c: labels.count(c) for c in sorted(set(labels))}, n, n_per_class)


def generate_privsynth(
    mode: str,
    texts: list[str],
    labels: list[str],
    *,
    seed: int,
    cfg: Config,
    models: Models,
    epsilon: float | None = None,
    n: int | None = None,
    n_per_class: int | None = None,
    class_prompts: dict[str, str] | None = None,
):
    """privsynth's library calls, as `privsynth generate` makes them: (texts, labels, info)."""
    from privsynth.smotext import SMOTExT

    info: dict[str, Any] = {"mode": mode, "candidates": cfg.candidates, "members": len(texts)}
    if mode == "prompts":
        out_t, out_y = [], []
        for i, (c, k) in enumerate(data_class_sizes(labels, n, n_per_class).items()):
            out_t += models.bridge.sample_prompted(class_prompts[c], k, seed=seed * 1000 + i)
            out_y += [c] * k
        info.update(class_prompts=class_prompts, members_read="labels only (class shares)")
        return out_t, out_y, info
    if mode == "dp":  # privsynth's one dp path, with a release's budget split (its gate's share included)
        from privsynth.generate import private_evolution, run_private_evolution

        given = {}  # options left at None keep PrivateEvolution's own defaults
        if cfg.pe_lam:
            given["lam_range"] = parse_lam(cfg.pe_lam)
        if cfg.pe_elite is not None:
            given["elite_fraction"] = cfg.pe_elite
        if cfg.pe_final_k is not None:
            given["final_neighbors"] = cfg.pe_final_k
        pe = private_evolution(
            epsilon=epsilon,
            rounds=cfg.pe_rounds,
            population_per_class=cfg.pe_population,
            n_candidates=cfg.candidates,
            labels=sorted(set(labels)),
            class_prompts=class_prompts if cfg.pe_prompts else None,
            class_check=cfg.pe_class_check,
            vote=cfg.pe_vote,
            judge_share=cfg.pe_judge,
            gate_share=cfg.pe_gate_share,
            min_length_share=cfg.pe_minlen,
            **given,
        )
        out_t, out_y, ledger, *_ = run_private_evolution(
            pe, texts, labels, encoder=models.encoder, bridge=models.bridge, n=n, n_per_class=n_per_class, seed=seed
        )
        info.update(
            vote=cfg.pe_vote,
            lam_range=list(pe.lam_range),
            elite_fraction=pe.elite_fraction,
            final_neighbors=pe.final_neighbors,
            gate_share=cfg.pe_gate_share,
            min_length_share=pe.min_length_share,
            epsilon=ledger.epsilon,
            delta=ledger.delta,
            accountant=ledger.accountant,
            rounds=cfg.pe_rounds,
            population_per_class=cfg.pe_population,
            class_prompts=class_prompts if cfg.pe_prompts else None,
            class_judge=(None if getattr(pe, "judge_", None) is None else {"share": cfg.pe_judge, **pe.judge_.info}),
            class_mismatch=(getattr(pe, "class_mismatch_initial_", None), getattr(pe, "class_mismatch_", None)),
            tidy=(pe.tidy_rounds, getattr(pe, "tidy_initial_", None), getattr(pe, "tidy_left_", None)),
        )
        from privsynth.diversity import diversity

        info["diversity"] = diversity(out_t)
        return list(out_t), [str(y) for y in out_y], info
    gen = SMOTExT(
        n_candidates=cfg.candidates,
        encoder=models.encoder,
        bridge=models.bridge,
        class_check_rounds=cfg.class_check,
        random_state=seed,
    )
    gen.fit(texts, labels, vectors=models.embed(texts))
    transform = None
    if mode == "noise":
        from privsynth.privacy.noise import noise_transform

        transform = noise_transform(gen.X_, scale=cfg.noise_scale, seed=seed)
        info["noise_scale"] = cfg.noise_scale
    out_t, out_y = gen.generate(n=n, n_per_class=n_per_class, transform=transform)
    info["rejected_copies"] = int(getattr(gen, "rejected_", 0))
    info["class_check"] = cfg.class_check
    if cfg.class_check:
        info["class_mismatch"] = (getattr(gen, "class_mismatch_initial_", None), getattr(gen, "class_mismatch_", None))
    return out_t, out_y, info


def run_audit(members: list[str], holdout: list[str], synthetic: list[str], seed: int, encoder) -> dict[str, Any]:
    import audits

    t0 = time.perf_counter()
    rep = audits.run(members, holdout, synthetic, seed=seed, encoder=encoder)
    mia, tpr, dup, dcr = (rep.check(n) for n in ("mia_auc", "mia_tpr_at_1pct_fpr", "exact_duplicates", "dcr_share"))
    return {
        "mia_auc": mia.value,
        "mia_auc_ci_high": mia.ci_high,
        "mia_tpr_at_1pct_fpr": tpr.value,
        "exact_duplicates": dup.value,
        "near_duplicates": rep.check("near_duplicates").value,
        "dcr_share": dcr.value,
        "dcr_share_ci_low": dcr.ci_low,
        "dcr_share_ci_high": dcr.ci_high,
        "dcr_share_p_value": dcr.evidence.get("p_value"),
        "decision": rep.decision,
        "failed_checks": [c.name for c in rep.checks if not c.passed],
        "audit_s": round(time.perf_counter() - t0, 1),
    }


def _cached_generation(path: Path, make) -> dict[str, Any]:
    """Generated texts survive a crash of what follows: reuse ``path`` if it exists."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    texts, labels, info = make()
    out = {"texts": texts, "labels": labels, "info": info}
    write_json_atomic(path, out)
    return out


#: row kinds whose entry starts with a generation (cached in the _synthetic folder)
GENERATING = ("synth", "minority", "dpgen")


# -- one entry --------------------------------------------------------------------------------------------------


def parse_lam(spec: str) -> tuple[float, float]:
    """ "LO,HI" -> (LO, HI), 0 < LO <= HI < 1 (SMOTExT's own check)."""
    try:
        lo, hi = (float(x) for x in spec.split(","))
    except ValueError:
        raise SystemExit(f"--pe-lam takes LO,HI (e.g. 0.02,0.25); got {spec!r}") from None
    if not 0 < lo <= hi < 1:
        raise SystemExit(f"--pe-lam: need 0 < LO <= HI < 1; got {spec!r}")
    return lo, hi


def synth_sizes(cfg: Config, n_members: int) -> tuple[int | None, int | None]:
    if cfg.n_synth_per_class:
        return None, cfg.n_synth_per_class
    return min(cfg.n_synth or n_members, n_members), None


def generation_path(synth_dir: Path, dataset: str, name: str, seed: int, fingerprint: str) -> Path:
    """Named by the options' fingerprint: a generation made with other options is never reused."""
    return synth_dir / f"{dataset}-{name}-seed{seed}-{fingerprint}.json"


def audit_sets(dataset: str, name: str, data: Data) -> tuple[list[str], list[str]]:
    """(members, holdout) texts of a generating row: what the generator read, and its control."""
    if ROWS[name].kind == "minority":
        pos = POSITIVE[dataset]
        return [r.text for r in data.train if r.label == pos], [r.text for r in data.test if r.label == pos]
    return [r.text for r in data.train], [r.text for r in data.test]


def reaudit(
    store: report.ResultStore,
    cfg: Config,
    models: Models,
    log,
    *,
    datasets: list[str] | None = None,
    rows: list[str] | None = None,
) -> None:
    """Run the current auditor again on every recorded entry (of ``datasets`` and ``rows``, when
    given) whose generation is cached, and replace its audit record (after a change to the
    auditor); other numbers stay as recorded."""
    data = functools.cache(functools.partial(load_data, cfg=cfg))
    for entry in list(store.entries):
        path = ROOT / entry.get("synthetic_file", "")
        if "audit" not in entry or not path.is_file():
            continue
        if datasets is not None and entry["dataset"] not in datasets:
            continue
        if rows is not None and entry["row"] not in rows:
            continue
        ds = entry["dataset"]
        if entry.get("fingerprint") != entry_fingerprint(cfg, ds, entry["row"]):
            log(f"{entry['key']}: recorded with other options than this command's, not re-audited")
            continue
        members, holdout = audit_sets(ds, entry["row"], data(ds))
        gen = json.loads(path.read_text(encoding="utf-8"))
        entry["audit"] = run_audit(members, holdout, gen["texts"], entry["seed"], models.audit_encoder)
        entry["audit"]["reaudited"] = store.data["runs"][-1]["started"]
        store.add(entry)
        log(f"{entry['key']}: re-audited, failed checks {entry['audit']['failed_checks'] or 'none'}")


def run_entry(
    dataset: str,
    name: str,
    seed: int,
    data: Data,
    cfg: Config,
    models: Models,
    synth_dir: Path,
    log,
    device: str = "cpu",
    fingerprint: str = "",
    generate_only: bool = False,
) -> dict[str, Any] | None:
    """One (dataset, row, seed) entry; with ``generate_only`` just the (cached) generation, and None."""
    row = ROWS[name]
    texts, labels = [r.text for r in data.train], [r.label for r in data.train]
    test_texts = [r.text for r in data.test]
    entry: dict[str, Any] = {"n_train_real": len(texts), "n_test": len(test_texts)}
    stem = generation_path(synth_dir, dataset, name, seed, fingerprint)
    pos = POSITIVE.get(dataset)
    n_minority = cfg.n_minority or sum(y == pos for y in labels)

    if row.kind == "real":
        train_t, train_y = texts, labels
    elif row.kind in GENERATING:
        members, holdout = audit_sets(dataset, name, data)
        gen_texts = members
        if row.kind == "minority" and cfg.class_check:
            # every class is read, so the class check can tell spam from ham; only spam is made
            gen_texts, member_labels, n, npc = texts, labels, None, {pos: n_minority}
        elif row.kind == "minority":
            n, npc, member_labels = n_minority, None, [pos] * len(members)
        else:
            member_labels = labels
            n, npc = synth_sizes(cfg, len(texts))

        if row.uses_bridge and models._bridge is None:  # load once, outside the measured generation
            t0 = time.perf_counter()
            _ = (models.bridge, models.encoder.st)
            entry["model_load_s"] = round(time.perf_counter() - t0, 1)

        def make():
            with Measure() as m:
                if row.kind == "dpgen":
                    from utility_baselines import dp_finetune_generate

                    from privsynth.privacy.planner import DEFAULT_DELTA

                    out = dp_finetune_generate(
                        members,
                        member_labels,
                        data_class_sizes(labels, n, npc),
                        epsilon=row.epsilon,
                        delta=DEFAULT_DELTA,
                        epochs=cfg.dpgen_epochs,
                        batch_size=cfg.dpgen_batch,
                        device=device,
                        seed=seed,
                        log=log,
                    )
                else:
                    out = generate_privsynth(
                        row.mode,
                        gen_texts,
                        member_labels,
                        seed=seed,
                        cfg=cfg,
                        models=models,
                        epsilon=row.epsilon,
                        n=n,
                        n_per_class=npc,
                        class_prompts=CLASS_PROMPTS.get(dataset),
                    )
            out[2].update(m.as_dict(len(out[0]), device))
            return out

        gen = _cached_generation(stem, make)
        if generate_only:
            return None
        entry["generation"] = gen["info"]
        entry["synthetic_file"] = str(stem.relative_to(ROOT)) if stem.is_relative_to(ROOT) else str(stem)
        if row.uses_bridge:
            entry["generation"]["bridge_sha256"] = cfg.bridge_sha256
        log(
            f"  generated {len(gen['texts'])} records in {gen['info']['wall_s']:.0f}s "
            f"({gen['info']['s_per_record']:.2f} s/record, peak RSS {gen['info']['peak_rss_mb']:.0f} MB)"
        )
        if cfg.audit:
            entry["audit"] = run_audit(members, holdout, gen["texts"], seed, models.audit_encoder)
            log(
                f"  audit: MIA AUC {entry['audit']['mia_auc']:.3f}, "
                f"TPR@1%FPR {entry['audit']['mia_tpr_at_1pct_fpr']:.3f}, "
                f"exact duplicates {entry['audit']['exact_duplicates']:.0f} ({entry['audit']['audit_s']:.0f}s)"
            )
        entry["class_keeping"] = class_keeping(texts, labels, gen["texts"], gen["labels"], cfg)
        entry["class_keeping_minilm"] = class_keeping(
            texts, labels, gen["texts"], gen["labels"], cfg, embed=models.embed
        )
        if row.kind == "minority":
            train_t, train_y = texts + gen["texts"], labels + gen["labels"]
        else:
            train_t, train_y = gen["texts"], gen["labels"]
        entry["examples"] = gen["texts"][:3]
    elif row.kind == "eda":
        from utility_baselines import EDA_NOTE, EDA_OPERATIONS, eda_minority

        extra = eda_minority([t for t, y in zip(texts, labels) if y == pos], n_minority, seed=seed)
        train_t, train_y = texts + extra, labels + [pos] * len(extra)
        entry["eda"] = {"operations": EDA_OPERATIONS, "note": EDA_NOTE, "alpha": 0.1, "n_added": len(extra)}
        entry["examples"] = extra[:3]
    elif row.kind == "oversample":
        from utility_baselines import oversample_minority

        extra = oversample_minority([t for t, y in zip(texts, labels) if y == pos], n_minority, seed=seed)
        train_t, train_y = texts + extra, labels + [pos] * len(extra)
        entry["oversample"] = {"n_added": len(extra)}
    elif row.kind == "dpsgd":
        from utility_baselines import dpsgd_logreg, hashed_features

        from privsynth.privacy.planner import DEFAULT_DELTA

        classes = sorted(set(labels))
        y = np.array([classes.index(v) for v in labels])
        delta = DEFAULT_DELTA
        test_labels = [r.label for r in data.test]
        entry["metrics"], entry["dpsgd"] = {}, {}
        for clf, (Xtr, Xte) in {
            "tfidf_lr": (hashed_features(texts), hashed_features(test_texts)),
            "minilm_lr": (models.embed(texts), models.embed(test_texts)),
        }.items():
            pred, info = dpsgd_logreg(
                Xtr,
                y,
                Xte,
                epsilon=row.epsilon,
                delta=delta,
                n_classes=len(classes),
                epochs=cfg.dpsgd_epochs,
                seed=seed,
            )
            entry["metrics"][clf] = metrics(test_labels, [classes[i] for i in pred], dataset)
            entry["dpsgd"][clf] = {
                **info,
                "features": "hashed tf (2^14, no IDF)" if clf == "tfidf_lr" else "MiniLM embeddings (public encoder)",
            }
        return entry
    else:  # pragma: no cover - ROWS is closed
        raise ValueError(row.kind)
    entry["n_train"] = len(train_t)
    entry["metrics"] = classify(train_t, train_y, data, dataset, models, cfg)
    return entry


# -- the run ------------------------------------------------------------------------------------------------------


def select_rows(spec: str | None) -> list[str]:
    if not spec:
        return [n for n, r in ROWS.items() if r.default]
    if spec == "all":
        return list(ROWS)
    out: list[str] = []
    for pat in (s.strip() for s in spec.split(",") if s.strip()):
        hits = [n for n in ROWS if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise SystemExit(f"--rows: no row matches {pat!r}; rows: {', '.join(ROWS)}")
        out += [h for h in hits if h not in out]
    return out


# Options added after results were published: at these values they change nothing, so they are
# left out of the fingerprint and earlier entries stay valid.
_LATER_OPTIONS = {
    "pe_class_check": 0,
    "pe_vote": "own-class",
    "pe_lam": None,
    "pe_elite": None,
    "pe_minlen": 0.0,
    "class_check": 0,
    "pe_judge": 0.0,
    "pe_final_k": None,
    "pe_gate_share": 0.0,
}


def entry_fingerprint(cfg: Config, dataset: str, name: str) -> str:
    d = asdict(cfg)
    d["pe_adapt"] = False  # a removed option, recorded at the only value it has now
    for k, neutral in _LATER_OPTIONS.items():
        if d.get(k) == neutral:
            d.pop(k)
    d.pop("bridge")  # a path, which differs between machines; the sha256 names the weights
    if ROWS[name].mode != "dp":
        for k in (
            "pe_vote",
            "pe_lam",
            "pe_elite",
            "pe_minlen",
            "pe_judge",
            "pe_final_k",
            "pe_gate_share",
        ):  # only Private Evolution reads them
            d.pop(k, None)
    if ROWS[name].mode not in ("none", "noise"):
        d.pop("class_check", None)  # only SMOTExT reads it
    if not ROWS[name].uses_bridge:
        d.pop("bridge_sha256")
    return report.fingerprint({"config": d, "dataset": dataset, "row": name, "split": splits.SPLIT_FILES[dataset]})


def run_info(argv: list[str]) -> dict[str, Any]:
    """When and how a run was made: its command line, package versions and machine (no paths)."""
    versions = {"python": platform.python_version()}
    for dist in (
        "privsynth",
        "torch",
        "transformers",
        "peft",
        "opacus",
        "scikit-learn",
        "numpy",
        "sentence-transformers",
        "matplotlib",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    import audits

    versions["audits"] = audits.__version__
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": argv,
        "versions": versions,
        "machine": {"platform": platform.platform(), "cpus": _cpus()},
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="development run: 300 train / 200 test records, 1 seed, 5 synthetic records per class, "
        "2 candidates, PE with 2 rounds of 8 per class",
    )
    ap.add_argument("--datasets", default="sms,rt")
    ap.add_argument(
        "--rows", default=None, help="comma list or patterns; 'all' adds dpgen-eps4 (default: all but dpgen)"
    )
    ap.add_argument("--seeds", default=None, help="default 0,1,2 (0 with --quick)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results JSON (default benchmarks/results/utility.json, utility_quick.json with --quick); "
        ".md and .png are written beside it",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore the entries already in --out")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the .md and .png from --out")
    ap.add_argument("--bridge", default=None, help="bridge weights (default: the shipped ones)")
    ap.add_argument("--n-synth", type=int, default=None, help="synthetic records per run (full default 1000)")
    ap.add_argument("--n-synth-per-class", type=int, default=None)
    ap.add_argument("--n-minority", type=int, default=None, help="spam records added (default: as many as real spam)")
    ap.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="train on a stratified subset of about N real records (seed 0; the test split stays "
        "whole): the small-data case that SMOTE-style minority augmentation is for",
    )
    ap.add_argument("--candidates", type=int, default=None)
    ap.add_argument("--pe-rounds", type=int, default=None, help="Private Evolution rounds (full default 5)")
    ap.add_argument(
        "--pe-population",
        type=int,
        default=None,
        help="Private Evolution candidates per class and round (full default 64)",
    )
    ap.add_argument(
        "--pe-prompts",
        action="store_true",
        help="seed Private Evolution with the public class prompts in CLASS_PROMPTS",
    )
    ap.add_argument(
        "--pe-judge",
        type=float,
        default=None,
        metavar="SHARE",
        help="mode dp: train the DP class judge (a DP-SGD logistic regression on the member vectors) "
        "with SHARE of the budget (default 0.25, privsynth's; 0 turns it off); it "
        "picks in-class candidates and drives the class check",
    )
    ap.add_argument(
        "--pe-class-check",
        type=int,
        default=None,
        help="replace outputs decoded into another class, up to N times (class_check_rounds)",
    )
    ap.add_argument(
        "--class-check",
        type=int,
        default=None,
        help="modes none/noise: SMOTExT(class_check_rounds=N), prefer and re-decode outputs in their "
        "class by a logistic regression on the members (default 4; 0 turns it off)",
    )
    ap.add_argument(
        "--pe-vote",
        choices=("own-class", "all"),
        default=None,
        help="Private Evolution's vote: nearest candidate of all, counted only for a candidate of the "
        "member's class ('all', privsynth's default), or nearest "
        "candidate of the member's class ('own-class'; "
        "results/utility_ownclass.json holds its rows)",
    )
    ap.add_argument(
        "--pe-lam",
        default=None,
        metavar="LO,HI",
        help="Private Evolution's interpolation range between survivors (default: its lam_range)",
    )
    ap.add_argument(
        "--pe-elite",
        type=float,
        default=None,
        metavar="F",
        help="share of each class that Private Evolution takes from its best survivors as they are, "
        "in every population and in the output (default: its elite_fraction, 0.25)",
    )
    ap.add_argument(
        "--pe-minlen",
        type=float,
        default=None,
        metavar="F",
        help="hold each decoded variation to at least F of its nearer parent survivor's length in "
        "tokens (PrivateEvolution(min_length_share=F); default 0, off)",
    )
    ap.add_argument(
        "--pe-final-k",
        type=int,
        default=None,
        metavar="K",
        help="neighbours each survivor is paired with in the output's variations "
        "(PrivateEvolution(final_neighbors=K); default: its k_neighbors, 5)",
    )
    ap.add_argument("--no-audit", action="store_true", help="skip the auditor on generated data")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (encoder, bridge, DP fine-tuning)")
    ap.add_argument(
        "--reuse-only",
        action="store_true",
        help="generate nothing: skip the entries whose generation is not in the _synthetic folder yet",
    )
    ap.add_argument(
        "--reaudit",
        action="store_true",
        help="first run the current auditor again on the recorded entries of --datasets and --rows whose "
        "generation is cached (after a change to the auditor); their other numbers stay as recorded",
    )
    ap.add_argument(
        "--generate-only",
        action="store_true",
        help="only write the generations (e.g. on a GPU machine); a later run without it audits, "
        "classifies and records them",
    )
    return ap.parse_args(argv)


def build_config(args: argparse.Namespace, rows: list[str]) -> Config:
    cfg = Config.quick_defaults() if args.quick else Config()
    for opt in (
        "n_train",
        "n_synth",
        "n_synth_per_class",
        "n_minority",
        "candidates",
        "pe_rounds",
        "pe_population",
        "pe_class_check",
        "pe_vote",
        "pe_lam",
        "pe_elite",
        "pe_minlen",
        "class_check",
        "pe_judge",
        "pe_final_k",
    ):
        if getattr(args, opt) is not None:
            setattr(cfg, opt, getattr(args, opt))
    if args.n_synth is not None:
        cfg.n_synth_per_class = None
    elif args.n_synth_per_class is not None:
        cfg.n_synth = None
    if cfg.pe_lam:
        parse_lam(cfg.pe_lam)  # a bad range fails here, before any model loads
    if cfg.pe_elite is not None and not 0 <= cfg.pe_elite <= 1:
        raise SystemExit(f"--pe-elite takes a share between 0 and 1; got {cfg.pe_elite}")
    if not 0 <= cfg.pe_judge < 1:
        raise SystemExit(f"--pe-judge takes a share in [0, 1); got {cfg.pe_judge}")
    if cfg.pe_final_k is not None and cfg.pe_final_k < 1:
        raise SystemExit(f"--pe-final-k takes a positive integer; got {cfg.pe_final_k}")
    if not 0 <= cfg.pe_minlen <= 1:
        raise SystemExit(f"--pe-minlen takes a share between 0 and 1; got {cfg.pe_minlen}")
    cfg.audit = not args.no_audit
    cfg.pe_prompts = args.pe_prompts
    if any(ROWS[r].uses_bridge for r in rows):
        from privsynth.bridge import DEFAULT_WEIGHTS
        from privsynth.manifest import sha256_file

        path = Path(args.bridge) if args.bridge else DEFAULT_WEIGHTS
        if not path.exists():
            raise SystemExit(
                f"{path}: bridge weights not found; pass --bridge PATH (e.g. a run folder's "
                f"bridge.safetensors) or leave the privsynth rows out with --rows"
            )
        cfg.bridge = str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)
        cfg.bridge_sha256 = sha256_file(path)
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = select_rows(args.rows)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in datasets:
        if d not in splits.DATASETS:
            raise SystemExit(f"--datasets: unknown {d!r}; known: {', '.join(splits.DATASETS)}")
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    out = args.out or RESULTS / ("utility_quick.json" if args.quick else "utility.json")
    if args.report_only:
        data = json.loads(out.read_text(encoding="utf-8"))
        write_reports(out, data["entries"], quick=data["config"].get("quick", False), log=print)
        return 0
    cfg = build_config(args, rows)
    synth_dir = out.with_name(out.stem + "_synthetic")
    synth_dir.mkdir(parents=True, exist_ok=True)
    models = Models(cfg, args.device)

    def log(msg: str) -> None:
        print(msg, flush=True)

    if args.generate_only:
        return generate_only(datasets, rows, seeds, cfg, models, synth_dir, log, args.device)
    store = report.ResultStore(out, asdict(cfg), run_info(sys.argv if argv is None else argv), fresh=args.fresh)
    if args.reaudit:
        reaudit(store, cfg, models, log, datasets=datasets, rows=rows)
    failures = 0
    for dataset, name, seed, key, fp, data in planned_entries(datasets, rows, seeds, cfg):
        if store.done(key, fp):
            log(f"{key}: done, skipped")
            continue
        if (
            args.reuse_only
            and ROWS[name].kind in GENERATING
            and not generation_path(synth_dir, dataset, name, seed, fp).exists()
        ):
            log(f"{key}: no generation in {synth_dir.name}/, skipped (--reuse-only)")
            continue
        log(f"{key}: running ({len(data().train)} train, {len(data().test)} test)")
        t0 = time.perf_counter()
        entry = {
            "key": key,
            "dataset": dataset,
            "row": name,
            "seed": seed,
            "label": ROWS[name].label,
            "epsilon": ROWS[name].epsilon,
            "order": list(ROWS).index(name),
            "fingerprint": fp,
        }
        try:
            entry.update(run_entry(dataset, name, seed, data(), cfg, models, synth_dir, log, args.device, fp))
            entry["status"] = "ok"
        except UserError as err:  # e.g. a class too small for the dp budget: a result, not a crash
            entry.update(status="refused", error=str(err))
        except Exception:  # noqa: BLE001 - keep going; an unfinished entry is retried next time
            failures += 1
            log(f"{key}: FAILED (not recorded, rerun to retry)\n{traceback.format_exc()}")
            continue
        entry["entry_s"] = round(time.perf_counter() - t0, 1)
        store.add(entry)
        log(
            f"{key}: {entry['status']} in {entry['entry_s']:.0f}s "
            + (json.dumps(entry.get("metrics")) if entry["status"] == "ok" else entry["error"])
        )
    summary, verdicts = write_reports(out, store.entries, quick=cfg.quick, log=log)
    store.finish(summary, verdicts)
    return 1 if failures else 0


def generate_only(
    datasets: list[str],
    rows: list[str],
    seeds: list[int],
    cfg: Config,
    models: Models,
    synth_dir: Path,
    log,
    device: str,
) -> int:
    """Only the generations, into ``synth_dir`` (no entry recorded): for a GPU machine that has
    neither presidio nor the time to audit. A later run with the same options finds them there
    and adds the auditor, the classifiers and the entry; the generation info keeps the machine."""
    failures = 0
    generating = [name for name in rows if ROWS[name].kind in GENERATING]
    for dataset, name, seed, key, fp, data in planned_entries(datasets, generating, seeds, cfg):
        t0 = time.perf_counter()
        try:
            run_entry(dataset, name, seed, data(), cfg, models, synth_dir, log, device, fp, generate_only=True)
        except Exception:  # noqa: BLE001 - the next generation may still run
            failures += 1
            log(f"{key}: generation FAILED\n{traceback.format_exc()}")
            continue
        log(f"{key}: generation ready ({time.perf_counter() - t0:.0f}s)")
    return 1 if failures else 0


def planned_entries(datasets: list[str], rows: list[str], seeds: list[int], cfg: Config):
    """(dataset, row, seed, key, fingerprint, data) for every entry the options select, in run
    order; ``data()`` loads the dataset's split on first use (finished entries need none)."""
    for dataset in datasets:
        data = functools.cache(functools.partial(load_data, dataset, cfg))
        for name in rows:
            if dataset not in ROWS[name].datasets:
                continue
            for seed in seeds:
                key, fp = report.entry_key(dataset, name, seed), entry_fingerprint(cfg, dataset, name)
                yield dataset, name, seed, key, fp, data


def write_reports(out: Path, entries: list[dict[str, Any]], *, quick: bool, log) -> tuple[list, list]:
    """The .md table and .png plot beside ``out``; prints one verdict line per target."""
    summary = report.summarize(entries)
    verdicts = report.verdicts(summary)
    title = (
        "Utility benchmark (quick development run: 300 train / 200 test records, 5 synthetic records per "
        "class, 2 candidates; checks that the rows run, not evidence for or against the targets)"
        if quick
        else "Utility benchmark"
    )
    out.with_suffix(".md").write_text(report.markdown_table(summary, verdicts, title=title), encoding="utf-8")
    report.plot(summary, out.with_suffix(".png"))
    for v in verdicts:
        log(f"VERDICT {v['line']}")
    log(f"wrote {out}, {out.with_suffix('.md').name}, {out.with_suffix('.png').name}")
    return summary, verdicts


if __name__ == "__main__":
    sys.exit(main())
