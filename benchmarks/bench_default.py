"""Benchmark: `framecolor colorize` throughput of photo models at 256x256, fp32 on the CPU, measured in
one run against each other and against the machine's fp32 matmul peak.

Each model is loaded as `framecolor colorize` loads it (load_colorizer, fp32, the CPU) and colorizes the
same 256x256 real photo (skimage's astronaut, resized) through the whole path: L* from the 8-bit
levels, the working-size model call, the full-resolution merge. Cases run in interleaved rounds so a
busy moment hits every one alike; rates use each case's best call, medians beside them. The peak is
the best of torch.mm and a oneDNN-packed matmul (the GEMM behind the convolutions) at 1024^3 and
2048^3, fp32. Model FLOPs per frame are counted with torch.utils.flop_counter.

    python benchmarks/bench_default.py --models unet-lite2,koala-effnet-lite0-photo -o results/bench_default

A model named `name:flip` runs with the flip average (`--flip-average`), `name:single` without it.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import framecolor


def timed(fn, min_time: float) -> list[float]:
    times, start = [], time.perf_counter()
    while len(times) < 2 or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def matmul_cases(sizes=(1024, 2048)) -> dict[str, tuple]:
    import torch.utils.mkldnn as mkldnn

    cases = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        cases[f"torch.mm {n}"] = (lambda a=a, b=b: torch.mm(a, b), 2 * n ** 3)
        lin = torch.nn.Linear(n, n, bias=False)
        lin.weight.data = b.t().contiguous()
        packed, x = mkldnn.to_mkldnn(lin), a.to_mkldnn()
        cases[f"oneDNN {n}"] = (lambda p=packed, x=x: p(x), 2 * n ** 3)
    return cases


def model_flops(colorizer, size: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    L = torch.rand(1, 1, size, size) * 100
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        colorizer.model(L.contiguous(memory_format=torch.channels_last))
    return counter.get_total_flops() * (2 if colorizer.flip_average else 1)  # flip average: two views


def load(spec: str, size: int):
    """'name' as `framecolor colorize` loads it; 'name:flip' / 'name:single' with / without the flip average."""
    name, _, variant = spec.partition(":")
    flip = {"": None, "flip": True, "single": False}[variant]
    return framecolor.load_colorizer(name, device="cpu", precision="fp32", size=size, flip_average=flip)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="unet-lite2,koala-effnet-lite0-photo")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-time", type=float, default=2.0)
    p.add_argument("-o", "--output", default="results/bench_default")
    args = p.parse_args(argv)
    import cv2
    import skimage.data

    photo = cv2.resize(skimage.data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    models = args.models.split(",")
    colorizers = {m: load(m, args.size) for m in models}
    cases = {f"colorize {m}": (lambda c=c: c.colorize(grey), model_flops(c, args.size)) for m, c in colorizers.items()}
    cases |= matmul_cases()
    for fn, _ in cases.values():
        fn()  # warm-up
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, (fn, _) in cases.items():
            runs[name] += timed(fn, args.min_time)
    rows = {name: {"best_s": min(t), "median_s": statistics.median(t), "calls": len(t),
                   "flops": flops, "gflops_per_s": flops / min(t) / 1e9} for name, ((_, flops), t) in
            ((n, (cases[n], runs[n])) for n in cases)}
    peak = max(r["gflops_per_s"] for n, r in rows.items() if not n.startswith("colorize"))
    for n, r in rows.items():
        r["of_peak"] = r["gflops_per_s"] / peak
        if n.startswith("colorize"):
            r["images_per_s"] = 1 / r["best_s"]
    base = f"colorize {models[-1]}"
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "size": args.size, "precision": "fp32", "peak_gflops_per_s": peak, "cases": rows,
              "ratio_to_last": {n: rows[base]["best_s"] / r["best_s"] for n, r in rows.items() if n.startswith("colorize")}}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# `framecolor colorize` at {args.size}x{args.size}, fp32, CPU ({torch.get_num_threads()} threads)", "",
             f"{result['when']}; torch {torch.__version__}. fp32 matmul peak: **{peak:.0f}** GFLOP/s. "
             f"Command: `python benchmarks/bench_default.py --models {args.models} -o {args.output}`", "",
             "| case | images/s (best) | median s | GFLOP per image | GFLOP/s | of peak | speed vs " + models[-1] + " |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for n, r in rows.items():
        if n.startswith("colorize"):
            lines.append(f"| {n} | {r['images_per_s']:.2f} | {r['median_s']:.3f} | {r['flops'] / 1e9:.2f} | "
                         f"{r['gflops_per_s']:.0f} | {r['of_peak']:.0%} | {result['ratio_to_last'][n]:.2f}x |")
    for n, r in rows.items():
        if not n.startswith("colorize"):
            lines.append(f"| matmul {n} | - | {r['median_s']:.4f} | {r['flops'] / 1e9:.1f} | {r['gflops_per_s']:.0f} | {r['of_peak']:.0%} | - |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
