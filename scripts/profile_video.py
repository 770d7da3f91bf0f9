"""Where a video job's time goes, per frame: each pipeline stage's wall and thread-CPU time inside a real
end-to-end run, the model alone, and the merge's parts. Writes JSON (and prints a table).

    python scripts/profile_video.py --height 720 --seconds 3 --preset veryfast --out results/video/profile_720p.json

Stages are timed by wrapping the pipeline's own functions (StreamColorizer.prepare / predict_frames /
smooth / merge,
ChunkWriter.write, the PyAV frame reader) for one run; thread CPU time is that of the calling thread
only, so work in x264's and the decoder's own threads is not in it (the plain transcode shows that);
with several model workers, the model rows add up the workers' times.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def _timed(obj, name: str, key: str, acc: dict) -> None:
    fn = getattr(obj, name)

    def wrapper(*a, **k):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            acc[key][0] += time.perf_counter() - t0
            acc[key][1] += time.thread_time() - c0

    setattr(obj, name, wrapper)


def _timed_reader(reader_module, acc: dict) -> None:
    orig = reader_module._pyav_frames

    def frames(*a, **k):
        it = orig(*a, **k)
        while True:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                acc["decode"][0] += time.perf_counter() - t0
                acc["decode"][1] += time.thread_time() - c0
            yield item

    reader_module._pyav_frames = frames


def merge_parts(height: int, width: int, small: tuple[int, int], rounds: int = 20) -> dict[str, float]:
    """Milliseconds per frame of the CPU merge and its parts, one OpenCV thread (as in a job)."""
    import cv2
    import numpy as np

    from framecolor.color_cpu import LabToRGB8

    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    L = (rng.random((height, width)) * 100).astype(np.float32)
    ab = (rng.normal(0, 20, (*small, 2))).astype(np.float32)
    merge, out = LabToRGB8(), np.empty((height, width, 3), np.uint8)
    up, lab, rgb = (np.empty((height, width, c), np.float32) for c in (2, 3, 3))

    def ms(fn) -> float:
        fn()
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        return (time.perf_counter() - t0) / rounds * 1000

    import av

    return {"merge (all)": ms(lambda: merge(L, ab, out)),
            "  upsample a*b* (cv2.resize)": ms(lambda: cv2.resize(ab, (width, height), dst=up)),
            "  Lab -> RGB float (cv2.cvtColor)": ms(lambda: cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=rgb)),
            "  to uint8 (cv2.convertScaleAbs)": ms(lambda: cv2.convertScaleAbs(rgb, dst=out, alpha=255.0)),
            "RGB -> YUV 4:2:0 before x264 (swscale)": ms(
                lambda: av.VideoFrame.from_ndarray(out, format="rgb24").reformat(format="yuv420p"))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--model", default="koala-effnet-lite0")
    p.add_argument("--workdir", default=None)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import tempfile

    import bench_video as bv

    import framecolor.video.reader as reader
    import framecolor.video.writer as writer
    import framecolor.film.stream as vp
    from framecolor.inference import working_shape
    from framecolor.video import probe

    bargs = bv.parse(["--model", args.model, "--preset", args.preset, "--seconds", str(args.seconds)])
    work = Path(args.workdir or tempfile.mkdtemp(prefix="profile_video_"))
    work.mkdir(parents=True, exist_ok=True)
    clip = bv.make_clip(bargs.source, args.seconds, args.height, work / f"clip{args.height}.mp4")
    info = probe(clip)
    engine = bv.load_engine(bargs)
    model_fps = bv.model_only(clip, engine)
    transcode_fps = bv.plain_transcode(clip, bargs, work)

    acc: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for obj, name, key in ((vp.StreamColorizer, "prepare", "prepare (L*)"),
                           (vp.StreamColorizer, "predict_frames", "model (resize, model)"),
                           (vp.StreamColorizer, "smooth", "in order (cuts, flow carry)"),
                           (vp.StreamColorizer, "merge", "merge"), (writer.ChunkWriter, "write", "encode call")):
        _timed(obj, name, key, acc)
    _timed_reader(reader, acc)
    r0, t0 = os.times(), time.perf_counter()
    e2e_fps = bv.end_to_end(clip, engine, bargs, work)
    wall, r1 = time.perf_counter() - t0, os.times()
    n = info.frames
    result = {
        "clip": f"{info.width}x{info.height}, {n} frames", "preset": args.preset, "model": args.model,
        "fps": {"end_to_end": e2e_fps, "model_only": model_fps, "plain_transcode": transcode_fps},
        "process_cpu_ms_per_frame": ((r1.user - r0.user) + (r1.system - r0.system)) / n * 1000,
        "wall_ms_per_frame": wall / n * 1000,
        "stages_ms_per_frame": {k: {"wall": v[0] / n * 1000, "thread_cpu": v[1] / n * 1000} for k, v in acc.items()},
        "merge_parts_ms_per_frame": merge_parts(info.height, info.width,
                                                working_shape(info.height, info.width, engine.size)),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['clip']}: end-to-end {e2e_fps:.2f} fps, model only {model_fps:.2f}, "
          f"plain transcode {transcode_fps:.1f}; process CPU {result['process_cpu_ms_per_frame']:.1f} ms/frame")
    for k, v in result["stages_ms_per_frame"].items():
        print(f"  {k:32s} wall {v['wall']:6.1f} ms  thread CPU {v['thread_cpu']:6.1f} ms  per frame")
    for k, v in result["merge_parts_ms_per_frame"].items():
        print(f"  {k:40s} {v:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
