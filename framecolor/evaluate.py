"""Evaluation on held-out colour photos: each is made grey, colorized exactly as `framecolor colorize`
does (working size, full-resolution L* merge, output quantised to the file's bit depth), and compared
with the truth.

Metrics per method: PSNR (RGB), SSIM, Hasler-Suesstrunk colourfulness, and its difference from the
ground truth's. Methods: each model plus two baselines, `grey` (a*b* = 0) and `train-mean-ab` (one
constant a*b*, the training set's mean, over the whole image). Scores are means over images. Images
that cannot be read, or are already grey (the training's own filter), are skipped and listed.

Where the constant mean a*b* comes from, first match wins:
  1. `mean_ab=` given (the CLI's --mean-ab: a JSON file, `[a, b]` or `{"train_mean_ab": [a, b]}`);
  2. the `train_mean_ab` key in the first model checkpoint's JSON sidecar (written by `framecolor train`);
  3. computed here from the training images (the CLI's --train-list, paths relative to --data).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from .color import lab_to_rgb, rgb_to_lab
from .images import ImageError, Picture, find_images, read_image, to_array
from .inference import ImageColorizer
from .io import atomic_write
from .metrics import colorfulness, psnr, ssim

GREY, MEAN_AB, TRUTH = "grey", "train-mean-ab", "ground truth"
METRICS = ("psnr", "ssim", "colorfulness", "colorfulness_diff")


@dataclass
class EvalResult:
    """per_image: one row per image and method; summary: method -> mean of each metric."""

    methods: list[str]
    per_image: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    grid: list[tuple[str, dict[str, np.ndarray]]] = field(default_factory=list)
    mean_ab: tuple[float, float] = (0.0, 0.0)
    mean_ab_source: str = ""
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        truth = {r["image"]: r["truth_colorfulness"] for r in self.per_image}
        tc = float(np.mean(list(truth.values()))) if truth else math.nan
        for m in self.methods:
            rows = [r for r in self.per_image if r["method"] == m]
            out[m] = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
            out[m].update(colorfulness_ratio=out[m]["colorfulness"] / tc if tc else math.nan, images=len(rows))
        out[TRUTH] = {"colorfulness": tc, "images": len(truth)}
        return out


def list_eval_images(data: str | os.PathLike, val_list: str | os.PathLike | None = None,
                     limit: int | None = None) -> list[Path]:
    """Images under `data`, or those named (relative to `data`, one per line) in `val_list`."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: data folder not found")
    if val_list is None:
        files, _ = find_images([data])
    else:
        files = [data / n for n in val_names(val_list)]
    if not files:
        raise ImageError(f"{val_list or data}: no images to evaluate")
    return files[:limit] if limit else files


def val_names(val_list: str | os.PathLike) -> list[str]:
    """The names in a validation list (relative to the data folder, one per line; # starts a comment)."""
    return [n.strip() for n in Path(val_list).read_text().splitlines() if n.strip() and not n.startswith("#")]


def list_training_images(data: str | os.PathLike, val_list: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The images under `data` that `val_list` does not name, sorted by path: the first `limit` of them
    are the training photos that calibrations and probes score, never the validation split."""
    val = set(val_names(val_list))
    files = sorted(f for f in list_eval_images(data) if str(f.relative_to(data)) not in val)
    return files[:limit] if limit else files


def read_mean_ab(path: str | os.PathLike) -> tuple[float, float]:
    """A JSON file holding `[a, b]` or an object with a `train_mean_ab` key (e.g. a checkpoint sidecar)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read a mean a*b* from it ({e})") from None
    if isinstance(value, dict):
        value = value.get("train_mean_ab")
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"{path}: expected [a, b] or {{\"train_mean_ab\": [a, b]}}")
    return float(value[0]), float(value[1])


def mean_ab_of(files: Iterable[Path], stride: int = 4) -> tuple[float, float]:
    """Pixel mean of a*, b* over colour images (every `stride`-th pixel in each direction)."""
    sums, n = np.zeros(2), 0
    for f in files:
        rgb = torch.from_numpy(read_image(f).rgb[::stride, ::stride]).permute(2, 0, 1)
        ab = rgb_to_lab(rgb)[1:].double()
        sums += ab.sum(dim=(1, 2)).numpy()
        n += ab.shape[1] * ab.shape[2]
    if n == 0:
        raise ValueError("no training images to compute the mean a*b* from")
    return float(sums[0] / n), float(sums[1] / n)


