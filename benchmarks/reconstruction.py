"""Reconstruction benchmark for the bridge: does decoded text land near its target vector?

Writes benchmarks/results/reconstruction.json (keys `brown`, `sms`, `brown_interp`, each
{"best_of_n", "first", "n_candidates", "tfidf", ...}; outside tools read them) and a markdown
table with decoded examples. Also measures decoding speed against plain `generate` of the same
LM for the same number of new tokens, and, on SMS, the class-keeping and copy checks of the
generator issue.

    python benchmarks/reconstruction.py --n 100 --bridge privsynth/weights/bridge.safetensors

The reranker maximises MiniLM cosine, so MiniLM figures flatter it: TF-IDF cosine between the
decoded text and its source is reported beside them as an independent score.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from privsynth.bridge import Bridge  # noqa: E402
from privsynth.encoder import Encoder, normalize  # noqa: E402
from privsynth.smotext import SMOTExT, char_ngrams, jaccard, normalize_text  # noqa: E402
from privsynth.train_bridge import read_public_corpus, split_public  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def tfidf_cosine(sources: list[str], decoded: list[str]) -> np.ndarray:
    """Row-wise TF-IDF cosine (word unigrams+bigrams) between each source and its decoding."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(sources + decoded)
    a, b = vec.transform(sources), vec.transform(decoded)
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def score(
    bridge: Bridge,
    enc: Encoder,
    targets: np.ndarray,
    sources: list[list[str]],
    n_cand: int,
    max_new_tokens: int,
    seed: int,
    refine_rounds: int = 0,
) -> tuple[dict, list[str], list[str]]:
    t0 = time.time()
    best, best_cos = bridge.decode(
        targets,
        encoder=enc,
        n_candidates=n_cand,
        max_new_tokens=max_new_tokens,
        seed=seed,
        return_scores=True,
        progress=True,
        refine_rounds=refine_rounds,
    )
    t_best = time.time() - t0
    t0 = time.time()
    first, first_cos = bridge.decode(
        targets, encoder=enc, n_candidates=1, max_new_tokens=max_new_tokens, seed=seed, return_scores=True
    )
    t_first = time.time() - t0
    tf_best = np.max([tfidf_cosine([s[k] for s in sources], best) for k in range(len(sources[0]))], axis=0)
    tf_first = np.max([tfidf_cosine([s[k] for s in sources], first) for k in range(len(sources[0]))], axis=0)
    return (
        {
            "best_of_n": round(float(best_cos.mean()), 4),
            "first": round(float(first_cos.mean()), 4),
            "n_candidates": n_cand,
            "refine_rounds": refine_rounds,
            "decodes_per_record": n_cand * (1 + refine_rounds),
            "tfidf": round(float(tf_best.mean()), 4),
            "tfidf_first": round(float(tf_first.mean()), 4),
            "n_records": len(targets),
            "seconds_per_record_best_of_n": round(t_best / len(targets), 3),
            "seconds_per_record_first": round(t_first / len(targets), 3),
            "mean_words_source": round(float(np.mean([len(s[0].split()) for s in sources])), 1),
            "mean_words_decoded": round(float(np.mean([len(t.split()) for t in best])), 1),
        },
        best,
        first,
    )


def speed_vs_plain(bridge: Bridge, enc: Encoder, vecs: np.ndarray, texts: list[str], tokens: int = 32) -> dict:
    """Seconds per sequence: bridge generation vs plain `generate` of the LM, same new tokens."""
    tok, lm = bridge.tokenizer, bridge.lm
    b = len(vecs)
    with torch.no_grad():
        embeds = bridge.prompt_embeds(torch.from_numpy(vecs))
        attn = torch.ones(embeds.shape[:2], dtype=torch.long)
        kw = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        t0 = time.time()
        lm.generate(inputs_embeds=embeds, attention_mask=attn, **kw)
        t_bridge = time.time() - t0
        # plain: the same LM (adapters off), a text prompt of the same length, same new tokens
        ids = tok(
            [("Text: " + t)[:200] for t in texts],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=embeds.shape[1],
        ).input_ids
        base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        with lm.disable_adapter() if hasattr(lm, "disable_adapter") else torch.no_grad():
            t0 = time.time()
            base.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
            t_plain = time.time() - t0
    t0 = time.time()
    bridge.decode(vecs, encoder=enc, n_candidates=8, max_new_tokens=tokens, batch_size=b)
    t_full = time.time() - t0
    return {
        "batch": b,
        "new_tokens": tokens,
        "bridge_s_per_seq": round(t_bridge / b, 4),
        "plain_s_per_seq": round(t_plain / b, 4),
        "ratio_per_candidate": round(t_bridge / t_plain, 3),
        "best_of_8_s_per_record": round(t_full / b, 3),
        "best_of_8_ratio_per_candidate": round(t_full / 8 / t_plain, 3),
    }


