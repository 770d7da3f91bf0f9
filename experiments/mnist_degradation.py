"""Degradation study (He et al. 2016): plain vs residual nets of 18/34/50 basic-block layers, training
error per epoch, on Fashion-MNIST and MNIST. Reduced scale by default so that it runs on a CPU core.

    python experiments/mnist_degradation.py --out results/mnist/degradation --threads 1
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
    p.add_argument("--datasets", nargs="+", default=["fashion", "mnist"])
    p.add_argument("--depths", nargs="+", type=int, default=[18, 34, 50])
    p.add_argument("--width", type=int, default=16, help="first-stage channels (64 = the thesis's nets)")
    p.add_argument("--subset", type=int, default=10_000)
    p.add_argument("--test-subset", type=int, default=2_000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    for dataset in args.datasets:
        folders = []
        for depth in args.depths:
            for kind in ("convnet", "resnet"):
                cfg = TrainConfig(model=f"{kind}{depth}", width=args.width, dataset=dataset, epochs=args.epochs,
                                  lr=args.lr, momentum=args.momentum, seed=args.seed, subset=args.subset,
                                  test_subset=args.test_subset)
                folder = Path(args.out) / dataset / "runs" / f"{kind}{depth}-w{args.width}"
                fit(cfg, folder, data_root=args.data_root, resume=True, progress=False, device="cpu")
                folders.append(folder)
        make_report(folders, Path(args.out) / dataset, f"{dataset}: plain (dashed) vs residual (solid), "
                    f"width {args.width}, {args.subset} training images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
