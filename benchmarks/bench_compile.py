"""Would compiling the colorizer make fp32 on the CPU fast enough? Frames/s of the shipped model at
256x256, batch 1, channels-last: eager (as `framecolor colorize` runs it), TorchScript freeze +
optimize_for_inference, and torch.compile with inductor's weight freezing (needs a C++ compiler; the
first call compiles for tens of seconds). Interleaved rounds, best round reported.

    nice -n -15 python benchmarks/bench_compile.py --out results/bench_compile.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from framecolor.inference import load_colorizer


def rate(fn, x: torch.Tensor, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return calls / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/bench_compile.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    net = load_colorizer(device="cpu").model
    x = torch.rand(1, 1, 256, 256).mul(100).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = net(x)
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x).eval()))
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    compiled = torch.compile(net)
    variants = {"eager": net, "torchscript_freeze": frozen, "compile_freezing": compiled}
    result = {"threads": args.threads, "calls_per_round": args.calls, "max_abs_diff": {}, "frames_per_s": {}}
    with torch.inference_mode():
        for name, fn in variants.items():
            t = time.perf_counter()
            out = fn(x)  # warm-up (compiles)
            result.setdefault("first_call_s", {})[name] = round(time.perf_counter() - t, 2)
            result["max_abs_diff"][name] = float((out - ref).abs().max())
        best = {name: 0.0 for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                best[name] = max(best[name], rate(fn, x, args.calls))
    result["frames_per_s"] = {k: round(v, 2) for k, v in best.items()}
    result["vs_eager"] = {k: round(v / best["eager"], 3) for k, v in best.items()}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
