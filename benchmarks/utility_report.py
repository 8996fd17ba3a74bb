"""Results of the utility benchmark: the resumable JSON store, the summary over seeds, the
markdown table, the plot and the verdict lines. Pure Python (matplotlib only for the plot),
so it is tested without any model.

The JSON holds one entry per finished (dataset, row, seed), written atomically as soon as it
finishes; a killed run started again with the same options skips those entries.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from privsynth.io import write_json_atomic  # noqa: E402

SCHEMA_VERSION = 1
CLASSIFIERS = {"tfidf_lr": "TF-IDF LR", "minilm_lr": "MiniLM LR"}
METRICS = ("macro_f1", "accuracy", "spam_f1")


def entry_key(dataset: str, row: str, seed: int) -> str:
    return f"{dataset}/{row}/seed{seed}"


class ResultStore:
    """The benchmark JSON: ``config`` (the latest invocation's options), ``runs`` (one record per
    invocation: commit, versions, argv) and ``entries`` (one per finished dataset/row/seed).

    Each entry carries the fingerprint of the options it depends on; ``done`` is true only for
    an entry with the same fingerprint, so changed options (or a new bridge) recompute it.
    The file is rewritten atomically after each ``add``: a killed run loses at most the entry
    in progress.
    """

    def __init__(self, path: str | Path, config: dict[str, Any], run_info: dict[str, Any], *, fresh: bool = False):
        self.path = Path(path)
        data: dict[str, Any] = {
            "benchmark": "utility",
            "schema_version": SCHEMA_VERSION,
            "config": config,
            "runs": [],
            "entries": [],
            "summary": [],
            "verdicts": [],
        }
        if self.path.exists() and not fresh:
            data.update(json.loads(self.path.read_text(encoding="utf-8")))
            data["config"] = config
        data["runs"].append(run_info)
        self.data = data
        self._save()

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.data["entries"]

    def get(self, key: str) -> dict[str, Any] | None:
        return next((e for e in self.entries if e["key"] == key), None)

    def done(self, key: str, fingerprint: str) -> bool:
        e = self.get(key)
        return e is not None and e.get("fingerprint") == fingerprint

    def add(self, entry: dict[str, Any]) -> None:
        self.data["entries"] = [e for e in self.entries if e["key"] != entry["key"]] + [entry]
        self._save()

    def finish(self, summary: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> None:
        self.data["summary"], self.data["verdicts"] = summary, verdicts
        self._save()

    def _save(self) -> None:
        write_json_atomic(self.path, self.data)


def fingerprint(obj: Any) -> str:
    """A short stable hash of plain data (the options an entry depends on)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- summary over seeds ---------------------------------------------------------------------------


def mean_sd(values: list[float]) -> dict[str, Any] | None:
    """Mean, sample sd and count of the values that are not None or NaN (None if none are)."""
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def summarize(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, row): mean and sample sd over seeds of every metric, cost and audit figure."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        groups.setdefault((e["dataset"], e["row"]), []).append(e)
    out = []
    for (dataset, row), es in groups.items():
        ok = [e for e in es if e.get("status", "ok") == "ok"]
        s: dict[str, Any] = {
            "dataset": dataset,
            "row": row,
            "label": es[0].get("label", row),
            "epsilon": es[0].get("epsilon"),
            "order": es[0].get("order", 0),
            "seeds": sorted(e["seed"] for e in ok),
            "failed": {str(e["seed"]): e.get("error", e.get("status")) for e in es if e not in ok},
            "notes": [f"seed {e['seed']}: {e['note']}" for e in es if e.get("note")],
            "metrics": {},
        }
        for clf in CLASSIFIERS:
            s["metrics"][clf] = {
                m: mean_sd([e["metrics"][clf].get(m) for e in ok if clf in e.get("metrics", {})]) for m in METRICS
            }
        gens = [e["generation"] for e in ok if e.get("generation")]
        if gens:
            s["generation"] = {
                k: mean_sd([g.get(k) for g in gens]) for k in ("wall_s", "s_per_record", "peak_rss_mb", "n_synthetic")
            }
            s["generated_on"] = sorted({machine_label(g.get("machine")) for g in gens})
        keeps = [e["class_keeping"] for e in ok if e.get("class_keeping")]
        if keeps:
            s["class_keeping"] = mean_sd([k.get("macro") for k in keeps])
        keeps = [e["class_keeping_minilm"] for e in ok if e.get("class_keeping_minilm")]
        if keeps:
            s["class_keeping_minilm"] = mean_sd([k.get("macro") for k in keeps])
        audits = [e["audit"] for e in ok if e.get("audit")]
        if audits:
            s["audit"] = {
                k: mean_sd([a.get(k) for a in audits])
                for k in ("mia_auc", "mia_auc_ci_high", "mia_tpr_at_1pct_fpr", "exact_duplicates")
            }
            judged = [a["failed_checks"] for a in audits if a.get("failed_checks") is not None]
            if judged:
                s["audit"]["blocked"] = {
                    "seeds": sum(bool(f) for f in judged),
                    "of": len(judged),
                    "checks": sorted({c for f in judged for c in f}),
                }
        out.append(s)
    return sorted(out, key=lambda s: (s["dataset"], s["order"], s["row"]))


