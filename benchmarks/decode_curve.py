"""Quality-speed curve of bridge decoding: candidates x correction rounds against cosine and time.

For each bridge given and each (candidates, refine_rounds) setting, decode the same targets
(held-out Brown sentences, SMS messages, Brown midpoints) and record the mean MiniLM cosine of
the chosen text to its target, the first (greedy) candidate's cosine, and seconds per record.
Settings with the same number of decodes per record (c x (1 + r)) compare sampling more against
correcting more at equal cost.

Usage: python benchmarks/decode_curve.py [--bridges a.safetensors,b.safetensors] [--n 16]
Writes benchmarks/results/decode_curve.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from privsynth.bridge import Bridge  # noqa: E402
from privsynth.encoder import Encoder, normalize  # noqa: E402
from privsynth.train_bridge import read_public_corpus, split_public  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def targets(enc: Encoder, n: int, seed: int) -> dict[str, np.ndarray]:
    """The reconstruction benchmark's three sets (same held-out sentences, same SMS sample)."""
    _, held = split_public(read_public_corpus())
    brown = held[:n]
    rows = list(csv.DictReader(open(ROOT / "benchmarks/data/sms_spam.csv", encoding="utf-8")))
    sms = [r["text"] for r in random.Random(seed).sample(rows, n)]
    vb = enc.encode(brown)
    mid = normalize(0.5 * vb + 0.5 * vb[(np.arange(n) + 1) % n])
    return {"brown": vb, "sms": enc.encode(sms), "brown_interp": mid}


def write_markdown(out: dict, path: Path) -> None:
    """The curve as a table (also usable on a partial JSON: `--report-only`)."""
    n = out["config"]["n"]
    lines = [
        "# Decoding quality-speed curve",
        "",
        f"Mean MiniLM cosine of the chosen decoding to its target ({n} targets per set); "
        "s/record on this machine's CPU threads.",
        "",
        "| bridge | candidates | refine rounds | decodes/record | brown | sms | brown_interp | s/record (brown) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in out["runs"]:
        lines.append(
            f"| {Path(r['bridge']).parent.name or r['bridge']} | {r['candidates']} | {r['refine_rounds']} | "
            f"{r['decodes_per_record']} | {r['brown']:.3f} | {r['sms']:.3f} | {r['brown_interp']:.3f} | "
            f"{r['brown_s_per_record']} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bridges", default="", help="comma list of weights (default: the shipped ones)")
    ap.add_argument("--settings", default="1x0,4x0,8x0,4x1,16x0,8x1", help="candidates x refine rounds")
    ap.add_argument("--n", type=int, default=16, help="targets per set")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "decode_curve.json"))
    ap.add_argument("--report-only", action="store_true", help="only rewrite the .md from --out")
    args = ap.parse_args(argv)
    if args.report_only:
        write_markdown(json.loads(Path(args.out).read_text()), Path(args.out).with_suffix(".md"))
        return 0
    torch.set_num_threads(2)
    enc = Encoder()
    sets = targets(enc, args.n, args.seed)
    out = {"config": vars(args), "runs": []}
    for path in [p for p in args.bridges.split(",") if p] or [None]:
        bridge = Bridge.load(path)
        for spec in args.settings.split(","):
            c, r = (int(x) for x in spec.split("x"))
            row = {"bridge": path or "shipped", "candidates": c, "refine_rounds": r, "decodes_per_record": c * (1 + r)}
            for key, V in sets.items():
                t0 = time.time()
                _, cos = bridge.decode(
                    V,
                    encoder=enc,
                    n_candidates=c,
                    refine_rounds=r,
                    max_new_tokens=args.max_new_tokens,
                    seed=args.seed,
                    return_scores=True,
                )
                row[key] = round(float(cos.mean()), 4)
                row[f"{key}_s_per_record"] = round((time.time() - t0) / len(V), 3)
            print(json.dumps(row), flush=True)
            out["runs"].append(row)
            Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    write_markdown(out, Path(args.out).with_suffix(".md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
