"""Can a muted scene be told from its grey version? A linear probe (ridge regression) from the frozen
part of unet-lite2's backbone to the log of each photo's true colourfulness, fitted on the training
photos and scored by rank correlation: 5-fold cross-validation on the training photos, then the
validation split. For comparison, the rank correlation of the network's own colourfulness (its gain-1
output) with the truth's on the validation split.

Features per photo, at the working size: the mean and standard deviation over the picture of each
channel of the stride-8 (48) and stride-16 (120) feature maps (stages that stage 2 left frozen), and
the mean, spread and 10-bin histogram of L*.

    python experiments/muted_scene_probe.py --photos ../shared/data/photos --val-list results/val_split.txt \
        -o results/training/muted_scene_probe.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import framecolor
from framecolor.color_cpu import LabToRGB8, l_from_pixels
from framecolor.evaluate import list_eval_images, val_names
from framecolor.images import read_image
from framecolor.inference import working_shape
from framecolor.io import atomic_write
from framecolor.metrics import colorfulness
from framecolor.training.data import is_gray


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.argsort().argsort(), b.argsort().argsort())[0, 1])


def ridge_fit(A: np.ndarray, b: np.ndarray, lam: float) -> np.ndarray:
    A1 = np.c_[A, np.ones(len(A))]
    reg = lam * np.eye(A1.shape[1])
    reg[-1, -1] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(A1.T @ A1 + reg, A1.T @ b)


def ridge_predict(w: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.c_[A, np.ones(len(A))] @ w


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--val-list", type=Path, required=True)
    p.add_argument("--model", default="unet-lite2")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    val = set(val_names(args.val_list))
    c = framecolor.load_colorizer(args.model, device="cpu", chroma_gain=1.0, flip_average=False)
    merge = LabToRGB8()
    X, truth, own, is_val = [], [], [], []
    for f in sorted(list_eval_images(args.photos)):
        pic = read_image(f)
        if pic.was_gray or is_gray(pic.rgb):
            continue
        levels = np.rint(pic.rgb * 255).astype(np.uint8)
        L = torch.from_numpy(l_from_pixels(levels))[None, None]
        small = F.interpolate(L, size=working_shape(*L.shape[-2:], c.size), mode="bilinear", antialias=True,
                              align_corners=False)
        with torch.inference_mode():
            (_, f8, f16, _), _ = c.model.encode(small)
        ls = small[0, 0].numpy()
        X.append(np.concatenate([t.float().mean((2, 3))[0].numpy() for t in (f8, f16)]
                                + [t.float().std((2, 3))[0].numpy() for t in (f8, f16)]
                                + [[ls.mean() / 100, ls.std() / 100], np.histogram(ls, 10, (0, 100))[0] / ls.size]))
        truth.append(colorfulness(levels.astype(np.float32) / 255))
        v = str(f.relative_to(args.photos)) in val
        is_val.append(v)
        if v:  # the network's own guess: its gain-1 output, as colorize merges it
            ab = c.working_ab(L)[0].permute(1, 2, 0).contiguous().numpy()
            own.append(colorfulness(merge(L[0, 0].numpy(), ab).astype(np.float32) / 255))
    X, t, is_val = np.array(X), np.log1p(np.array(truth)), np.array(is_val)
    Z = (X - X[~is_val].mean(0)) / (X[~is_val].std(0) + 1e-6)
    folds = np.random.default_rng(0).integers(0, 5, (~is_val).sum())
    Ztr, ttr = Z[~is_val], t[~is_val]
    lines = [f"Linear probe from {args.model}'s frozen features to the log of the true colourfulness: "
             f"{(~is_val).sum()} training photos, {is_val.sum()} validation photos.", "",
             "| ridge lambda | rank correlation, 5-fold CV on training photos | rank correlation, validation photos |",
             "|---:|---:|---:|"]
    for lam in (10.0, 100.0, 1000.0):
        cv = np.zeros(len(ttr))
        for k in range(5):
            cv[folds == k] = ridge_predict(ridge_fit(Ztr[folds != k], ttr[folds != k], lam), Ztr[folds == k])
        pv = ridge_predict(ridge_fit(Ztr, ttr, lam), Z[is_val])
        lines.append(f"| {lam:g} | {spearman(cv, ttr):.3f} | {spearman(pv, t[is_val]):.3f} |")
    lines += ["", f"The network's own colourfulness (gain 1) against the truth's, validation photos: rank correlation "
              f"{spearman(np.array(own), t[is_val]):.3f}.", "",
              "Command: `python experiments/muted_scene_probe.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    atomic_write(args.output, ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
