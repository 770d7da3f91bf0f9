"""Benchmark: `framecolor batch` throughput, photos/s and frames/s, locally and on a local Ray, in one run.

The same archive (real photos from scikit-image, and films panning across them, made here) is
coloured four times with the shipped default model: photos alone and films alone, each by the local
runner and by Ray with one model worker per CPU (`ray.init(num_cpus=N)`). Rates are items over the
job's wall time, model loading included (once locally, once per Ray worker); Ray's start is timed
apart. The overhead of Ray is its job time over the local job's. Per-item costs (each item's own
seconds on one worker, from the job's summary) are what docs/batch.md scales to N workers.

    python benchmarks/bench_batch.py -o results/bench_batch
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from framecolor.batch import BatchSettings, run_batch


def make_photos(folder: Path, n: int) -> None:
    import cv2
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    folder.mkdir(parents=True)
    for i in range(n):
        img = sources[i % len(sources)]
        h, w = img.shape[:2]
        crop = img[i % 7:h - i % 5, i % 9:w - i % 3]
        cv2.imwrite(str(folder / f"photo_{i:03d}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))


def make_film(path: Path, frames: int, h: int = 240, w: int = 320, fps: int = 24) -> None:
    """Grey frames panning across skimage's astronaut, then its coffee (one cut), H.264."""
    import av
    import cv2
    import skimage.data

    scenes = [cv2.resize(skimage.data.astronaut(), (2 * w, 2 * h)), cv2.resize(skimage.data.coffee(), (2 * w, 2 * h))]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for t in range(frames):
            img = scenes[t >= frames // 2][t * 2:t * 2 + h, t * 3:t * 3 + w]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def job(inputs: Path, out: Path, settings: BatchSettings, ray_address: str | None, workers: int) -> dict:
    """One job's rates; `fixed_s`: its wall time less the items' own seconds shared over `workers`
    (model loading, Ray's actors starting, waiting at the end)."""
    t0 = time.perf_counter()
    summary = run_batch([inputs], out, settings, ray_address=ray_address, progress=False)
    wall = time.perf_counter() - t0
    done = [s for s in summary.states if s.status == "done"]
    assert len(done) == len(summary.states), [s.error for s in summary.failures]
    frames = sum(s.frames for s in done)
    return {"items": len(done), "frames": frames, "wall_s": round(wall, 2),
            "items_per_s": round(len(done) / wall, 3), "frames_per_s": round(frames / wall, 2) if frames else None,
            "item_seconds_mean": round(sum(s.seconds for s in done) / len(done), 4),
            "frame_seconds_mean": round(sum(s.seconds for s in done) / frames, 5) if frames else None,
            "fixed_s": round(wall - sum(s.seconds for s in done) / workers, 2)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default="results/bench_batch", help="writes OUTPUT.json and OUTPUT.md")
    p.add_argument("--photos", type=int, default=24)
    p.add_argument("--films", type=int, default=2)
    p.add_argument("--frames", type=int, default=48, help="frames per film (320x240)")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (one model worker each)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    import ray
    import torch

    settings = BatchSettings(device=args.device, preset="veryfast")
    results = {"machine": {"cpus_for_torch": torch.get_num_threads(), "platform": platform.platform(),
                           "torch": torch.__version__, "ray": ray.__version__},
               "settings": {"photo_model": settings.photo_model, "film_model": settings.film_model,
                            "size": settings.size, "device": args.device, "temporal": settings.temporal,
                            "photos": args.photos, "films": args.films, "frames_per_film": args.frames,
                            "ray_cpus": args.cpus}}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        make_photos(tmp / "photos", args.photos)
        (tmp / "films").mkdir()
        for i in range(args.films):
            make_film(tmp / "films" / f"film_{i}.mp4", args.frames)
        for kind in ("photos", "films"):
            workers = min(args.photos, torch.get_num_threads(), 4) if kind == "photos" else 1  # colorize's file workers
            results[f"local_{kind}"] = job(tmp / kind, tmp / f"local_{kind}", settings, None, workers)
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        results["ray_start_s"] = round(time.perf_counter() - t0, 2)
        try:
            for kind in ("photos", "films"):
                workers = min(args.cpus, args.photos if kind == "photos" else args.films)
                results[f"ray_{kind}"] = job(tmp / kind, tmp / f"ray_{kind}", settings, "auto", workers)
        finally:
            ray.shutdown()
    for kind in ("photos", "films"):
        results[f"ray_overhead_{kind}"] = round(results[f"ray_{kind}"]["wall_s"] / results[f"local_{kind}"]["wall_s"], 3)
    write(results, Path(args.output))


def write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    s, rows = results["settings"], []
    for runner in ("local", "ray"):
        ph, fi = results[f"{runner}_photos"], results[f"{runner}_films"]
        rows.append(f"| {runner} | {ph['items_per_s']} | {ph['item_seconds_mean']} | {ph['fixed_s']} | "
                    f"{fi['frames_per_s']} | {fi['frame_seconds_mean']} | {fi['fixed_s']} |")
    md = [f"# framecolor batch: {s['photo_model']} at {s['size']} px on {s['device']}, "
          f"{s['photos']} photos and {s['films']} films of {s['frames_per_film']} frames (320x240)", "",
          "| runner | photos/s | s a photo (one worker) | fixed s | frames/s | s a frame (one worker) | fixed s |",
          "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
          "Rates: items over the job's wall time. s a photo / a frame: each item's own seconds on its worker "
          "(locally photos run on 2 one-thread file workers, a film on 2 model threads; on Ray each worker "
          "has one CPU). Fixed s: wall time less the items' seconds shared over the workers (model loading, "
          "actors starting, the last item alone).", "",
          f"Ray ({s['ray_cpus']} CPUs, one worker each): start {results['ray_start_s']} s (not in the job times); "
          f"job time over the local job's: photos {results['ray_overhead_photos']}x, "
          f"films {results['ray_overhead_films']}x.", "",
          "Made by `python benchmarks/bench_batch.py -o results/bench_batch`."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
