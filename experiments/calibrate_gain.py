"""Choose a model's chroma gain on *training* photos, never on the validation split.

A regression colorizer trained with a pixel loss under-shoots saturation where colours are uncertain;
`chroma_gain` scales its predicted a*b* at inference. This scores gains on a fixed subset of the
training photos (the first N, sorted by path, that are not in the validation list), exactly as
`framecolor evaluate` scores models, and applies a rule fixed in advance: the smallest gain whose
colourfulness reaches `--target` x the truth's (default 0.9, a margin above the 0.85 bar that the
validation split is judged by); if none does, the largest gain tried. `--rule score` applies the bar's
own rule instead: the gain with the highest rule score min(ratio / 0.85, (PSNR - grey PSNR) / 0.5) on
these photos (the smaller gain on a tie; round 13 of docs/notes/loss_choice_plan.md).

    python experiments/calibrate_gain.py runs/s2-frozen/last.safetensors --data ../shared/data/photos \
        --val-list results/val_split.txt -o results/training/gain_calibration

With `--photo-list run/calibration_split.txt` it scores the photos a run held out of its training
(`framecolor train --calibration-fraction`) instead: photos the model never saw, like the validation
split's, so the gain they choose carries over to new photos (round 10 of the plan).

With `--sizes 224,256,...` it applies the gain rule at each working size (the short side the model
runs at), and then picks the size with the highest PSNR at its chosen gain (round 5 of
docs/notes/loss_choice_plan.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import framecolor
from framecolor.evaluate import TRUTH, evaluate, list_eval_images, list_training_images, val_names
from framecolor.io import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bar_noise import BAR_MARGIN, BAR_RATIO, rule_score  # noqa: E402  (the bar's rule, as the validation split is judged)


def choose_gain(rows: dict[float, dict], grey_psnr: float, rule: str, target: float) -> float:
    """The chosen gain among `rows` ({gain: evaluate summary row}). `target`: the smallest gain whose
    colourfulness ratio reaches `target` (the largest gain if none does); `score`: the highest rule score,
    the smaller gain on a tie."""
    if rule == "target":
        reached = [g for g, r in rows.items() if r["colorfulness_ratio"] >= target]
        return min(reached) if reached else max(rows)
    return max(sorted(rows), key=lambda g: (float(rule_score(rows[g]["colorfulness_ratio"], rows[g]["psnr"] - grey_psnr)), -g))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--val-list", type=Path, required=True)
    p.add_argument("--photos", type=int, default=302)
    p.add_argument("--photo-list", type=Path, default=None,
                   help="score the photos this file names (relative to --data; a run's calibration_split.txt) "
                        "instead of the first --photos training photos; none may be in --val-list")
    p.add_argument("--gains", default="1.0,1.2,1.4,1.6,1.8")
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--rule", choices=("target", "score"), default="target",
                   help="target: the smallest gain reaching --target x the truth's colourfulness; "
                        "score: the highest rule score min(ratio / 0.85, (PSNR - grey) / 0.5)")
    p.add_argument("--sizes", default="", help="working sizes to compare (default: the model card's only)")
    p.add_argument("-o", "--output", type=Path, required=True)
    args = p.parse_args(argv)
    if args.photo_list is None:
        files, which = list_training_images(args.data, args.val_list, args.photos), "training photos"
    else:
        overlap = set(val_names(args.photo_list)) & set(val_names(args.val_list))
        if overlap:
            p.error(f"{args.photo_list}: {len(overlap)} photo(s) are in the validation list, e.g. {sorted(overlap)[0]}")
        files, which = list_eval_images(args.data, args.photo_list), f"held-out training photos ({args.photo_list.name})"
    base = framecolor.load_colorizer(args.model, device="cpu")
    gains = [float(g) for g in args.gains.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else [base.size]
    name = (lambda s, g: f"gain {g:g}") if len(sizes) == 1 else (lambda s, g: f"size {s} gain {g:g}")
    colorizers = {name(s, g): dataclasses.replace(base, size=s, chroma_gain=g) for s in sizes for g in gains}
    summary = evaluate(files, colorizers, (0.0, 0.0), progress=False).summary()
    chosen = {}
    for s in sizes:
        chosen[s] = choose_gain({g: summary[name(s, g)] for g in gains}, summary["grey"]["psnr"], args.rule, args.target)
    size = max(sizes, key=lambda s: summary[name(s, chosen[s])]["psnr"])
    args.output.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "photos": len(files), "photo_list": args.photo_list and str(args.photo_list),
              "rule": args.rule, "target_ratio": args.target, "chosen_gain": chosen[size],
              "summary": {k: v for k, v in summary.items() if k.startswith(("gain", "size")) or k in ("grey", TRUTH)},
              "command": "python experiments/calibrate_gain.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if len(sizes) > 1:
        result |= {"chosen_size": size, "chosen_gain_by_size": {str(s): g for s, g in chosen.items()}}
    atomic_write(args.output / "gain_calibration.json", (json.dumps(result, indent=1) + "\n").encode())
    rule = (f"the smallest gain reaching {args.target}x the truth's colourfulness" if args.rule == "target" else
            f"the highest rule score min(ratio / {BAR_RATIO}, (PSNR - grey PSNR) / {BAR_MARGIN})")
    head = f"Chroma gain on {len(files)} {which} (rule: {rule}): **{chosen[size]:g}**"
    if len(sizes) > 1:
        head += f"; working size (rule: the highest PSNR at its chosen gain): **{size}**"
    grey = summary["grey"]["psnr"]
    lines = [head, "", "| size | gain | PSNR (dB) | colourfulness ratio | rule score |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {s} | {g:g} | {r['psnr']:.2f} | {r['colorfulness_ratio']:.2f} | "
              f"{float(rule_score(r['colorfulness_ratio'], r['psnr'] - grey)):.2f} |"
              for s in sizes for g in gains for r in [summary[name(s, g)]]]
    lines.append(f"| | grey | {grey:.2f} | 0.00 | |")
    atomic_write(args.output / "gain_calibration.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
