"""Where a model gains or loses PSNR against grey, from a `framecolor evaluate` JSON: by the photo's
source folder, and by how colourful the truth is (quartiles of the truth's colourfulness).

    python experiments/where_it_loses.py results/eval/evaluation.json --method "unet-lite2 ..." -o results/eval/where_it_loses.md
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from framecolor.io import atomic_write


def method_rows(evaluation: Path, method: str | None) -> tuple[str, list[dict], np.ndarray]:
    """(the method's label, its per-photo rows, each photo's PSNR gain over grey) from a `framecolor
    evaluate` JSON; `method` None: the first that is not a baseline."""
    rows = json.loads(evaluation.read_text())["per_image"]
    grey = {r["image"]: r for r in rows if r["method"] == "grey"}
    method = method or next(r["method"] for r in rows if r["method"] not in ("grey", "train-mean-ab"))
    mine = [r for r in rows if r["method"] == method]
    if not mine:
        raise SystemExit(f"error: {evaluation}: no method {method!r}")
    return method, mine, np.array([r["psnr"] - grey[r["image"]]["psnr"] for r in mine])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("evaluation", type=Path)
    p.add_argument("--method", help="the method's label in the JSON (default: the first that is not a baseline)")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    method, mine, d = method_rows(args.evaluation, args.method)
    tc = np.array([r["truth_colorfulness"] for r in mine])
    by_source = defaultdict(list)
    for r, x in zip(mine, d):
        by_source[Path(r["image"]).parent.name].append(x)
    lines = [f"`{method}` against grey on {len(mine)} photos ({args.evaluation}): mean {d.mean():+.2f} dB, "
             f"median {np.median(d):+.2f} dB; {np.mean(d > 0):.0%} of the photos gain; the worst tenth loses "
             f"{-np.percentile(d, 10):.1f} dB or more.", "",
             "| truth's colourfulness | photos | mean PSNR gain over grey (dB) |", "|---|---:|---:|"]
    edges = np.percentile(tc, [0, 25, 50, 75, 100])
    for i in range(4):
        sel = (tc >= edges[i]) & ((tc < edges[i + 1]) if i < 3 else (tc <= edges[i + 1]))
        lines.append(f"| {edges[i]:.1f} to {edges[i + 1]:.1f} | {sel.sum()} | {d[sel].mean():+.2f} |")
    lines += ["", "| source folder | photos | mean PSNR gain over grey (dB) |", "|---|---:|---:|"]
    for name, xs in sorted(by_source.items(), key=lambda kv: np.mean(kv[1])):
        lines.append(f"| {name} | {len(xs)} | {np.mean(xs):+.2f} |")
    lines += ["", "Command: `python experiments/where_it_loses.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
