"""Markdown table of validation metrics per epoch from training runs' history.json files (with --ema runs,
the averaged weights' scores and, in the last column, the live weights').

    python scripts/loss_table.py results/training/*/history.json -o results/training/loss_comparison.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("histories", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    lines = ["| run | epoch | val PSNR (dB) | val colourfulness | ratio to truth | lr | live weights (with --ema): PSNR, ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for h in args.histories:
        name = Path(h).parent.name
        for row in json.loads(Path(h).read_text()):
            ratio = row["val_colorfulness"] / row["val_colorfulness_true"]
            live = "-"
            if "raw_val_psnr" in row:
                live = f"{row['raw_val_psnr']:.2f}, {row['raw_val_colorfulness'] / row['val_colorfulness_true']:.2f}"
            lines.append(f"| {name} | {row['epoch']} | {row['val_psnr']:.2f} | {row['val_colorfulness']:.1f} | "
                         f"{ratio:.2f} | {row['lr']:g} | {live} |")
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
