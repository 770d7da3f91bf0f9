"""Benchmark video colorization; results go to a JSON file and a Markdown table beside it.

Measures, at each height (480p, 720p by default), frames per second of
  - end-to-end `colorize_video` (decode -> batch -> model -> encode, three threads),
  - the model alone (predict_ab on pre-decoded working-size L*, same batch size),
  - a plain transcode of the same clip with the same codec settings (ffmpeg CLI),
  - the thesis-style pipeline: one frame at a time through skimage and a predict call;
with --repeats N, end-to-end and model-only are run N times, interleaved, and the best of each is kept;
and the peak RSS of `colorize_video` in a fresh process for a short and a long clip (the same
real clip looped), which should be about equal if memory does not grow with the film.

    python benchmarks/bench_video.py --model koala-effnet-lite0 --out bench_video.json
    python benchmarks/bench_video.py --model untrained --heights 480 --seconds 4 --long-seconds 60 --threads 1
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=str(ROOT / "samples" / "traffic_short.mp4"), help="real clip to loop and scale")
    p.add_argument("--model", default="koala-effnet-lite0", help="registry name, checkpoint, or 'untrained'")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")
    p.add_argument("--temporal", default="none")
    p.add_argument("--codec", default="libx264")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--preset", default="medium")
    p.add_argument("--heights", default="480,720")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length for the fps runs and the short RSS run")
    p.add_argument("--long-seconds", type=float, default=300.0, help="clip length for the long RSS run")
    p.add_argument("--rss-height", type=int, default=480)
    p.add_argument("--thesis-frames", type=int, default=30)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (busy machines: 1)")
    p.add_argument("--repeats", type=int, default=1,
                   help="run end-to-end and model-only this many times, interleaved, and keep the best of each "
                        "(the least disturbed run on a shared machine); every run is kept in the JSON")
    p.add_argument("--skip-rss", action="store_true")
    p.add_argument("--workdir", default=None)
    p.add_argument("--out", default="bench_video.json")
    p.add_argument("--rss-child", nargs=2, metavar=("CLIP", "OUT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_clip(source: str, seconds: float, height: int, dst: Path) -> Path:
    """Loop and scale the real source clip with the ffmpeg CLI (argument list, stderr kept)."""
    from framecolor.video.reader import ffmpeg_exe

    if dst.is_file():
        return dst
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", source, "-t", f"{seconds}",
           "-vf", f"scale=-2:{height}", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
           "-pix_fmt", "yuv420p", "-an", str(dst)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"ffmpeg could not make {dst}: {run.stderr.strip()}")
    return dst


def load_engine(args):
    from framecolor.inference import load_colorizer

    return load_colorizer(args.model, args.device, args.size, None, None, args.batch_size)


def untrained_checkpoint(workdir: Path) -> str:
    from framecolor.config import ColorizerConfig
    from framecolor.models.registry import build_model, save_checkpoint

    path = workdir / "untrained.safetensors"
    if not path.is_file():
        save_checkpoint(build_model(ColorizerConfig()), path)
    return str(path)


def end_to_end(clip: Path, engine, args, workdir: Path) -> float:
    from framecolor.video import probe
    from framecolor.film.job import colorize_video
    from framecolor.film.options import VideoJob
    from framecolor.video.writer import EncodeSettings

    out = workdir / f"e2e_{clip.stem}.mp4"
    t0 = time.perf_counter()
    colorize_video(clip, out, engine, VideoJob(args.temporal, encode=EncodeSettings(args.codec, args.crf, args.preset)),
                   progress=False)
    return probe(out).frames / (time.perf_counter() - t0)


def model_only(clip: Path, engine) -> float:
    """predict_ab on working-size L* batches that are already decoded and converted."""
    import torch
    import torch.nn.functional as F

    from framecolor.inference import working_shape
    from framecolor.video import probe
    from framecolor.video.reader import read_frames
    from framecolor.color import l_from_rgb8_tensor

    info = probe(clip)
    shape = working_shape(info.height, info.width, engine.size)
    smalls, batch = [], []
    for f in read_frames(info):
        batch.append(torch.from_numpy(f.rgb).permute(2, 0, 1))
        if len(batch) == engine.batch_size:
            smalls.append(F.interpolate(l_from_rgb8_tensor(torch.stack(batch)), size=shape, mode="bilinear", antialias=True))
            batch = []
    engine.predict_ab(smalls[0])  # warm-up
    _sync(engine.device)
    t0 = time.perf_counter()
    for s in smalls:
        engine.predict_ab(s)
    _sync(engine.device)
    return len(smalls) * engine.batch_size / (time.perf_counter() - t0)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_transcode(clip: Path, args, workdir: Path) -> float:
    from framecolor.video import probe
    from framecolor.video.reader import ffmpeg_exe

    out = workdir / f"transcode_{clip.stem}.mp4"
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-an", "-c:v", args.codec, "-crf", str(args.crf),
           "-preset", args.preset, "-pix_fmt", "yuv420p", str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"transcode failed: {run.stderr.strip()}")
    return probe(clip).frames / (time.perf_counter() - t0)


def thesis_style(clip: Path, engine, args, workdir: Path) -> float:
    """One frame at a time: skimage rgb2lab and resize, a predict call, skimage lab2rgb, encode."""
    import av
    import numpy as np
    import torch
    from skimage.color import lab2rgb, rgb2lab
    from skimage.transform import resize

    from framecolor.inference import working_shape

    src = av.open(str(clip))
    out = av.open(str(workdir / f"thesis_{clip.stem}.mp4"), "w")
    vs = src.streams.video[0]
    enc = out.add_stream(args.codec, rate=vs.average_rate, options={"crf": str(args.crf), "preset": args.preset})
    enc.width, enc.height, enc.pix_fmt = vs.width, vs.height, "yuv420p"
    n, t0 = 0, time.perf_counter()
    for frame in src.decode(vs):
        rgb = frame.to_ndarray(format="rgb24")
        L = rgb2lab(rgb)[..., 0]
        small = resize(L, working_shape(*L.shape, engine.size), anti_aliasing=True)
        ab = engine.predict_ab(torch.from_numpy(small).float()[None, None])[0].permute(1, 2, 0).numpy()
        ab = resize(ab, L.shape)
        rgb_out = (lab2rgb(np.dstack([L, ab])) * 255).round().astype(np.uint8)
        out.mux(enc.encode(av.VideoFrame.from_ndarray(rgb_out, format="rgb24")))
        n += 1
        if n == args.thesis_frames:
            break
    out.mux(enc.encode())
    fps = n / (time.perf_counter() - t0)
    out.close()
    src.close()
    return fps


def rss_child(args) -> None:
    from framecolor.config import ColorizerSettings
    from framecolor.film.job import colorize_video
    from framecolor.film.options import VideoJob
    from framecolor.video.writer import EncodeSettings

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    clip, out = args.rss_child
    t0 = time.perf_counter()
    colorize_video(clip, out, ColorizerSettings(args.model, args.size, args.device, batch_size=args.batch_size),
                   VideoJob(args.temporal, encode=EncodeSettings(args.codec, args.crf, args.preset)), progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": peak, "seconds": time.perf_counter() - t0}))


def peak_rss(clip: Path, args, model: str, workdir: Path) -> dict:
    cmd = [sys.executable, __file__, "--rss-child", str(clip), str(workdir / f"rss_{clip.stem}.mp4"),
           "--model", model, "--size", str(args.size), "--batch-size", str(args.batch_size), "--device", args.device,
           "--temporal", args.temporal, "--codec", args.codec, "--crf", str(args.crf), "--preset", args.preset]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"RSS run failed: {run.stderr.strip()[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    rows = ["| clip | end-to-end fps | model-only fps | e2e / model | plain transcode fps | e2e / transcode | thesis-style fps |",
            "|---|---|---|---|---|---|---|"]
    for name, r in results["fps"].items():
        rows.append(f"| {name} | {r['end_to_end']:.2f} | {r['model_only']:.2f} | {r['end_to_end'] / r['model_only']:.2f} | "
                    f"{r['plain_transcode']:.2f} | {r['end_to_end'] / r['plain_transcode']:.2f} | {r['thesis_style']:.2f} |")
    if results.get("rss"):
        rows += ["", "| clip | seconds of video | peak RSS (MB) | wall (s) |", "|---|---|---|---|"]
        for name, r in results["rss"].items():
            rows.append(f"| {name} | {r['video_seconds']:.0f} | {r['peak_rss_mb']:.0f} | {r['seconds']:.0f} |")
        short, long_ = list(results["rss"].values())
        rows.append(f"\nlong / short peak RSS: {long_['peak_rss_mb'] / short['peak_rss_mb']:.3f}")
    return "\n".join(rows) + "\n"


def environment(args, engine) -> dict:
    import os
    import platform

    import torch

    return {"device": str(engine.device), "precision": engine.precision, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "command": " ".join(["benchmarks/bench_video.py", *sys.argv[1:]]),
            "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
            "load_avg": os.getloadavg(), "nice": os.nice(0), "autogroup": _autogroup(),
            "settings": {k: v for k, v in vars(args).items() if k != "rss_child"}}


def _autogroup() -> str | None:
    """Linux with autogroup scheduling: nice only ranks processes within a session, and the
    session's own nice (`echo -10 > /proc/self/autogroup`) ranks it against the other sessions."""
    try:
        return Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        return None


