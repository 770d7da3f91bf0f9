"""Peak memory of `framecolor colorize` on one large photo against one 1 MP photo.

Each photo is skimage's astronaut, made grey and upscaled to the size asked for, written as an 8-bit
grey PNG (the usual form of an archive scan). Each run is a fresh `python -m framecolor colorize
IN -o OUT.png` process, and its peak resident memory is the kernel's figure for that process
(`os.wait4`). The result is the extra memory per extra pixel:

    (peak(large) - peak(1 MP)) / (pixels(large) - pixels(1 MP))

against the bound of 12 bytes a pixel (docs/photos.md, "Large photos").

    python benchmarks/bench_memory.py --out results/bench_memory.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOUND_BYTES_PER_PIXEL = 12


def make_photo(path: Path, width: int, height: int) -> None:
    import cv2
    import skimage.data

    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(path), cv2.resize(grey, (width, height), interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_PNG_COMPRESSION, 1])


def peak_rss(cmd: list[str]) -> tuple[int, float]:
    """(peak resident bytes, wall seconds) of `cmd` run as a child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return usage.ru_maxrss * 1024, wall  # ru_maxrss is in KiB on Linux


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", default="10000x10000", help="WxH of the large photo (default: %(default)s, 100 MP)")
    ap.add_argument("--small", default="1000x1000", help="WxH of the reference photo (default: %(default)s)")
    ap.add_argument("--model", default=None, help="model name (default: the shipped default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/bench_memory.json")
    args = ap.parse_args(argv)
    sizes = {name: tuple(int(v) for v in getattr(args, name).lower().split("x")) for name in ("small", "large")}
    env_threads = {"OMP_NUM_THREADS": str(args.threads)}
    os.environ.update(env_threads)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h) in sizes.items():
            src, dst = Path(tmp) / f"{name}.png", Path(tmp) / f"{name}_colour.png"
            make_photo(src, w, h)
            cmd = [sys.executable, "-m", "framecolor", "colorize", str(src), "-o", str(dst),
                   "--max-pixels", str(w * h), "--no-progress"] + (["--model", args.model] if args.model else [])
            peak, wall = peak_rss(cmd)
            runs[name] = {"width": w, "height": h, "pixels": w * h, "peak_rss_bytes": peak,
                          "seconds": round(wall, 2), "output_bytes": dst.stat().st_size}
            src.unlink()
            dst.unlink()
    small, large = runs["small"], runs["large"]
    per_pixel = (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / (large["pixels"] - small["pixels"])
    result = {"command": "python benchmarks/bench_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "model": args.model or "default", "threads": args.threads, "runs": runs,
              "extra_bytes_per_pixel": round(per_pixel, 2), "bound_bytes_per_pixel": BOUND_BYTES_PER_PIXEL,
              "within_bound": per_pixel <= BOUND_BYTES_PER_PIXEL}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    mib = 1 << 20
    lines = ["# Peak memory of `framecolor colorize` on one photo", "",
             f"`{result['command']}`, {args.threads} threads, 8-bit grey PNG in, PNG out.", "",
             "| photo | pixels | peak RSS (MiB) | seconds |", "|---|---:|---:|---:|"]
    lines += [f"| {r['width']}x{r['height']} | {r['pixels']:,} | {r['peak_rss_bytes'] / mib:.0f} | {r['seconds']} |"
              for r in runs.values()]
    lines += ["", f"Extra memory per extra pixel: **{per_pixel:.2f} bytes** (bound: {BOUND_BYTES_PER_PIXEL})."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
