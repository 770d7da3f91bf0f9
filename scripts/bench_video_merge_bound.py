"""Upper bound on what a cheaper full-resolution merge could do for the CPU video pipeline.

Runs `bench_video.py`'s end-to-end and model-only measurements, and end-to-end once more with
`StreamColorizer.merge` replaced by a no-op that hands the encoder one fixed grey frame (so the merge
costs nothing and x264 sees trivial input). Rounds are interleaved; the best of each case is kept.

    python scripts/bench_video_merge_bound.py --heights 480,720 --seconds 3 --repeats 2 \
        --out results/video/bench_video_merge_bound.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_video as bv  # noqa: E402

from framecolor.film import stream as vp  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heights", default="480,720")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--out", default="bench_video_merge_bound.json")
    a = p.parse_args(argv)
    args = bv.parse(["--preset", a.preset, "--seconds", str(a.seconds)])
    work = Path(tempfile.mkdtemp(prefix="merge_bound_"))
    engine = bv.load_engine(args)
    real, cache = vp.StreamColorizer.merge, {}

    def no_merge(self, prepared, ab):
        shape = (prepared.L.shape[0], *prepared.L.shape[-2:], 3)
        return cache.setdefault(shape, np.full(shape, 128, np.uint8))

    results = {"environment": bv.environment(args, engine), "command": " ".join(sys.argv), "fps": {}}
    for h in [int(x) for x in a.heights.split(",") if x]:
        clip = bv.make_clip(args.source, a.seconds, h, work / f"clip_{h}p.mp4")
        runs = []
        for _ in range(a.repeats):
            vp.StreamColorizer.merge = real
            e2e = bv.end_to_end(clip, engine, args, work)
            vp.StreamColorizer.merge = no_merge
            try:
                free = bv.end_to_end(clip, engine, args, work)
            finally:
                vp.StreamColorizer.merge = real
            runs.append({"end_to_end": e2e, "end_to_end_no_merge": free, "model_only": bv.model_only(clip, engine)})
        best = {k: max(r[k] for r in runs) for k in runs[0]}
        best.update(ratio=best["end_to_end"] / best["model_only"],
                    ratio_no_merge=best["end_to_end_no_merge"] / best["model_only"], runs=runs)
        results["fps"][f"{h}p"] = best
        print(f"{h}p: {json.dumps({k: v for k, v in best.items() if k != 'runs'})}", file=sys.stderr)
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
