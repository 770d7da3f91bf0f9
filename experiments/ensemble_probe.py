"""Is the mean of two colorizers' a*b* a better trade than either alone? Scored off the validation split.

Each photo is made grey and colorized at gain 1 by both models; the mean of their working-size a*b*
and each model's own are then scored at gains 1.0 to 1.6, merged with the full-resolution L* as
`framecolor colorize` does (experiments/posthoc_maps.py's scoring). Each is read at 0.9x and 1.0x
the truth's colourfulness (piecewise-linear between the gains), on the first N training photos and
the first N Tiny ImageNet validation photos.

    python experiments/ensemble_probe.py unet-lite2 runs/r9-s2/last.safetensors --photos ../shared/data/photos \
        --val-list results/val_split.txt --tiny ../shared/data/tinyimagenet -o results/training/round10/ensemble_probe
"""
from __future__ import annotations

import argparse
import json
import sys

import framecolor
from framecolor.io import atomic_write
from posthoc_maps import add_set_arguments, gain_line, photo_levels, predict, score, tiny_levels

GAINS = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6)
RATIOS = (0.9, 1.0)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first")
    p.add_argument("second")
    add_set_arguments(p)
    args = p.parse_args(argv)
    models = [framecolor.load_colorizer(m, device="cpu", chroma_gain=1.0, flip_average=False) for m in (args.first, args.second)]
    sets = {"training photos": lambda: photo_levels(args.photos, args.val_list, args.n_photos),
            "Tiny ImageNet validation": lambda: tiny_levels(args.tiny, args.n_tiny)}
    methods = {args.first: lambda t: t["ab"], args.second: lambda t: t["ab2"], "mean of both": lambda t: (t["ab"] + t["ab2"]) / 2}
    result = {"first": args.first, "second": args.second, "gains": GAINS, "sets": {}}
    for name, levels in sets.items():
        items = predict(models[0], levels())
        for it, other in zip(items, predict(models[1], levels())):
            it["ab2"] = other["ab"]
        rows = {m: [score(items, lambda t, g=g, f=f: f(t) * g) for g in GAINS] for m, f in methods.items()}
        result["sets"][name] = {"photos": len(items), "grey_psnr": score(items, None)[0],
                                "methods": {m: {"by_gain": [{"psnr": ps, "colorfulness_ratio": r} for ps, r in line],
                                                **{f"psnr_at_{x:g}x": gain_line(line, x) for x in RATIOS}}
                                            for m, line in rows.items()}}
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output / "ensemble_probe.json", (json.dumps(result, indent=1) + "\n").encode())
    lines = ["PSNR (dB) at equal colourfulness: each model alone at gain 1 to 1.6, and the mean of their a*b*.", "",
             "| set | grey | " + " | ".join(f"{m}: at {x:g}x" for m in methods for x in RATIOS) + " |",
             "|---|---:|" + "---:|" * (len(methods) * len(RATIOS))]
    for name, s in result["sets"].items():
        lines.append(f"| {name} ({s['photos']}) | {s['grey_psnr']:.2f} | "
                     + " | ".join(f"{s['methods'][m][f'psnr_at_{x:g}x']:.2f}" for m in methods for x in RATIOS) + " |")
    lines += ["", "Command: `python experiments/ensemble_probe.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    atomic_write(args.output / "ensemble_probe.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
