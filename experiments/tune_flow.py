"""Choose the flow carry's strength on training clips (not on the clips reported on).

Per-frame predictions (and, with --lstm-model, the LSTM head's predictions) are made once per clip;
the flow carry is then replayed on them at each strength and scored (CDC, PSNR, colourfulness)
against the colour clip, next to the clip's own CDC:

    python experiments/tune_flow.py CLIP... --strengths 0.7,0.85,0.95,1.0 --lstm-model koala-effnet-lite0-lstm \
        --max-frames 48 --json tune.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np



def replay(colorizer, prepared, abs_, cuts, strength: float) -> list[np.ndarray]:
    """Frames with the flow carry at `strength` applied to the stored predictions."""
    import torch

    from framecolor.film.carry import FlowCarry

    carry, out = FlowCarry(strength), []
    for p, ab, cut in zip(prepared, abs_, cuts):
        ab = ab.detach().float().numpy().copy()
        for i, c in enumerate(cut):
            if c:
                carry.reset()
            ab[i] = carry(p.gray[i], ab[i]) if strength else ab[i]
        out.extend(colorizer.merge(p, torch.from_numpy(ab)))
    return out


def _predictions(engine, mode: str, truth: list[np.ndarray]):
    import torch

    from framecolor.film.stream import StreamColorizer

    sc = StreamColorizer(engine, mode)
    batches = [truth[i:i + engine.batch_size] for i in range(0, len(truth), engine.batch_size)]
    prepared = [sc.prepare(b) for b in batches]
    cuts = [[sc.cuts(g) for g in p.gray] for p in prepared]
    with torch.no_grad():
        return sc, prepared, [sc.model_ab(p.small, c) for p, c in zip(prepared, cuts)], cuts


def tune_clip(path: str, engines: dict, strengths: list[float], max_frames: int) -> dict:
    from framecolor import metrics
    from framecolor.video_eval import load_clip

    truth = load_clip(path, max_frames)
    f32 = lambda fs: [f.astype(np.float32) / 255 for f in fs]  # noqa: E731
    tl = f32(truth)
    row = {"ground truth": {"cdc": metrics.cdc(tl), "colorfulness": float(np.mean([metrics.colorfulness(t) for t in tl]))}}
    for mode, engine in engines.items():
        sc, prepared, abs_, cuts = _predictions(engine, mode, truth)
        for s in [0.0, *strengths]:
            fl = f32(replay(sc, prepared, abs_, cuts, s))
            row[f"{mode} flow {s}"] = {
                "cdc": metrics.cdc(fl), "psnr": float(np.mean([metrics.psnr(a, t) for a, t in zip(fl, tl)])),
                "colorfulness": float(np.mean([metrics.colorfulness(f) for f in fl]))}
    return row


def main(argv=None) -> int:
    from framecolor.inference import load_colorizer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="+")
    p.add_argument("--model", default="koala-effnet-lite0")
    p.add_argument("--lstm-model", default=None, help="also replay on this temporal model's LSTM predictions")
    p.add_argument("--strengths", default="0.7,0.85,0.95")
    p.add_argument("--max-frames", type=int, default=60)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    engines = {"none": load_colorizer(args.model, "cpu")}
    if args.lstm_model:
        engines["lstm"] = load_colorizer(args.lstm_model, "cpu")
    floats = lambda s: [float(x) for x in s.split(",") if x.strip() and float(x) != 0]  # noqa: E731 (0 always runs)
    per_clip = {}
    for clip in args.clips:
        per_clip[clip] = tune_clip(clip, engines, floats(args.strengths), args.max_frames)
        print(clip, json.dumps(per_clip[clip]), flush=True)
    modes = next(iter(per_clip.values())).keys()
    mean = {m: {k: float(np.mean([c[m][k] for c in per_clip.values()])) for k in per_clip[clip][m]} for m in modes}
    none = mean["none flow 0.0"]
    for m, v in mean.items():
        print(f"{m:>30}: " + "  ".join(f"{k} {x:.5f}" for k, x in v.items())
              + f"  cdc/none {v['cdc'] / none['cdc']:.3f}  cdc/truth {v['cdc'] / mean['ground truth']['cdc']:.3f}"
              + (f"  dpsnr {v['psnr'] - none['psnr']:+.3f}" if "psnr" in v else ""))
    Path(args.json).write_text(json.dumps({"mean": mean, "clips": per_clip, "argv": sys.argv}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
