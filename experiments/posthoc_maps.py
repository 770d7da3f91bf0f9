"""Maps of a colorizer's predicted a*b* at inference, scored against the plain chroma gain.

Each photo is made grey and colorized once at gain 1 (and once mirrored, for the flip average); the
maps below are applied to the working-size a*b*, which is then merged with the full-resolution L* as
`framecolor colorize` does. Each map's PSNR is compared with the global gain's at the same
colourfulness ratio (piecewise-linear between the gains scored), so a map is a better trade only if
it beats that line. Scored on two sets the validation split is not in: the first N training photos
(sorted by path, as experiments/calibrate_gain.py) and the first N Tiny ImageNet validation photos.

    python experiments/posthoc_maps.py unet-lite2 --photos ../shared/data/photos --val-list results/val_split.txt \
        --tiny ../shared/data/tinyimagenet -o results/training/posthoc_maps
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

import framecolor
from framecolor.color_cpu import LabToRGB8, l_from_pixels
from framecolor.evaluate import list_training_images
from framecolor.images import read_image
from framecolor.io import atomic_write
from framecolor.metrics import colorfulness, psnr
from framecolor.training.data import is_gray

GAINS = (1.0, 1.1, 1.2, 1.3, 1.4)


def photo_levels(data: Path, val_list: Path, n: int):
    for f in list_training_images(data, val_list, n):
        pic = read_image(f)
        if not (pic.was_gray or is_gray(pic.rgb)):
            yield np.rint(pic.rgb * 255).astype(np.uint8)


def tiny_levels(folder: Path, n: int):
    from PIL import Image

    with zipfile.ZipFile(folder / "val-00.zip") as z:
        for m in sorted(m for m in z.namelist() if m.lower().endswith((".jpg", ".jpeg", ".png")))[:n]:
            rgb = np.asarray(Image.open(io.BytesIO(z.read(m))).convert("RGB"))
            if not is_gray(rgb.astype(np.float32) / 255):
                yield rgb


def predict(colorizer, levels_iter) -> list[dict]:
    items = []
    for levels in levels_iter:
        L = l_from_pixels(levels)
        Lt = torch.from_numpy(L)[None, None]
        items.append({"levels": levels, "L": L, "ab": colorizer.working_ab(Lt)[0].numpy(),
                      "abf": colorizer.working_ab(Lt.flip(-1))[0].flip(-1).numpy(),
                      "tc": colorfulness(levels.astype(np.float32) / 255)})
    return items


def _chroma(ab: np.ndarray) -> np.ndarray:
    return np.sqrt((ab ** 2).sum(0, keepdims=True)) + 1e-6


def _mean(ab: np.ndarray) -> np.ndarray:
    return ab.mean((1, 2), keepdims=True)


MAPS = {
    **{f"gain {g:g}": (lambda it, g=g: it["ab"] * g) for g in GAINS},
    **{f"flip average, gain {g:g}": (lambda it, g=g: (it["ab"] + it["abf"]) / 2 * g) for g in (1.0, 1.2, 1.3)},
    **{f"chroma power {p:g}, gain {g:g}": (lambda it, g=g, p=p: it["ab"] * g * (_chroma(it["ab"]) / 20.0) ** p)
       for p in (0.15, 0.3) for g in (1.0, 1.1)},
    **{f"per-photo gain x (mean chroma / 12)^{q:g}, gain {g:g}":
       (lambda it, g=g, q=q: it["ab"] * g * (max(float(_chroma(it["ab"]).mean()), 1e-3) / 12.0) ** q)
       for q in (0.25, 0.5, 1.0) for g in (1.1, 1.2)},
    **{f"blur sigma {s}, gain 1.2": (lambda it, s=s: np.stack([cv2.GaussianBlur(a, (0, 0), s) for a in it["ab"]]) * 1.2)
       for s in (2, 4)},
    **{f"mean cast x{1 - b:g}, gain {g:g}": (lambda it, g=g, b=b: g * (it["ab"] - b * _mean(it["ab"])))
       for b in (0.25, 0.5) for g in (1.2, 1.3)},
    **{f"deviation gain {g:g}, mean gain 1": (lambda it, g=g: g * (it["ab"] - _mean(it["ab"])) + _mean(it["ab"]))
       for g in (1.3, 1.5)},
}


def score(items: list[dict], fn) -> tuple[float, float]:
    merge, ps, cs = LabToRGB8(), [], []
    for it in items:
        ab = np.zeros_like(it["ab"]) if fn is None else fn(it).astype(np.float32)
        pred = merge(it["L"], np.ascontiguousarray(ab.transpose(1, 2, 0))).astype(np.float32) / 255
        ps.append(psnr(pred, it["levels"].astype(np.float32) / 255))
        cs.append(colorfulness(pred))
    return float(np.mean(ps)), float(np.mean(cs) / np.mean([it["tc"] for it in items]))


def gain_line(points: list[tuple[float, float]], ratio: float) -> float:
    """The global gain's PSNR at a colourfulness ratio: piecewise linear through (psnr, ratio) points,
    extended from the end segments."""
    pts = sorted(points, key=lambda p: p[1])
    for (p1, r1), (p2, r2) in zip(pts, pts[1:]):
        if ratio <= r2 or (p2, r2) == pts[-1]:
            return p1 + (ratio - r1) * (p2 - p1) / (r2 - r1)
    raise ValueError("need two points")


def add_set_arguments(p: argparse.ArgumentParser) -> None:
    """The two scoring sets (training photos, Tiny ImageNet validation) and the output folder."""
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--val-list", type=Path, required=True)
    p.add_argument("--tiny", type=Path, required=True)
    p.add_argument("--n-photos", type=int, default=302)
    p.add_argument("--n-tiny", type=int, default=1000)
    p.add_argument("-o", "--output", type=Path, required=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    add_set_arguments(p)
    args = p.parse_args(argv)
    c = framecolor.load_colorizer(args.model, device="cpu", chroma_gain=1.0, flip_average=False)
    sets = {"training photos": predict(c, photo_levels(args.photos, args.val_list, args.n_photos)),
            "Tiny ImageNet validation": predict(c, tiny_levels(args.tiny, args.n_tiny))}
    result = {"model": args.model, "sets": {}}
    for name, items in sets.items():
        grey = score(items, None)[0]
        rows = {m: score(items, fn) for m, fn in MAPS.items()}
        line = [rows[f"gain {g:g}"] for g in GAINS]
        result["sets"][name] = {"photos": len(items), "grey_psnr": grey,
                                "maps": {m: {"psnr": ps, "colorfulness_ratio": r, "vs_gain_line": ps - gain_line(line, r)}
                                         for m, (ps, r) in rows.items()}}
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output / "posthoc_maps.json", (json.dumps(result, indent=1) + "\n").encode())
    names = list(sets)
    sizes = ", ".join(f"{n}: {result['sets'][n]['photos']}, grey {result['sets'][n]['grey_psnr']:.2f} dB" for n in names)
    lines = [f"Maps of {args.model}'s a*b* at inference ({sizes}). "
             "'vs gain' is the PSNR minus the global gain's at the same colourfulness ratio.", "",
             "| map | " + " | ".join(f"{n}: PSNR (dB) | ratio | vs gain" for n in names) + " |",
             "|---|" + "---:|---:|---:|" * len(names)]
    for m in MAPS:
        cells = [result["sets"][n]["maps"][m] for n in names]
        lines.append(f"| {m} | " + " | ".join(f"{x['psnr']:.2f} | {x['colorfulness_ratio']:.3f} | {x['vs_gain_line']:+.3f}" for x in cells) + " |")
    lines += ["", "Command: `python experiments/posthoc_maps.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    atomic_write(args.output / "posthoc_maps.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
