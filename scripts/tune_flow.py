"""Choose the flow carry's strength on training clips (not on the clips reported on).

Per-frame predictions are made once per clip; the flow carry is then replayed at each strength and
scored (CDC, PSNR) against the colour clip, next to the clip's own CDC:

    python scripts/tune_flow.py CLIP... --strengths 0.7,0.85,0.95 --max-frames 60 --json tune.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def replay(colorizer, prepared, abs_, cuts, strength: float) -> list[np.ndarray]:
    """Frames with the flow carry at `strength` applied to the stored per-frame predictions."""
    from framecolor.temporal_flow import FlowCarry

    import torch

    carry, out = FlowCarry(strength), []
    for p, ab, cut in zip(prepared, abs_, cuts):
        ab = ab.numpy().copy()
        for i, c in enumerate(cut):
            if c:
                carry.reset()
            ab[i] = carry(p.gray[i], ab[i])
        out.extend(colorizer.merge(p, torch.from_numpy(ab)))
    return out


def tune_clip(path: str, engine, strengths: list[float], max_frames: int) -> dict:
    from framecolor import metrics
    from framecolor.video_eval import load_clip
    from framecolor.video_pipeline import StreamColorizer

    truth = load_clip(path, max_frames)
    sc = StreamColorizer(engine, "none")
    batches = [truth[i:i + engine.batch_size] for i in range(0, len(truth), engine.batch_size)]
    prepared = [sc.prepare(b) for b in batches]
    cuts = [[sc.cuts(g) for g in p.gray] for p in prepared]
    abs_ = [sc._predict(p.small, c) for p, c in zip(prepared, cuts)]
    f32 = lambda fs: [f.astype(np.float32) / 255 for f in fs]  # noqa: E731
    tl = f32(truth)
    row = {"ground truth": {"cdc": metrics.cdc(tl)}}
    for s in [0.0, *strengths]:
        fl = f32(replay(sc, prepared, abs_, cuts, s))
        row["none" if s == 0 else f"flow {s}"] = {
            "cdc": metrics.cdc(fl), "psnr": float(np.mean([metrics.psnr(a, b) for a, b in zip(fl, tl)]))}
    return row


def main(argv=None) -> int:
    from framecolor.inference import load_colorizer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="+")
    p.add_argument("--model", default="koala-effnet-lite0")
    p.add_argument("--strengths", default="0.7,0.85,0.95")
    p.add_argument("--max-frames", type=int, default=60)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    engine = load_colorizer(args.model, "cpu")
    strengths = [float(s) for s in args.strengths.split(",")]
    per_clip = {}
    for clip in args.clips:
        per_clip[clip] = tune_clip(clip, engine, strengths, args.max_frames)
        print(clip, json.dumps(per_clip[clip]), flush=True)
    modes = next(iter(per_clip.values())).keys()
    mean = {m: {k: float(np.mean([c[m][k] for c in per_clip.values()])) for k in per_clip[clip][m]} for m in modes}
    for m, v in mean.items():
        print(f"{m:>14}: " + "  ".join(f"{k} {x:.5f}" for k, x in v.items()))
    Path(args.json).write_text(json.dumps({"mean": mean, "clips": per_clip, "argv": sys.argv}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