def class_keeping(bridge: Bridge, enc: Encoder, per_class: int, n_cand: int, seed: int) -> tuple[dict, list]:
    """Generate SMS records with SMOTExT; a TF-IDF+LR trained on real SMS labels them."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = list(csv.DictReader(open(ROOT / "benchmarks/data/sms_spam.csv", encoding="utf-8")))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    clf = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
        LogisticRegression(max_iter=2000, class_weight="balanced"),
    ).fit(texts, labels)
    rng = random.Random(seed)
    idx = rng.sample(range(len(rows)), 1000)
    seen, mt, ml = set(), [], []
    for i in idx:  # de-duplicate as `generate` would
        if texts[i] not in seen:
            seen.add(texts[i])
            mt.append(texts[i])
            ml.append(labels[i])
    gen = SMOTExT(n_candidates=n_cand, encoder=enc, bridge=bridge, random_state=seed, progress=True)
    t0 = time.time()
    syn, syn_labels = gen.fit(mt, ml).generate(n_per_class=per_class)
    secs = time.time() - t0
    pred = clf.predict(syn)
    per = {c: float(np.mean([p == c for p, y in zip(pred, syn_labels) if y == c])) for c in sorted(set(ml))}
    member_norm = {normalize_text(t) for t in mt}
    member_grams = [char_ngrams(t) for t in mt]
    member_words = [set(normalize_text(t).split()) for t in mt]
    exact = sum(normalize_text(t) in member_norm for t in syn)
    near = 0
    for t in syn:
        g, w = char_ngrams(t), set(normalize_text(t).split())
        if any(jaccard(g, m) > 0.7 for m in member_grams) or any(jaccard(w, m) > 0.7 for m in member_words):
            near += 1
    return {
        "members": len(mt),
        "synthetic": len(syn),
        "per_class_label_kept": {k: round(v, 4) for k, v in per.items()},
        "label_kept_macro": round(float(np.mean(list(per.values()))), 4),
        "exact_copies": exact,
        "near_copy_rate": round(near / len(syn), 4),
        "rejected_and_redecoded": gen.rejected_,
        "seconds_per_record": round(secs / len(syn), 3),
        "n_candidates": n_cand,
    }, list(zip(syn[:6], syn_labels[:6]))


def peak_memory_generate(n_input: int, n_out: int, bridge_path: str | None) -> dict:
    """Peak RSS of the `privsynth generate` CLI on n_input SMS records (child process)."""
    rows = list(csv.DictReader(open(ROOT / "benchmarks/data/sms_spam.csv", encoding="utf-8")))[:n_input]
    tmp = RESULTS / "_mem_input.csv"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows([[r["text"], r["label"]] for r in rows])
    cmd = [
        sys.executable,
        "-m",
        "privsynth.cli",
        "generate",
        str(tmp),
        "--out",
        str(RESULTS / "_mem_out.csv"),
        "--n",
        str(n_out),
        "--quiet",
    ]
    if bridge_path:
        cmd += ["--bridge", bridge_path]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    secs = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for p in (tmp, RESULTS / "_mem_out.csv"):
        p.unlink(missing_ok=True)
    return {
        "input_records": n_input,
        "synthetic_records": n_out,
        "peak_rss_mb": round(peak, 1),
        "wall_s": round(secs, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bridge", default=None, help="bridge weights (default: shipped)")
    ap.add_argument("--n", type=int, default=100, help="records per set")
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--per-class", type=int, default=40, help="SMS synthetic records per class (class keeping)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: speed,classes,memory")
    ap.add_argument(
        "--refine-rounds",
        type=int,
        default=0,
        help="correction rounds after the first (each decodes --candidates more per record)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "reconstruction.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    skip = set(filter(None, args.skip.split(",")))
    RESULTS.mkdir(parents=True, exist_ok=True)
    enc = Encoder()
    bridge = Bridge.load(args.bridge)
    _, held = split_public(read_public_corpus())
    brown = held[: args.n]
    rng = random.Random(args.seed)
    sms_rows = list(csv.DictReader(open(ROOT / "benchmarks/data/sms_spam.csv", encoding="utf-8")))
    sms = [r["text"] for r in rng.sample(sms_rows, args.n)]
    vb, vs = enc.encode(brown), enc.encode(sms)
    pairs = [(i, (i + 1) % args.n) for i in range(args.n)]
    vi = normalize(0.5 * vb[[i for i, _ in pairs]] + 0.5 * vb[[j for _, j in pairs]])
    result: dict = {
        "config": {
            **vars(args),
            "bridge_provenance": bridge.config.provenance,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(),
        }
    }
    examples = {}
    for key, targets, sources in (
        ("brown", vb, [[t] for t in brown]),
        ("sms", vs, [[t] for t in sms]),
        ("brown_interp", vi, [[brown[i], brown[j]] for i, j in pairs]),
    ):
        print(f"[{key}] decoding {len(targets)} records x {args.candidates} candidates", flush=True)
        result[key], best, first = score(
            bridge, enc, targets, sources, args.candidates, args.max_new_tokens, args.seed, args.refine_rounds
        )
        examples[key] = [(s, b, f) for s, b, f in zip(sources[:4], best[:4], first[:4])]
        print(key, result[key], flush=True)
        json.dump(result, open(args.out, "w"), indent=2)
    if "speed" not in skip:
        result["speed"] = speed_vs_plain(bridge, enc, vb[:16], brown[:16])
        print("speed", result["speed"], flush=True)
    if "classes" not in skip:
        result["sms_generation"], examples["sms_generated"] = class_keeping(
            bridge, enc, args.per_class, args.candidates, args.seed
        )
        print("sms_generation", result["sms_generation"], flush=True)
    if "memory" not in skip:
        result["peak_memory_generate"] = peak_memory_generate(1000, 16, args.bridge)
        print("memory", result["peak_memory_generate"], flush=True)
    json.dump(result, open(args.out, "w"), indent=2)
    write_markdown(result, examples, Path(args.out).with_suffix(".md"))


def write_markdown(result: dict, examples: dict, path: Path) -> None:
    lines = [
        "# Bridge reconstruction",
        "",
        "Mean cosine (MiniLM) between a target vector and the re-embedding of its decoded text; "
        "TF-IDF cosine to the source text is an independent check (the reranker optimises MiniLM).",
        "",
        "| set | best of n | first (greedy) | n | TF-IDF (best) | TF-IDF (first) | s/record (best of n) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("brown", "sms", "brown_interp"):
        r = result[key]
        lines.append(
            f"| {key} | {r['best_of_n']:.3f} | {r['first']:.3f} | {r['n_candidates']} | {r['tfidf']:.3f} | "
            f"{r['tfidf_first']:.3f} | {r['seconds_per_record_best_of_n']} |"
        )
    if "speed" in result:
        s = result["speed"]
        lines += [
            "",
            f"Speed ({s['new_tokens']} new tokens, batch {s['batch']}): bridge {s['bridge_s_per_seq']} s/seq vs "
            f"plain generate {s['plain_s_per_seq']} s/seq (ratio {s['ratio_per_candidate']}); best of 8 with "
            f"reranking {s['best_of_8_s_per_record']} s/record "
            f"({s['best_of_8_ratio_per_candidate']}x plain per candidate).",
        ]
    if "sms_generation" in result:
        g = result["sms_generation"]
        lines += [
            "",
            f"SMS generation: label kept (macro over classes) {g['label_kept_macro']}, per class "
            f"{g['per_class_label_kept']}; exact copies {g['exact_copies']}; near-copy rate {g['near_copy_rate']}.",
        ]
    if "peak_memory_generate" in result:
        m = result["peak_memory_generate"]
        lines += [
            "",
            f"Peak memory of `privsynth generate` on {m['input_records']} records: {m['peak_rss_mb']} MB "
            f"({m['wall_s']} s for {m['synthetic_records']} synthetic).",
        ]
    lines += ["", "## Examples", ""]
    for key, rows in examples.items():
        lines += [
            f"### {key}",
            "",
            "| source | best of n | first |" if key != "sms_generated" else "| synthetic | label |",
            "|---|---|---|" if key != "sms_generated" else "|---|---|",
        ]
        for row in rows:
            cells = [" / ".join(c) if isinstance(c, list) else str(c) for c in row]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