def main(argv=None) -> int:
    args = parse(argv)
    if args.rss_child:
        rss_child(args)
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_video_"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.model == "untrained":
        args.model = untrained_checkpoint(workdir)
    engine = load_engine(args)
    results = {"environment": environment(args, engine), "fps": {}, "rss": {}}
    for h in [int(x) for x in args.heights.split(",") if x]:
        clip = make_clip(args.source, args.seconds, h, workdir / f"clip_{h}p_{args.seconds:g}s.mp4")
        runs = [(end_to_end(clip, engine, args, workdir), model_only(clip, engine)) for _ in range(args.repeats)]
        r = {"end_to_end": max(e for e, _ in runs), "model_only": max(m for _, m in runs),
             "plain_transcode": plain_transcode(clip, args, workdir), "thesis_style": thesis_style(clip, engine, args, workdir)}
        if args.repeats > 1:
            r["runs"] = [{"end_to_end": e, "model_only": m} for e, m in runs]
        results["fps"][f"{h}p"] = r
        print(f"{h}p: {json.dumps(r)}", file=sys.stderr)
    if not args.skip_rss:
        for secs in (args.seconds, args.long_seconds):
            clip = make_clip(args.source, secs, args.rss_height, workdir / f"clip_{args.rss_height}p_{secs:g}s.mp4")
            results["rss"][f"{args.rss_height}p {secs:g}s"] = {"video_seconds": secs, **peak_rss(clip, args, args.model, workdir)}
            print(f"rss {secs:g}s: {results['rss']}", file=sys.stderr)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out).with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
