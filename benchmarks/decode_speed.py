"""Speed of bridge decoding: privsynth's own sampling loop against transformers' ``generate``.

Both decode the same targets (the reconstruction benchmark's held-out Brown sentences and SMS
sample) with the shipped bridge, 8 candidates a target (the first greedy), batches of 16, at
most 48 new tokens, and keep the candidate nearest the target. "transformers generate" is the
way transformers-based decoding works: LoRA adapters applied beside the weights, one
``generate`` call for the greedy candidates and one for the sampled ones (temperature 0.7,
transformers' default top-k 50, top-p 0.9). "privsynth" is ``Bridge.decode`` now
(``privsynth/sampling.py``, adapters folded into the weights). The two draw from the same
distribution with different random streams, so their cosines agree within sampling noise, and
this checks that too. Runs alternate (A B A B ...) so a slower moment of the machine hits both.

Usage: python benchmarks/decode_speed.py [--n 48] [--repeats 2]
Writes benchmarks/results/decode_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

from decode_curve import targets  # noqa: E402

from privsynth.bridge import Bridge, _closest  # noqa: E402
from privsynth.encoder import Encoder  # noqa: E402
from privsynth.io import write_json_atomic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CANDIDATES, BATCH, MAX_NEW = 8, 16, 48


@torch.no_grad()
def generate_with_transformers(bridge: Bridge, vectors: np.ndarray, seed: int) -> list[list[str]]:
    """Candidates as transformers' ``generate`` makes them (the baseline of privsynth's own loop)."""
    bridge.unmerge_lora()
    embeds = bridge.prompt_embeds(torch.from_numpy(vectors))
    attn = torch.ones(embeds.shape[:2], dtype=torch.long)
    common = dict(max_new_tokens=MAX_NEW, pad_token_id=bridge.tokenizer.pad_token_id, eos_token_id=bridge.end_id)
    greedy = bridge.lm.generate(inputs_embeds=embeds, attention_mask=attn, do_sample=False, **common)
    out = [[t.strip()] for t in bridge.tokenizer.batch_decode(greedy, skip_special_tokens=True)]
    reps = CANDIDATES - 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sampled = bridge.lm.generate(
            inputs_embeds=embeds.repeat_interleave(reps, dim=0),
            attention_mask=attn.repeat_interleave(reps, dim=0),
            do_sample=True,
            temperature=0.7,
            top_p=0.9,
            **common,
        )
    for j, t in enumerate(bridge.tokenizer.batch_decode(sampled, skip_special_tokens=True)):
        out[j // reps].append(t.strip())
    return out


def run(way: str, bridge: Bridge, enc: Encoder, vectors: np.ndarray, seed: int) -> dict:
    t0 = time.perf_counter()
    best, first, words = [], [], []
    for b, i in enumerate(range(0, len(vectors), BATCH)):
        v = vectors[i : i + BATCH]
        s = seed * 1_000_003 + b
        cands = (
            generate_with_transformers(bridge, v, s)
            if way == "transformers generate"
            else bridge.generate(v, max_new_tokens=MAX_NEW, n_candidates=CANDIDATES, seed=s)
        )
        chosen = _closest(cands, v, enc)
        best += [score for _, score, _ in chosen]
        words += [len(text.split()) for text, _, _ in chosen]
        first += list(np.einsum("bd,bd->b", enc.encode([c[0] for c in cands]), v))
    wall = time.perf_counter() - t0
    return {
        "way": way,
        "seed": seed,
        "records": len(vectors),
        "s_per_record": round(wall / len(vectors), 3),
        "best_of_8_cosine": round(float(np.mean(best)), 4),
        "greedy_cosine": round(float(np.mean(first)), 4),
        "mean_words": round(float(np.mean(words)), 1),
    }


def write_markdown(out: dict, path: Path) -> None:
    lines = [
        "# Decoding speed",
        "",
        f"Shipped bridge, {CANDIDATES} candidates a target (first greedy), batches of {BATCH}, at most "
        f"{MAX_NEW} new tokens; {out['config']['n']} targets a set; {out['machine']}. Mean over "
        f"{out['config']['repeats']} alternating runs (the JSON has each run).",
        "",
        "| set | way | s/record | best-of-8 cosine | greedy cosine | words |",
        "|---|---|---|---|---|---|",
    ]
    for row in out["summary"]:
        lines.append(
            f"| {row['set']} | {row['way']} | {row['s_per_record']:.3f} | {row['best_of_8_cosine']:.3f} | "
            f"{row['greedy_cosine']:.3f} | {row['mean_words']:.1f} |"
        )
    lines += ["", *[f"- {s}: privsynth is {r:.2f}x as fast" for s, r in out["speedup"].items()]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=48, help="targets per set")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each way")
    ap.add_argument("--sets", default="sms,brown")
    ap.add_argument("--out", default=str(RESULTS / "decode_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    enc, bridge = Encoder(), Bridge.load()
    sets = targets(enc, args.n, seed=0)
    runs = []
    for name in args.sets.split(","):
        for r in range(args.repeats):
            for way in ("transformers generate", "privsynth"):
                runs.append({"set": name, **run(way, bridge, enc, sets[name], seed=r)})
                print(json.dumps(runs[-1]), flush=True)
    summary, speedup = [], {}
    for name in args.sets.split(","):
        for way in ("transformers generate", "privsynth"):
            rs = [r for r in runs if r["set"] == name and r["way"] == way]
            summary.append(
                {
                    "set": name,
                    "way": way,
                    **{
                        k: float(np.mean([r[k] for r in rs]))
                        for k in ("s_per_record", "best_of_8_cosine", "greedy_cosine", "mean_words")
                    },
                }
            )
        speedup[name] = summary[-2]["s_per_record"] / summary[-1]["s_per_record"]
    out = {
        "config": vars(args),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "versions": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "peft": __import__("peft").__version__,
        },
        "runs": runs,
        "summary": summary,
        "speedup": speedup,
    }
    write_json_atomic(Path(args.out), out)
    write_markdown(out, Path(args.out).with_suffix(".md"))
    print(Path(args.out).with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
