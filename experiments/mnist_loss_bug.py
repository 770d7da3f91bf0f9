"""The thesis's loss bug: cross_entropy on softmax output against cross_entropy on logits, same nets,
same seed, thesis hyper-parameters (SGD lr 0.01, batch 128). Reduced scale by default (narrow nets, subset).

    python experiments/mnist_loss_bug.py --out results/mnist/loss_bug --threads 1
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from classifiers.config import TrainConfig
from classifiers.report import make_report
from classifiers.train import fit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", nargs="+", default=["resnet34", "convnet34"])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion"])
    p.add_argument("--subset", type=int, default=10_000)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    folders = []
    for model in args.models:
        for thesis in (True, False):
            cfg = TrainConfig(model=model, width=args.width, dataset=args.dataset, epochs=args.epochs,
                              seed=args.seed, subset=args.subset, test_subset=args.test_subset, thesis_loss=thesis)
            folder = Path(args.out) / "runs" / f"{model}-w{args.width}-{'thesis-loss' if thesis else 'logits'}"
            fit(cfg, folder, data_root=args.data_root, resume=True, progress=False, device="cpu")
            folders.append(folder)
    make_report(folders, Path(args.out), f"{args.dataset}: thesis loss (CE on softmax) vs CE on logits, "
                f"width {args.width}, {args.subset} training images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
