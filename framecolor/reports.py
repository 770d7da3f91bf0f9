"""Tables made from other commands' reports: `framecolor evaluate-video` reports of disjoint clip sets
(cross-validation folds) merged into one (`framecolor merge-video-evals`), and validation metrics per
epoch from training runs' history.json files (`framecolor loss-table`)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InputError
from .io import atomic_write
from .video_eval import markdown, summarize


def clip_name(key: str) -> str:
    return Path(key).stem


def merge(reports: list[dict], only: set[str] | None = None) -> dict[str, dict]:
    """{clip name: {mode: metrics}} over all reports; a clip in two reports is an error."""
    clips: dict[str, dict] = {}
    for report in reports:
        for key, result in report["clips"].items():
            name = clip_name(key)
            if name in clips:
                raise ValueError(f"clip {name} is in more than one report")
            if only is None or name in only:
                clips[name] = result
    if only is not None and only - set(clips):
        raise ValueError(f"not in any report: {', '.join(sorted(only - set(clips)))}")
    return clips


def per_clip_ratios(clips: dict[str, dict]) -> dict[str, dict[str, float]]:
    """{clip: {mode: CDC / none's CDC}} (ground truth included)."""
    return {name: {m: res[m]["cdc"] / res["none"]["cdc"] for m in res} for name, res in clips.items()}


def clip_table(clips: dict[str, dict], ratios: dict[str, dict[str, float]], fold_of: dict[str, str]) -> str:
    modes = [m for m in next(iter(clips.values())) if m != "none"]
    rows = ["| clip | fold | CDC none | " + " | ".join(f"{m} / none" for m in modes) + " | PSNR flow - none | PSNR lstm - none |",
            "|" + "---|" * (5 + len(modes))]
    for name in sorted(clips):
        r = clips[name]
        dpsnr = lambda m: f"{r[m]['psnr'] - r['none']['psnr']:+.2f}" if m in r else "-"  # noqa: E731
        rows.append(f"| {name} | {fold_of.get(name, '-')} | {r['none']['cdc']:.5f} | "
                    + " | ".join(f"{ratios[name][m]:.2f}" for m in modes)
                    + f" | {dpsnr('flow')} | {dpsnr('lstm')} |")
    return "\n".join(rows) + "\n"


def _read_json(path: str | os.PathLike, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not a JSON {what} ({e})", path) from None


def merge_video_evals(report_paths: Sequence[str | os.PathLike], json_out: str | os.PathLike,
                      markdown_out: str | os.PathLike | None = None, only: set[str] | None = None) -> str:
    """Merge evaluate-video reports into one JSON (and Markdown) report; returns the Markdown text. The
    summary is evaluate-video's (mean of each metric over clips, CDC ratios of the means); the median of
    the per-clip CDC ratios and a per-clip table are added beside it."""
    reports = [_read_json(r, "evaluate-video report") for r in report_paths]
    for path, rep in zip(report_paths, reports):
        if not isinstance(rep, dict) or not isinstance(rep.get("clips"), dict):
            raise InputError("not an evaluate-video report (no 'clips' in it)", path)
    clips = merge(reports, only)
    fold_of = {clip_name(k): Path(path).stem for path, rep in zip(report_paths, reports) for k in rep["clips"]}
    summary = summarize(clips)
    ratios = per_clip_ratios(clips)
    median = {m: float(np.median([r[m] for r in ratios.values()])) for m in summary}
    out = {"reports": [str(r) for r in report_paths], "clips_scored": sorted(clips), "summary": summary,
           "median_per_clip_cdc_over_none": median, "per_clip_cdc_over_none": ratios, "clips": clips}
    atomic_write(json_out, (json.dumps(out, indent=2) + "\n").encode())
    text = (f"{len(clips)} clips, mean over clips:\n\n" + markdown(summary)
            + "\nMedian over clips of CDC / none: "
            + ", ".join(f"{m} {v:.2f}" for m, v in median.items()) + "\n\n" + clip_table(clips, ratios, fold_of))
    if markdown_out:
        atomic_write(markdown_out, text.encode())
    return text


def loss_table(histories: Sequence[str | os.PathLike]) -> str:
    """Markdown table of validation metrics per epoch from runs' history.json files (with --ema runs, the
    averaged weights' scores and, in the last column, the live weights'). A run is named by its folder."""
    lines = ["| run | epoch | val PSNR (dB) | val colourfulness | ratio to truth | lr | live weights (with --ema): PSNR, ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for h in histories:
        rows = _read_json(h, "training history")
        try:
            for row in rows:
                lines.append(_loss_row(Path(h).parent.name, row))
        except (KeyError, TypeError) as e:
            raise InputError(f"not a training history.json (missing {e})", h) from None
    return "\n".join(lines) + "\n"


def _loss_row(name: str, row: dict) -> str:
    ratio = row["val_colorfulness"] / row["val_colorfulness_true"]
    live = "-"
    if "raw_val_psnr" in row:
        live = f"{row['raw_val_psnr']:.2f}, {row['raw_val_colorfulness'] / row['val_colorfulness_true']:.2f}"
    return (f"| {name} | {row['epoch']} | {row['val_psnr']:.2f} | {row['val_colorfulness']:.1f} | "
            f"{ratio:.2f} | {row['lr']:g} | {live} |")
