"""Per-frame PSNR and colourfulness of the per-frame model against a temporal head (no flow carry),
to see whether the head's state drifts over a clip.

    python experiments/head_per_frame.py clip.mp4 --heads koala-effnet-lite0-lstm,runs/x/best.safetensors \
        --max-frames 48 --json head_per_frame.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np



def per_frame(frames: list[np.ndarray], truth: list[np.ndarray]) -> dict[str, list[float]]:
    from framecolor import metrics

    f32 = lambda x: x.astype(np.float32) / 255  # noqa: E731
    return {"psnr": [metrics.psnr(f32(f), f32(t)) for f, t in zip(frames, truth)],
            "colorfulness": [metrics.colorfulness(f32(f)) for f in frames]}


def main(argv=None) -> int:
    from framecolor.inference import load_colorizer
    from framecolor.io import atomic_write
    from framecolor.video_eval import StreamColorizer, colorize_frames, load_clip

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clip", help="a colour clip (made grey here)")
    p.add_argument("--model", default="koala-effnet-lite0", help="the per-frame model")
    p.add_argument("--heads", default="koala-effnet-lite0-lstm", help="comma-separated models with a temporal head")
    p.add_argument("--max-frames", type=int, default=48)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    truth = load_clip(args.clip, args.max_frames)
    runs = {"none": (args.model, "none")} | {h: (h, "lstm") for h in args.heads.split(",") if h}
    result = {}
    for label, (name, mode) in runs.items():
        engine = load_colorizer(name, args.device)
        out = list(colorize_frames(truth, StreamColorizer(engine, mode, flow_strength=0.0), engine.batch_size))
        result[label] = per_frame(out, truth)
    report = {"clip": str(args.clip), "max_frames": args.max_frames, "per_frame": result,
              "mean": {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in result.items()}}
    atomic_write(args.json, (json.dumps(report, indent=2) + "\n").encode())
    for i in range(0, len(truth), 4):
        print(f"frame {i:3d}  " + "  ".join(f"{k[-40:]}: {r['psnr'][i]:.2f} dB, colourfulness {r['colorfulness'][i]:.1f}"
                                           for k, r in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
