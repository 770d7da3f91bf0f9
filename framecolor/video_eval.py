"""`framecolor evaluate-video`: colour clips made grey, colorized per temporal mode, scored.

Reports PSNR, SSIM, colourfulness, CDC and warp error for each mode, and CDC, colourfulness and
warp error for the ground-truth clip itself (its PSNR/SSIM against itself are not meaningful).
A grey baseline (each frame's own L* with a*b* = 0, no colour at all) is scored beside them: its CDC
is what the luminance changes alone cost, the part of CDC no choice of colour removes.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Sequence

import numpy as np

from . import metrics
from .config import FLOW_STRENGTH, LSTM_MODEL, TEMPORAL_MODES, ColorizerSettings, check_temporal_modes
from .evaluate import GREY  # the image evaluation's a*b* = 0 baseline; the same name here
from .inference import ImageColorizer
from .io import atomic_write
from .video.probe import probe
from .video.reader import read_frames
from .film.stream import StreamColorizer, colorize_frames

COLUMNS = ("psnr", "ssim", "colorfulness", "cdc", "warp_error")


def load_clip(path: str | os.PathLike, max_frames: int) -> list[np.ndarray]:
    """First `max_frames` frames of a clip as (H, W, 3) uint8 RGB (a bounded, in-memory slice)."""
    frames = []
    for f in read_frames(probe(path)):
        frames.append(f.rgb)
        if len(frames) == max_frames:
            break
    return frames


def _grays(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    import cv2

    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]


def grey_frames(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each uint8 RGB frame as neutral grey of its own L* (a*b* = 0), rendered by the CPU video merge
    (color_cpu), as `framecolor video` would write it; evaluate.constant_ab_rgb is the photo path's."""
    from .color_cpu import l_from_rgb8_array, lab_to_rgb8

    zero = np.zeros((1, 1, 2), np.float32)
    return [lab_to_rgb8(l_from_rgb8_array(f), zero) for f in frames]


def score(frames: Sequence[np.ndarray], truth: Sequence[np.ndarray] | None, grays: Sequence[np.ndarray]) -> dict:
    """Video metrics of uint8 RGB `frames`; PSNR/SSIM only against a different `truth`."""
    fl = [f.astype(np.float32) / 255 for f in frames]
    out = {"colorfulness": float(np.mean([metrics.colorfulness(f) for f in fl])),
           "cdc": metrics.cdc(fl), "warp_error": metrics.warp_error(fl, grays)}
    if truth is not None:
        tl = [t.astype(np.float32) / 255 for t in truth]
        out["psnr"] = float(np.mean([metrics.psnr(a, b) for a, b in zip(fl, tl)]))
        out["ssim"] = float(np.mean([metrics.ssim(a, b) for a, b in zip(fl, tl)]))
    return out


def evaluate_clip(path: str | os.PathLike, engines: dict[str, ImageColorizer], max_frames: int = 90,
                  flow_strength: float = FLOW_STRENGTH) -> dict:
    """{mode: metrics} for one clip, plus "ground truth"; `engines` maps a temporal mode to its model."""
    truth = load_clip(path, max_frames)
    grays = _grays(truth)
    result = {"ground truth": score(truth, None, grays), GREY: score(grey_frames(truth), truth, grays)}
    for mode, engine in engines.items():
        colorizer = StreamColorizer(engine, mode, flow_strength=flow_strength)
        out = list(colorize_frames(truth, colorizer, engine.batch_size))
        result[mode] = score(out, truth, grays)
    return result


def summarize(per_clip: dict[str, dict]) -> dict[str, dict]:
    """Mean of each metric over clips, per mode."""
    modes = next(iter(per_clip.values())).keys()
    return {m: {k: float(np.mean([c[m][k] for c in per_clip.values() if k in c[m]]))
                for k in COLUMNS if any(k in c[m] for c in per_clip.values())} for m in modes}


def markdown(summary: dict[str, dict]) -> str:
    """Markdown table: one row per mode, CDC also as a ratio to `none` and to the ground truth."""
    head = "| mode | PSNR (dB) | SSIM | colourfulness | CDC | CDC / none | CDC / truth | warp error |"
    rows = [head, "|" + "---|" * 8]
    gt, none = summary.get("ground truth", {}).get("cdc"), summary.get("none", {}).get("cdc")
    for mode, m in summary.items():
        cell = lambda k, fmt: format(m[k], fmt) if k in m else "-"  # noqa: E731
        ratio = lambda ref: f"{m['cdc'] / ref:.2f}" if ref else "-"  # noqa: E731
        rows.append(f"| {mode} | {cell('psnr', '.2f')} | {cell('ssim', '.4f')} | {cell('colorfulness', '.1f')} | "
                    f"{cell('cdc', '.5f')} | {ratio(none)} | {ratio(gt)} | {cell('warp_error', '.5f')} |")
    return "\n".join(rows) + "\n"


def load_engines(settings: ColorizerSettings, modes: Sequence[str],
                 lstm_model: str | os.PathLike = LSTM_MODEL) -> tuple[dict[str, ImageColorizer], dict[str, str]]:
    """A colorizer for each temporal mode: `settings.model` for none and flow, and for lstm the same
    model if it has a temporal head, else `lstm_model` (with the same settings). Returns the engines
    and, for a mode whose model cannot be loaded, the reason it is skipped."""
    from .inference import colorizer_from
    from .models.embedders import WeightsError

    check_temporal_modes(*modes)
    engines, skipped = {}, {}
    base = colorizer_from(settings) if set(modes) - {"lstm"} else None
    for mode in modes:
        if mode != "lstm":
            engines[mode] = base
            continue
        try:
            engines[mode] = (base if base is not None and base.model.temporal is not None
                             else colorizer_from(settings, lstm_model))
        except WeightsError as e:
            skipped[mode] = str(e)
    return engines, skipped


def evaluate_videos(clips: Sequence[str | os.PathLike], settings: ColorizerSettings,
                    modes: Sequence[str] = TEMPORAL_MODES, lstm_model: str | os.PathLike = LSTM_MODEL,
                    max_frames: int = 90, flow_strength: float = FLOW_STRENGTH,
                    log: Callable[[str], None] | None = None) -> dict:
    """Score each temporal mode on colour clips made grey (`framecolor evaluate-video`): the report
    with each clip's scores, their summary, and the modes skipped with the reason. `log` gets one line
    per clip and per skipped mode."""
    log = log or (lambda line: None)
    engines, skipped = load_engines(settings, modes, lstm_model)
    for mode, why in skipped.items():
        log(f"warning: skipping {mode}: {why}")
    per_clip = {}
    for clip in clips:
        log(f"evaluating {clip}")
        per_clip[str(clip)] = evaluate_clip(clip, engines, max_frames, flow_strength)
    return {"model": str(settings.model), "lstm_model": str(lstm_model), "size": settings.size,
            "flow_strength": flow_strength, "max_frames": max_frames, "skipped": skipped,
            "summary": summarize(per_clip), "clips": per_clip}


def write_report(report: dict, json_path: str | os.PathLike, markdown_path: str | os.PathLike | None = None) -> str:
    """Write `report` (evaluate_videos) as JSON, and its Markdown table if `markdown_path`; returns the table."""
    atomic_write(json_path, (json.dumps(report, indent=2) + "\n").encode())
    table = markdown(report["summary"])
    if markdown_path:
        atomic_write(markdown_path, table.encode())
    return table
