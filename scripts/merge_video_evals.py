"""Merge `framecolor evaluate-video` reports (e.g. one per cross-validation fold) into one table.

    python scripts/merge_video_evals.py fold0.json fold1.json fold2.json fold3.json \
        --only clip_a,clip_b --json merged.json --markdown merged.md

The summary is the same as evaluate-video's (mean of each metric over clips, CDC ratios taken of the
means); the median of the per-clip CDC ratios and a per-clip table are added beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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


def main(argv=None) -> int:
    from framecolor.io import atomic_write
    from framecolor.video_eval import markdown, summarize

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", nargs="+", help="evaluate-video --json reports")
    p.add_argument("--only", help="comma-separated clip names to keep (default: all)")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown")
    args = p.parse_args(argv)
    reports = [json.loads(Path(r).read_text()) for r in args.reports]
    only = {n.strip() for n in args.only.split(",") if n.strip()} if args.only else None
    clips = merge(reports, only)
    fold_of = {clip_name(k): Path(path).stem for path, rep in zip(args.reports, reports) for k in rep["clips"]}
    summary = summarize(clips)
    ratios = per_clip_ratios(clips)
    median = {m: float(np.median([r[m] for r in ratios.values()])) for m in summary}
    out = {"reports": args.reports, "clips_scored": sorted(clips), "summary": summary,
           "median_per_clip_cdc_over_none": median, "per_clip_cdc_over_none": ratios, "clips": clips}
    atomic_write(args.json, (json.dumps(out, indent=2) + "\n").encode())
    text = (f"{len(clips)} clips, mean over clips:\n\n" + markdown(summary)
            + "\nMedian over clips of CDC / none: "
            + ", ".join(f"{m} {v:.2f}" for m, v in median.items()) + "\n\n" + clip_table(clips, ratios, fold_of))
    if args.markdown:
        atomic_write(args.markdown, text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
