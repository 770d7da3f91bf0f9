"""Seconds per large photo in `ImageColorizer.colorize_picture` on the CPU: the 8-bit path (L* from the
8-bit-level table, merge in OpenCV) against the general torch path (the one 16-bit photos take), on
skimage's astronaut upscaled to WxH, plus `to_array`. Best of --repeats calls each, interleaved.

    nice -n -15 python benchmarks/bench_large_photo.py --out results/bench_large_photo.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import cv2
import numpy as np
import skimage.data
import torch

from framecolor.images import picture_from_array, to_array
from framecolor.inference import load_colorizer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="results/bench_large_photo.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    c = load_colorizer(device="cpu")
    pic = picture_from_array(cv2.resize(skimage.data.astronaut(), (args.width, args.height),
                                        interpolation=cv2.INTER_CUBIC))
    cases = {"cpu 8-bit path": lambda: c.colorize_picture(pic),
             "torch path": lambda: c.colorize_picture(dataclasses.replace(pic, bit_depth=16))}
    best = {k: float("inf") for k in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    out = c.colorize_picture(pic)
    best["to_array (8-bit)"] = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        to_array(out.rgb, None, 8)
        best["to_array (8-bit)"] = min(best["to_array (8-bit)"], time.perf_counter() - t)
    result = {"size": [args.width, args.height], "threads": args.threads, "seconds": {k: round(v, 3) for k, v in best.items()},
              "speedup": round(best["torch path"] / best["cpu 8-bit path"], 2)}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
