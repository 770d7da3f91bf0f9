"""Command line: argument parsing -> library call. Nothing runs at import."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence


def _add_common_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="koala-effnet-lite0",
                   help="registry name (koala-effnet-lite0, basic-cnn, ...) or a .safetensors checkpoint")
    p.add_argument("--size", type=int, default=256, help="working size: the short side the model runs at")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--chroma-gain", type=float, default=None,
                   help="scale on the predicted a*b* (1 = exact inverse; the thesis used 2 for vivid colour)")
    p.add_argument("--embedder-weights", default=None, help="weights file for the classifier (inception_resnet_v2)")


def _parser_colorize(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("colorize", help="colorize photographs (files and folders, recursively)")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("-o", "--output", default=None,
                   help="output folder, or a file name for a single input (default: <stem>_color.<ext> beside it)")
    p.add_argument("--side-by-side", action="store_true", help="write before|after images")
    p.add_argument("--no-progress", action="store_true")
    _add_common_model_args(p)
    return p


def _run_colorize(args: argparse.Namespace) -> int:
    from .inference import colorize_files, load_colorizer

    colorizer = load_colorizer(args.model, args.device, args.size, args.precision, args.chroma_gain,
                               args.batch_size, args.embedder_weights)
    results = colorize_files(colorizer, args.inputs, args.output, args.side_by_side, not args.no_progress)
    failed = [r for r in results if r.error]
    for r in results:
        if r.error:
            print(f"error: {r.error}", file=sys.stderr)
    done = len(results) - len(failed)
    print(f"colorized {done} image(s)" + (f", {len(failed)} failed" if failed else ""), file=sys.stderr)
    if len(results) == 0:
        print("error: no images found in the inputs", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _parser_convert(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="Keras colorizer (.h5/.keras) <-> framecolor checkpoint (needs the keras extra)")
    p.add_argument("src", help="a Keras colorizer file (.h5, .keras), or a framecolor checkpoint (.safetensors or name)")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.safetensors (from Keras; a .json config is written beside it) or OUT.keras / OUT.h5")
    p.add_argument("--name", default=None, help="model name stored in the checkpoint's config (default: file stem)")
    p.add_argument("--embedder", default="inception_resnet_v2",
                   help="classifier the Keras fusion model was trained with (default: the thesis's inception_resnet_v2)")
    p.add_argument("--l-input", choices=["raw", "normalized"], default=None,
                   help="what the Keras model's encoder was fed: raw L* 0..100 (the thesis's scripts; default for files "
                        "without framecolor's l_norm layer) or normalized L/50 - 1")
    p.add_argument("--style", choices=["framecolor", "thesis"], default="framecolor",
                   help="Keras export only: framecolor (exact, any size) or thesis (padding='same', fixed --size)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="Keras export only: fixed input size (the thesis style needs one; default: working size)")
    return p


def _needs_keras(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a missing keras extra into a one-line error instead of a traceback."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ImportError as e:
            hint = "" if "framecolor[keras]" in str(e) else "; install the keras extra: pip install 'framecolor[keras]'"
            print(f"error: {e}{hint}", file=sys.stderr)
            return 2
    return wrapped


@_needs_keras
def _run_convert(args: argparse.Namespace) -> int:
    from .keras.convert import KERAS_SUFFIXES, checkpoint_to_keras_file, keras_file_to_checkpoint

    if args.src.endswith(KERAS_SUFFIXES):
        out, notes = keras_file_to_checkpoint(args.src, args.output, args.name, args.embedder, args.l_input)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        out = checkpoint_to_keras_file(args.src, args.output, args.style, tuple(args.size) if args.size else None)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _parser_convert_backbone(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("convert-backbone",
                       help="Keras InceptionResNetV2 weights (.h5) -> inception_resnet_v2 embedder weights (.safetensors)")
    p.add_argument("src", help="e.g. inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5")
    p.add_argument("-o", "--output", required=True, help="OUT.safetensors, for --embedder-weights")
    return p


@_needs_keras
def _run_convert_backbone(args: argparse.Namespace) -> int:
    from .keras.backbone import convert_backbone

    out = convert_backbone(args.src, args.output)
    print(f"wrote {out}; use it with --embedder-weights {out}", file=sys.stderr)
    return 0


# name -> (parser builder, runner). Each subcommand adds one line here.
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    "colorize": (_parser_colorize, _run_colorize),
    "convert": (_parser_convert, _run_convert),
    "convert-backbone": (_parser_convert_backbone, _run_convert_backbone),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="framecolor", description="Colour for black-and-white photographs and old film.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (build, _) in COMMANDS.items():
        build(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .models.embedders import WeightsError

    try:
        return COMMANDS[args.command][1](args)
    except (WeightsError, ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
