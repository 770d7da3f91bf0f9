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


def _parser_video(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("video", help="colorize a film (audio, timing and metadata kept; resumable)")
    p.add_argument("input", help="video file")
    p.add_argument("-o", "--output", required=True, help="output video; the container follows the extension")
    p.add_argument("--temporal", choices=["none", "flow", "lstm"], default="flow",
                   help="none: per frame; flow: carry colour along optical flow; lstm: the model's ConvLSTM")
    p.add_argument("--codec", default=None, help="video encoder (default libx264; libvpx-vp9 for .webm)")
    p.add_argument("--crf", type=int, default=18, help="constant rate factor (lower = better quality)")
    p.add_argument("--preset", default="medium", help="encoder preset (x264/x265: ultrafast ... veryslow)")
    p.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    p.add_argument("--end", type=float, default=None, help="end time in seconds")
    p.add_argument("--side-by-side", action="store_true", help="write grey|colour frames side by side")
    p.add_argument("--chunk-frames", type=int, default=240, help="frames per resumable chunk")
    p.add_argument("--no-progress", action="store_true")
    _add_common_model_args(p)
    return p


def _run_video(args: argparse.Namespace) -> int:
    from .video_pipeline import run_cli_video

    return run_cli_video(args)


def _parser_evaluate_video(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate-video", help="score temporal modes on colour clips made grey")
    p.add_argument("clips", nargs="+", help="colour video files")
    p.add_argument("--temporal", default="none,flow,lstm", help="comma-separated modes to compare")
    p.add_argument("--max-frames", type=int, default=90, help="frames per clip (from the start)")
    p.add_argument("--lstm-model", default="koala-effnet-lite0-lstm", help="model with a temporal head for lstm")
    p.add_argument("--json", default="video_eval.json", help="where to write the JSON results")
    p.add_argument("--markdown", default=None, help="where to write the Markdown table (default: printed)")
    _add_common_model_args(p)
    return p


def _run_evaluate_video(args: argparse.Namespace) -> int:
    from .video_eval import run_cli_evaluate

    return run_cli_evaluate(args)


# name -> (parser builder, runner). Each subcommand adds one line here.
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    "colorize": (_parser_colorize, _run_colorize),
    "video": (_parser_video, _run_video),
    "evaluate-video": (_parser_evaluate_video, _run_evaluate_video),
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
