"""Benchmark: time to the first photo. Wall time of `python -m framecolor colorize PHOTO` (a fresh
process: imports, model build and load, one photo, the write) against `python -c "import torch"` on
the same machine, best of --repeats runs each, interleaved so a busy moment hits both alike. Also
lists which of the heavy optional packages (timm, torchvision, matplotlib, skimage, cv2) the colorize
process imported, from `python -X importtime`, with their cumulative import time.

    python benchmarks/bench_cold_start.py --photo samples/chelsea_gray.jpg -o results/bench_cold_start
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import framecolor

HEAVY = ("timm", "torchvision", "matplotlib", "skimage", "cv2")


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def colorize_cmd(photo: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, *extra, "-m", "framecolor", "colorize", str(photo), "-o", str(out), "--no-progress"]


def heavy_imports(photo: Path, out: Path) -> dict[str, float]:
    """Heavy packages the colorize process imports -> their cumulative import seconds."""
    err = subprocess.run(colorize_cmd(photo, out, "-X", "importtime"), check=True, capture_output=True,
                         text=True).stderr
    found = {}
    for line in err.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] in HEAVY:
            found[parts[2]] = round(int(parts[1]) / 1e6, 3)
    return found


def measure(photo: Path, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        best = {"import torch": float("inf"), "framecolor colorize": float("inf")}
        for _ in range(repeats):
            best["import torch"] = min(best["import torch"], wall([sys.executable, "-c", "import torch"]))
            best["framecolor colorize"] = min(best["framecolor colorize"], wall(colorize_cmd(photo, out)))
        heavy = heavy_imports(photo, out)
    return {"photo": str(photo), "repeats": repeats, "framecolor": framecolor.__version__,
            "python": platform.python_version(), "machine": platform.processor() or platform.machine(),
            "best_seconds": {k: round(v, 3) for k, v in best.items()},
            "ratio": round(best["framecolor colorize"] / best["import torch"], 2),
            "heavy_imports_seconds": heavy}


def markdown(r: dict) -> str:
    s = r["best_seconds"]
    heavy = ", ".join(f"{k} {v:.2f} s" for k, v in r["heavy_imports_seconds"].items()) or "none"
    return (f"# Cold start: `framecolor colorize {Path(r['photo']).name}`\n\n"
            f"Best of {r['repeats']} fresh processes each (Python {r['python']}).\n\n"
            "| command | wall time (s) |\n| --- | --- |\n"
            f"| `python -c \"import torch\"` | {s['import torch']:.2f} |\n"
            f"| `framecolor colorize {Path(r['photo']).name}` | {s['framecolor colorize']:.2f} |\n\n"
            f"Ratio: {r['ratio']:.2f}x (target: at most 1.5x).\n\n"
            f"Heavy packages imported by the colorize process (cumulative import time): {heavy}.\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", type=Path, default=Path("samples/chelsea_gray.jpg"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("-o", "--out", type=Path, default=Path("results/bench_cold_start"),
                    help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    result = measure(args.photo, args.repeats)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