def machine_label(machine: dict[str, Any] | None) -> str:
    """Short name of where a generation ran ("H200", "2-core CPU"): timings only compare within one."""
    if not machine:
        return "not recorded"
    if machine.get("gpu"):
        return str(machine["gpu"]).replace("NVIDIA ", "")
    return f"{machine.get('cpus', '?')}-core CPU"


# -- markdown ---------------------------------------------------------------------------------------


def _fmt(x: dict[str, Any] | None, digits: int = 3) -> str:
    if not x:
        return "-"
    return f"{x['mean']:.{digits}f}" + (f" ± {x['sd']:.{digits}f}" if x["n"] > 1 else "")


def _blocked(b: dict[str, Any] | None) -> str:
    """ "2/3 (dcr_share, nndr_share)": seeds whose audit the default policy failed, and which checks."""
    if not b:
        return "-"
    return f"{b['seeds']}/{b['of']}" + (f" ({', '.join(b['checks'])})" if b["checks"] else "")


def markdown_table(
    summary: list[dict[str, Any]], verdicts: list[dict[str, Any]] | None = None, title: str = "Utility benchmark"
) -> str:
    """One table per dataset: utility (both classifiers), generation cost and leakage side by side."""
    lines = [
        f"# {title}",
        "",
        "Train on the row's data, test on the fixed real test split (`benchmarks/splits/`). "
        "Mean ± sd over seeds. Generation: wall time and peak RSS of one generation run, on the machine "
        "named in 'gen on' (compare timings only between rows made on the same one); "
        "audit: `audits.run(members=train, holdout=test, synthetic)`. Class kept: share of synthetic "
        "records that a classifier trained on the real training split labels with their assigned class "
        "(macro over classes): TF-IDF + LR, and LR on MiniLM sentence vectors.",
        "",
    ]
    for dataset in sorted({s["dataset"] for s in summary}):
        rows = [s for s in summary if s["dataset"] == dataset]
        spam = dataset == "sms"
        head = ["row", "eps", "seeds"]
        for name in CLASSIFIERS.values():
            head += [f"{name} macro-F1", f"{name} acc"] + ([f"{name} spam F1"] if spam else [])
        head += [
            "class kept TF-IDF",
            "class kept MiniLM",
            "gen s/record",
            "gen peak RSS MB",
            "gen on",
            "MIA AUC",
            "MIA TPR@1%FPR",
            "exact dups",
            "audit blocked (checks)",
        ]
        lines += [f"## {dataset}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s in rows:
            cells = [s["label"], "-" if s["epsilon"] is None else f"{s['epsilon']:g}", str(len(s["seeds"]))]
            for clf in CLASSIFIERS:
                m = s["metrics"][clf]
                cells += [_fmt(m["macro_f1"]), _fmt(m["accuracy"])] + ([_fmt(m["spam_f1"])] if spam else [])
            g, a = s.get("generation", {}), s.get("audit", {})
            cells += [
                _fmt(s.get("class_keeping"), 2),
                _fmt(s.get("class_keeping_minilm"), 2),
                _fmt(g.get("s_per_record"), 2),
                _fmt(g.get("peak_rss_mb"), 0),
                ", ".join(s.get("generated_on", [])) or "-",
                _fmt(a.get("mia_auc")),
                _fmt(a.get("mia_tpr_at_1pct_fpr")),
                _fmt(a.get("exact_duplicates"), 1),
                _blocked(a.get("blocked")),
            ]
            if s["failed"]:
                cells[0] += f" (failed seeds: {', '.join(s['failed'])})"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for s in rows:
            for seed, why in s["failed"].items():
                lines.append(f"- {s['label']} seed {seed}: {why}")
            for note in s.get("notes", []):
                lines.append(f"- {s['label']} {note}")
        lines.append("")
    if verdicts:
        lines += ["## Targets", ""] + [f"- {v['line']}" for v in verdicts] + [""]
    return "\n".join(lines)


# -- verdicts -----------------------------------------------------------------------------------------


def _mean(summary, dataset, row, clf, metric):
    for s in summary:
        if s["dataset"] == dataset and s["row"] == row:
            x = s["metrics"][clf][metric]
            return None if x is None else x["mean"]
    return None


def verdicts(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets of the utility section, one verdict per dataset and classifier (means over seeds)."""
    out = []

    def add(dataset, clf, target, value, ok, detail):
        status = "not run" if ok is None else ("MET" if ok else "MISSED")
        out.append(
            {
                "dataset": dataset,
                "classifier": clf,
                "target": target,
                "value": value,
                "status": status,
                "line": f"{dataset} {CLASSIFIERS[clf]}: {target}: {detail} -> {status}",
            }
        )

    for dataset in sorted({s["dataset"] for s in summary}):
        for clf in CLASSIFIERS:
            real = _mean(summary, dataset, "real", clf, "macro_f1")
            for row, share in (("synth-none", 0.97), ("synth-dp-eps4", 0.92)):
                v = _mean(summary, dataset, row, clf, "macro_f1")
                ratio = None if v is None or not real else v / real
                add(
                    dataset,
                    clf,
                    f"{row} macro-F1 >= {share:.0%} of train-on-real",
                    ratio,
                    None if ratio is None else ratio >= share,
                    "missing rows" if ratio is None else f"{v:.3f} / {real:.3f} = {ratio:.1%}",
                )
            dp4 = _mean(summary, dataset, "synth-dp-eps4", clf, "macro_f1")
            for other in ("dpsgd-eps4", "dpgen-eps4"):
                o = _mean(summary, dataset, other, clf, "macro_f1")
                add(
                    dataset,
                    clf,
                    f"synth-dp-eps4 macro-F1 above {other}",
                    None if dp4 is None or o is None else dp4 - o,
                    None if dp4 is None or o is None else dp4 > o,
                    "missing rows" if dp4 is None or o is None else f"{dp4:.3f} vs {o:.3f}",
                )
            if dataset == "sms":
                base = _mean(summary, dataset, "real", clf, "spam_f1")
                aug = _mean(summary, dataset, "real+synth-spam", clf, "spam_f1")
                eda = _mean(summary, dataset, "eda", clf, "spam_f1")
                gain = None if base is None or aug is None else aug - base
                add(
                    dataset,
                    clf,
                    "spam F1 with privsynth minority augmentation >= 5 points above none",
                    gain,
                    None if gain is None else gain >= 0.05,
                    "missing rows" if gain is None else f"{aug:.3f} - {base:.3f} = {100 * gain:+.1f} points",
                )
                add(
                    dataset,
                    clf,
                    "spam F1 with privsynth minority augmentation above EDA",
                    None if aug is None or eda is None else aug - eda,
                    None if aug is None or eda is None else aug > eda,
                    "missing rows" if aug is None or eda is None else f"{aug:.3f} vs {eda:.3f}",
                )
    return out


# -- plot ----------------------------------------------------------------------------------------------


def plot(summary: list[dict[str, Any]], path: str | Path, metric: str = "macro_f1") -> None:
    """Macro-F1 against epsilon per dataset: privsynth dp and the DP-SGD classifier as lines,
    the DP fine-tuned generator as points, train-on-real and privsynth none/noise as levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    datasets = sorted({s["dataset"] for s in summary})
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(6 * max(1, len(datasets)), 4.2), squeeze=False)
    styles = {"tfidf_lr": "-", "minilm_lr": "--"}
    for ax, dataset in zip(axes[0], datasets):
        rows = [s for s in summary if s["dataset"] == dataset]
        for clf, ls in styles.items():
            for family, color, marker in (
                ("synth-dp-eps", "C0", "o"),
                ("dpsgd-eps", "C1", "s"),
                ("dpgen-eps", "C2", "^"),
            ):
                pts = sorted(
                    (s["epsilon"], s["metrics"][clf][metric])
                    for s in rows
                    if s["row"].startswith(family) and s["metrics"][clf][metric] is not None
                )
                if pts:
                    ax.errorbar(
                        [p[0] for p in pts],
                        [p[1]["mean"] for p in pts],
                        yerr=[p[1]["sd"] for p in pts],
                        ls=ls,
                        color=color,
                        marker=marker,
                        capsize=3,
                        label=f"{family.rstrip('-eps')} ({CLASSIFIERS[clf]})",
                    )
            for row, color in (("real", "k"), ("synth-none", "C3"), ("synth-noise", "C4")):
                v = _mean(summary, dataset, row, clf, metric)
                if v is not None:
                    ax.axhline(v, ls=ls, color=color, lw=1, label=f"{row} ({CLASSIFIERS[clf]})")
        ax.set_xscale("log")
        ax.set_xticks([1, 4, 8], ["1", "4", "8"])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("epsilon")
        ax.set_ylabel(metric.replace("_", "-"))
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