def resolve_mean_ab(mean_ab: str | None, checkpoints: Sequence[str], train_files: Sequence[Path] | None
                    ) -> tuple[tuple[float, float], str]:
    """(a, b) and a note on where it came from; see the module docstring for the order."""
    from .models.registry import read_meta, resolve_checkpoint

    if mean_ab is not None:
        return read_mean_ab(mean_ab), f"file {mean_ab}"
    for ckpt in checkpoints[:1]:
        value = read_meta(resolve_checkpoint(ckpt)).get("train_mean_ab")
        if value is not None:
            return (float(value[0]), float(value[1])), f"checkpoint {ckpt} (train_mean_ab)"
    if train_files:
        return mean_ab_of(train_files), f"computed from {len(train_files)} training images"
    raise ValueError("no mean a*b* for the train-mean-ab baseline: give --mean-ab FILE or --train-list FILE "
                     "(the model's JSON sidecar has no train_mean_ab key)")


def constant_ab_rgb(rgb: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    """(H, W, 3) truth -> the same L* with one constant a*b* everywhere, as (H, W, 3) sRGB."""
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1))
    lab[1], lab[2] = ab
    return lab_to_rgb(lab).permute(1, 2, 0).numpy()


def _quantised(rgb: np.ndarray, bit_depth: int) -> np.ndarray:
    """What the written file would hold, back as float in [0, 1]."""
    return to_array(rgb, None, bit_depth).astype(np.float32) / (65535.0 if bit_depth == 16 else 255.0)


def predictions(colorizers: dict[str, ImageColorizer], pic: Picture, mean_ab: tuple[float, float]
                ) -> dict[str, np.ndarray]:
    """method -> (H, W, 3) float RGB in [0, 1] for one truth picture (only its L* is ever used)."""
    out = {GREY: constant_ab_rgb(pic.rgb, (0.0, 0.0)), MEAN_AB: constant_ab_rgb(pic.rgb, mean_ab)}
    for name, c in colorizers.items():
        out[name] = c.colorize_picture(Picture(pic.rgb, None, pic.bit_depth)).rgb
    return {k: _quantised(v, pic.bit_depth) for k, v in out.items()}


def scores(pred: np.ndarray, truth: np.ndarray, truth_colorfulness: float) -> dict[str, float]:
    c = colorfulness(pred)
    return {"psnr": psnr(pred, truth), "ssim": ssim(pred, truth), "colorfulness": c,
            "colorfulness_diff": c - truth_colorfulness}


def evaluate(files: Sequence[Path], colorizers: dict[str, ImageColorizer], mean_ab: tuple[float, float],
             grid: int = 4, skip_gray: bool = True, progress: bool = True) -> EvalResult:
    """Score every model and both baselines on `files`; keeps the first `grid` images for a figure."""
    from tqdm import tqdm

    from .training.data import is_gray

    result = EvalResult([*colorizers, GREY, MEAN_AB], mean_ab=mean_ab)
    for f in tqdm(files, unit="img", disable=not progress or len(files) < 2):
        try:
            pic = read_image(f)
        except (ImageError, OSError) as e:
            result.skipped.append(str(e))
            continue
        if skip_gray and (pic.was_gray or is_gray(pic.rgb)):
            result.skipped.append(f"{f}: already grey, no colour to compare with")
            continue
        _score_one(result, f, pic, predictions(colorizers, pic, mean_ab), grid)
    if not result.per_image:
        raise ImageError("no colour images could be evaluated: " + "; ".join(result.skipped[:3]))
    return result


def _score_one(result: EvalResult, f: Path, pic: Picture, preds: dict[str, np.ndarray], grid: int) -> None:
    truth = _quantised(pic.rgb, pic.bit_depth)
    tc = colorfulness(truth)
    for method, pred in preds.items():
        result.per_image.append({"image": str(f), "method": method, **scores(pred, truth, tc),
                                 "truth_colorfulness": tc})
    if len(result.grid) < grid:
        result.grid.append((f.name, {**preds, TRUTH: truth}))


