"""How precisely a `framecolor evaluate` JSON measures issue 17's photo bar: the PSNR margin over grey
and the colourfulness ratio to the truth, with their sampling error over the photos (a bootstrap over
photos, paired: each resample keeps a photo's grey, model and truth scores together).

    python experiments/bar_noise.py results/eval/evaluation.json --method "unet-lite2" -o results/eval/bar_noise.md

The bar: ratio >= 0.85 and margin >= 0.5 dB; the rule score is min(ratio / 0.85, margin / 0.5).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from framecolor.io import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from where_it_loses import method_rows  # noqa: E402  (the same reading of an evaluation JSON)

BAR_RATIO, BAR_MARGIN = 0.85, 0.5


def rule_score(ratio, margin):
    """min(ratio / 0.85, margin / 0.5): 1 or more where both halves of the bar are met (arrays work too)."""
    return np.minimum(np.asarray(ratio) / BAR_RATIO, np.asarray(margin) / BAR_MARGIN)


def scores(margin: np.ndarray, pred_c: np.ndarray, true_c: np.ndarray) -> tuple[float, float, float]:
    """(mean PSNR margin over grey, colourfulness ratio of the means, rule score) of a set of photos."""
    m, r = float(margin.mean()), float(pred_c.sum() / true_c.sum())
    return m, r, float(rule_score(r, m))


def bootstrap(margin: np.ndarray, pred_c: np.ndarray, true_c: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """(draws, 3): `scores` of photo sets drawn with replacement, as large as the given one."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(margin), (draws, len(margin)))
    m = margin[idx].mean(1)
    r = pred_c[idx].sum(1) / true_c[idx].sum(1)
    return np.stack([m, r, rule_score(r, m)], 1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("evaluation", type=Path)
    p.add_argument("--method", help="the method's label in the JSON (default: the first that is not a baseline)")
    p.add_argument("--draws", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    method, mine, margin = method_rows(args.evaluation, args.method)
    pred_c = np.array([r["colorfulness"] for r in mine])
    true_c = np.array([r["truth_colorfulness"] for r in mine])
    m, r, s = scores(margin, pred_c, true_c)
    b = bootstrap(margin, pred_c, true_c, args.draws, args.seed)
    se = b.std(0)
    lo, hi = np.percentile(b, [2.5, 97.5], axis=0)
    met = float(np.mean((b[:, 0] >= BAR_MARGIN) & (b[:, 1] >= BAR_RATIO)))
    low_m, low_r = float(np.mean(b[:, 0] < BAR_MARGIN)), float(np.mean(b[:, 1] < BAR_RATIO))
    lines = [f"`{method}` on {len(mine)} photos ({args.evaluation}); {args.draws} paired bootstrap draws of the photos "
             f"(seed {args.seed}).", "",
             "| | measured | standard error | 95% interval |", "|---|---:|---:|---:|",
             f"| PSNR margin over grey (dB; bar {BAR_MARGIN}) | {m:+.2f} | {se[0]:.2f} | {lo[0]:+.2f} to {hi[0]:+.2f} |",
             f"| colourfulness ratio to the truth (bar {BAR_RATIO}) | {r:.2f} | {se[1]:.3f} | {lo[1]:.2f} to {hi[1]:.2f} |",
             f"| rule score min(ratio / {BAR_RATIO}, margin / {BAR_MARGIN}) | {s:.2f} | {se[2]:.2f} | {lo[2]:.2f} to {hi[2]:.2f} |",
             "", f"Share of the draws that meet both bars: {met:.0%} (below the margin's bar: {low_m:.0%}; "
                 f"below the ratio's: {low_r:.0%}).", "",
             "`python experiments/bar_noise.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    atomic_write(args.output, ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