def markdown_table(result: EvalResult) -> str:
    """The summary as a Markdown table, models first, then baselines and the truth."""
    s = result.summary()
    lines = ["| method | PSNR (dB) | SSIM | colourfulness | diff. from truth | ratio to truth |",
             "|---|---:|---:|---:|---:|---:|"]
    for m, v in s.items():
        if m == TRUTH:
            lines.append(f"| {m} | - | - | {v['colorfulness']:.1f} | 0.0 | 1.00 |")
            continue
        lines.append(f"| {m} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['colorfulness']:.1f} | "
                     f"{v['colorfulness_diff']:+.1f} | {v['colorfulness_ratio']:.2f} |")
    n = s[TRUTH]["images"]
    a, b = result.mean_ab
    lines += ["", f"{n} image(s); {len(result.skipped)} skipped. train-mean-ab baseline: a*={a:.2f}, b*={b:.2f} "
              f"({result.mean_ab_source}). Colourfulness: Hasler and Suesstrunk (2003), 0-255 RGB."]
    return "\n".join(lines) + "\n"


def save_grid(result: EvalResult, path: str | os.PathLike, box: tuple[int, int] = (160, 240)) -> Path | None:
    """PNG grid: one row per image; columns grey | each model | train-mean-ab | truth, each fitted in `box`."""
    import cv2

    if not result.grid:
        return None
    cols = [GREY, *[m for m in result.methods if m not in (GREY, MEAN_AB)], MEAN_AB, TRUTH]
    rows = [np.concatenate([_tile(images[c], box) for c in cols], axis=1) for _, images in result.grid]
    arr = np.concatenate([_header(cols, box[1] + 4), *rows], axis=0)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    return atomic_write(path, buf.tobytes())


def _tile(rgb: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float -> uint8 tile of box + 4 px white margin, aspect kept, centred."""
    import cv2

    bh, bw = box
    s = min(bh / rgb.shape[0], bw / rgb.shape[1])
    h, w = max(1, round(rgb.shape[0] * s)), max(1, round(rgb.shape[1] * s))
    img = cv2.resize(rgb.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    tile = np.full((bh + 4, bw + 4, 3), 255, np.uint8)
    top, left = (bh - h) // 2 + 2, (bw - w) // 2 + 2
    tile[top:top + h, left:left + w] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return tile


def _header(labels: Sequence[str], width: int) -> np.ndarray:
    import cv2

    bar = np.full((24, width * len(labels), 3), 255, np.uint8)
    for i, label in enumerate(labels):
        cv2.putText(bar, label[: width // 9], (i * width + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return bar


def write_reports(result: EvalResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """evaluation.json (settings, summary, per image), evaluation.md (table), evaluation_grid.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"settings": result.settings, "mean_ab": list(result.mean_ab), "mean_ab_source": result.mean_ab_source,
           "summary": result.summary(), "skipped": result.skipped, "per_image": result.per_image}
    text = json.dumps(_finite(doc), indent=1, allow_nan=False) + "\n"
    paths = {"json": atomic_write(out / "evaluation.json", text.encode()),
             "markdown": atomic_write(out / "evaluation.md", markdown_table(result).encode())}
    grid = save_grid(result, out / "evaluation_grid.png")
    if grid is not None:
        paths["grid"] = grid
    return paths


def _finite(x):
    """JSON-safe copy: numpy scalars -> float, inf/nan (PSNR of identical images) -> null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def model_label(name: str, taken: Iterable[str] = ()) -> str:
    """A short column name: the registry name, or the checkpoint's stem (its path when that clashes)."""
    from .models.registry import COLORIZERS

    label = name if name in COLORIZERS else Path(name).stem
    return name if label in set(taken) or label in (GREY, MEAN_AB, TRUTH) else label


def load_colorizers(names: Sequence[str], load: Callable[[str], ImageColorizer]) -> dict[str, ImageColorizer]:
    out: dict[str, ImageColorizer] = {}
    for name in names:
        out[model_label(name, out)] = load(name)
    return out
