"""Batching, device and precision; the image entry points. Models come from the registry."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import ColorizerSettings, cpu_items_per_call
from .color import denormalize_ab, lab_to_rgb, rgb_to_lab
from .images import (DEFAULT_MAX_PIXELS, OUTPUT_FORMATS, Picture, encode_image, picture_from_array, picture_from_levels,
                     read_levels, rgb_levels, to_array)
from .models.colorizer import Colorizer
from .models.registry import DEFAULT_MODEL, load_checkpoint
from .parallel import MAX_CPU_WORKERS, Stages, memory_budget, opencv_threads, workers_for_sizes
from .precision import autocast, default_precision


def pick_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu)")
    return dev


def working_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """Short side -> `size`, aspect kept, both sides rounded to a multiple of 8 (at least 8)."""
    scale = size / min(h, w)
    return max(8, int(round(h * scale / 8)) * 8), max(8, int(round(w * scale / 8)) * 8)


def per_pixel(fn, x: torch.Tensor, pixels: int = 1 << 18) -> torch.Tensor:
    """Apply a per-pixel function (colour conversion) over strips of rows of about `pixels` pixels.
    Same result; each strip's temporaries stay in cache, about 3x faster on large scans."""
    rows = max(1, pixels // x.shape[-1])
    if x.shape[-2] <= rows:
        return fn(x)
    return torch.cat([fn(strip) for strip in x.split(rows, dim=-2)], dim=-2)


def cpu_micro_batch(h: int, w: int) -> int:
    """Frames per model call on the CPU at working size h x w: as many as keep the largest activation
    (the encoder's second layer, 128 channels at h/2 x w/2 in fp32: 128*h*w bytes a frame) under
    CPU_ACTIVATION_BYTES, at least one. glibc's malloc serves blocks under its mmap threshold (at most 32 MiB) from
    its heap and reuses them; larger ones are mapped afresh on every call, and the kernel zeroes every
    page on first touch. At 256x312 a batch of 8 in one call cost 126 ms a frame on one thread, with
    about 11,000 page faults a frame; in pairs, 111 ms and none (a scratch measurement; inside the
    video pipeline, results/video/profile_720p.json and the README's film speed section)."""
    return cpu_items_per_call(128 * h * w)


@dataclass
class ImageColorizer:
    """A loaded colorizer bound to a device, precision, working size and chroma gain (photos), and
    the gain for film where the model's card gives it another one (`film_chroma_gain`)."""

    model: Colorizer
    device: torch.device
    size: int | None = None  # working size: the short side the model runs at; None -> the model card's
    precision: str = "fp32"
    chroma_gain: float = 1.0
    batch_size: int = 8
    film_chroma_gain: float | None = None
    flip_average: bool = False

    def __post_init__(self) -> None:
        if self.size is None:
            self.size = self.model.config.working_size

    @torch.inference_mode()
    def predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        """(B, 1, h, w) L* at working size (multiples of 8) -> (B, 2, h, w) a*b* (float32). With
        `flip_average`, the mean of the prediction and the mirrored picture's, mirrored back (one batch
        of 2B): +0.11 dB PSNR on the validation photos for unet-lite2 (docs/notes/loss_choice_plan.md)."""
        if not self.flip_average:
            return self._predict_ab(L)
        ab = self._predict_ab(torch.cat((L, L.flip(-1))))
        return (ab[:len(L)] + ab[len(L):].flip(-1)) / 2

    def _predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        """One prediction per picture. On the CPU the batch runs in micro-batches of `cpu_micro_batch`
        frames (same result)."""
        if self.device.type == "cpu" and len(L) > (step := cpu_micro_batch(*L.shape[-2:])):
            return torch.cat([self._predict_ab(part) for part in L.split(step)])
        L = L.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            ab = self.model(L)
        return denormalize_ab(ab.float(), self.chroma_gain)

    def working_ab(self, L_full: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) full-resolution L* -> (B, 2, h, w) a*b* at the working size (on L_full's device)."""
        small = F.interpolate(L_full, size=working_shape(*L_full.shape[-2:], self.size), mode="bilinear",
                              antialias=True, align_corners=False)
        return self.predict_ab(small).to(L_full.device)

    def colorize_lab(self, L_full: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) full-resolution L* -> (B, 3, H, W) sRGB: a*b* at working size, upsampled, merged."""
        ab = F.interpolate(self.working_ab(L_full), size=L_full.shape[-2:], mode="bilinear", align_corners=False)
        return per_pixel(lab_to_rgb, torch.cat((L_full, ab), dim=1))

    def colorize_picture(self, pic: Picture) -> Picture:
        if self.device.type == "cpu" and pic.bit_depth == 8:
            return self._colorize_picture_cpu8(pic)
        rgb = torch.from_numpy(pic.rgb).permute(2, 0, 1)[None]
        L = per_pixel(lambda x: rgb_to_lab(x)[:, :1], rgb)  # colour inputs are made grey first: only L* is used
        out = self.colorize_lab(L)[0].permute(1, 2, 0).numpy()
        return Picture(out, pic.alpha, pic.bit_depth, False)

    def _colorize_picture_cpu8(self, pic: Picture) -> Picture:
        """colorize_picture for 8-bit pictures on the CPU: L* from a table of the 8-bit levels (exact) and
        the merge in OpenCV (within 0.03 of an 8-bit level of the torch path), several times faster than
        the torch colour functions on large scans. Only the working-size resize and the model use torch."""
        from .color_cpu import LabToRGB, l_from_pixels

        levels = np.rint(pic.rgb * 255).astype(np.uint8)  # exact: an 8-bit Picture holds level / 255
        L = l_from_pixels(levels)
        ab = self.working_ab(torch.from_numpy(L)[None, None])[0].permute(1, 2, 0).contiguous().numpy()
        return Picture(LabToRGB()(L, ab), pic.alpha, pic.bit_depth, False)

    def colorize_levels(self, arr: np.ndarray, in_place: bool = False) -> np.ndarray:
        """(H, W[, 1|2|3|4]) uint8 / uint16 grey or RGB(A) levels, as images.read_levels gives them ->
        (H, W, 3|4) colorized RGB(A) of the same type (into `arr` itself with `in_place` where it is
        writable RGB(A)). On the CPU: the numbers of colorize_picture followed by to_array, bit for bit
        for 8-bit and within one level for 16-bit, with the full-resolution work done in strips of
        rows, so memory beyond the input and output is L* (4 bytes a pixel) and a strip's temporaries.
        On a GPU: colorize_picture, whole."""
        if self.device.type != "cpu":
            out = self.colorize_picture(picture_from_levels(arr, 1, "<array>"))
            return to_array(out.rgb, out.alpha, out.bit_depth)
        from .color_cpu import strips

        grey, alpha = _split_levels(arr)
        H, W = grey.shape[:2]
        depth_16 = arr.dtype == np.uint16
        step = max(1, (1 << 18) // W) if depth_16 else None  # per_pixel's strips, so that L* is the same
        rows = strips(H, W) if step is None else strips(H, W, max(1, (1 << 19) // (step * W)) * step * W)
        L = np.empty((H, W), np.float32)  # (H, W) L* in [0, 100]
        for r0, r1 in rows:
            L[r0:r1] = (_l_of_rows16 if depth_16 else _l_of_rows8)(grey[r0:r1])
        ab = self.working_ab(torch.from_numpy(L)[None, None])  # (1, 2, h, w) a*b*
        writable = in_place and arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.flags.writeable
        out = arr if writable else np.empty((H, W, 3 if alpha is None else 4), arr.dtype)
        (_merge16 if depth_16 else _merge8)(L, ab, out[..., :3], rows)
        if alpha is not None and out is not arr:
            out[..., 3] = alpha
        return out

    def colorize(self, image) -> np.ndarray:
        """Colorize an image given as a path, a PIL image or an array (H, W[, C]); returns RGB(A) uint8/16."""
        if isinstance(image, (str, os.PathLike)):
            arr, frames = read_levels(image)
            if arr.dtype in (np.uint8, np.uint16):
                return self.colorize_levels(arr, in_place=True)
            pic = picture_from_levels(arr, frames, image)
        else:
            pic = picture_from_array(np.asarray(image))  # array or PIL
        out = self.colorize_picture(pic)
        return to_array(out.rgb, out.alpha, out.bit_depth)


def _split_levels(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W[, 1|2|3|4]) levels -> (H, W) grey or (H, W, 3) RGB levels, and (H, W) alpha or None (views)."""
    if arr.ndim == 2:
        return arr, None
    c = arr.shape[2]
    if c not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image shape {arr.shape}: give (H, W) or (H, W, 1|2|3|4)")
    return (arr[..., 0] if c <= 2 else arr[..., :3]), (arr[..., -1] if c in (2, 4) else None)


def _l_of_rows8(levels: np.ndarray) -> np.ndarray:
    """(n, W) grey or (n, W, 3) RGB uint8 -> (n, W) float32 L*, the numbers of l_from_pixels on the
    picture's (n, W, 3) levels (grey as R = G = B)."""
    from .color_cpu import l_from_rgb8_array

    rgb = np.repeat(levels[..., None], 3, axis=2) if levels.ndim == 2 else np.ascontiguousarray(levels)
    return l_from_rgb8_array(rgb)


def _l_of_rows16(levels: np.ndarray) -> np.ndarray:
    """(n, W) grey or (n, W, 3) RGB uint16 -> (n, W) float32 L*, as colorize_picture computes it."""
    x = levels.astype(np.float32) / 65535.0
    rgb = np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x
    return per_pixel(lambda t: rgb_to_lab(t)[:, :1], torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()


def _merge8(L: np.ndarray, ab: torch.Tensor, out: np.ndarray, rows: list[tuple[int, int]]) -> None:
    """(H, W) L* and (1, 2, h, w) a*b* -> `out`, (H, W, 3) uint8 sRGB, strip by strip (color_cpu)."""
    from .color_cpu import RowUpsampler, merge_rows8

    up = RowUpsampler(ab[0].permute(1, 2, 0).contiguous().numpy(), L.shape)
    for r0, r1 in rows:
        merge_rows8(L[r0:r1], up.rows(r0, r1), out[r0:r1])


def _merge16(L: np.ndarray, ab: torch.Tensor, out: np.ndarray, rows: list[tuple[int, int]]) -> None:
    """(H, W) L* and (1, 2, h, w) a*b* -> `out`, (H, W, 3) uint16 sRGB, strip by strip with the torch
    colour functions. a*b* are upsampled across once and down per strip in torch's bilinear weights;
    the blend's rounding differs from F.interpolate's in the last bits, so a level may differ by one."""
    H, W = L.shape
    h = ab.shape[-2]
    across = F.interpolate(ab, size=(h, W), mode="bilinear", align_corners=False)  # (1, 2, h, W)
    src = ((torch.arange(H, dtype=torch.float32) + 0.5) * (h / H) - 0.5).clamp(min=0)
    i0 = src.floor().long()
    w1 = (src - i0).clamp(0, 1)
    i1 = torch.where(i0 < h - 1, i0 + 1, i0)
    for r0, r1 in rows:
        ab_rows = across[:, :, i0[r0:r1]] * (1 - w1[r0:r1, None]) + across[:, :, i1[r0:r1]] * w1[r0:r1, None]
        lab = torch.cat((torch.from_numpy(L[r0:r1])[None, None], ab_rows), dim=1)
        rgb = per_pixel(lab_to_rgb, lab)[0].permute(1, 2, 0).numpy()
        out[r0:r1] = np.round(np.clip(rgb, 0, 1) * 65535)


def prepare_for_inference(net: Colorizer, device: torch.device) -> Colorizer:
    """On `device`, in eval mode and channels_last (on the CPU too: oneDNN's convolutions run 10-40%
    faster in NHWC, benchmarks/bench_images.py), with the frozen classifier's batch norms folded into
    its convolutions. In place; returns `net`."""
    net = net.to(device, memory_format=torch.channels_last).eval()
    net.fold_classifier_batch_norm()
    return net


def load_colorizer(model: str | os.PathLike = DEFAULT_MODEL, device: str = "auto", size: int | None = None,
                   precision: str | None = None, chroma_gain: float | None = None,
                   batch_size: int = 8, embedder_weights: str | None = None,
                   flip_average: bool | None = None) -> ImageColorizer:
    """Load a colorizer by registry name or checkpoint path, ready for `.colorize(image)`. `size` (the
    short side the model runs at), `chroma_gain` and `flip_average` default to the model card's."""
    if size is not None and size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    dev = pick_device(device)
    net = prepare_for_inference(load_checkpoint(model, embedder_weights=embedder_weights), dev)
    precision = precision or default_precision(dev)
    gain = net.config.chroma_gain if chroma_gain is None else chroma_gain
    film_gain = net.config.film_chroma_gain if chroma_gain is None else None  # a gain given rules both
    flip = net.config.flip_average if flip_average is None else flip_average
    return ImageColorizer(net, dev, size, precision, gain, batch_size, film_gain, flip)


def as_settings(model: ColorizerSettings | str | os.PathLike) -> ColorizerSettings:
    """Settings as given, or the defaults for a registry name or checkpoint path."""
    return model if isinstance(model, ColorizerSettings) else ColorizerSettings(model)


def colorizer_from(settings: ColorizerSettings, model: str | os.PathLike | None = None) -> ImageColorizer:
    """load_colorizer with these settings (and `model` in place of settings.model where given)."""
    s = settings
    return load_colorizer(s.model if model is None else model, s.device, s.size, s.precision, s.chroma_gain,
                          s.batch_size, s.embedder_weights, s.flip_average)


def colorize_image(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                   model: ImageColorizer | ColorizerSettings | str | os.PathLike = DEFAULT_MODEL,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Path:
    """Colorize one image file into `dst` (default: <stem>_color.<ext> beside it) and return the path.

    `model`: a loaded colorizer (load_colorizer), settings to load one with, or a registry name or
    checkpoint path. A file over `max_pixels` pixels (None: no limit) is refused before it is decoded.
    Raises images.ImageError naming the file and the problem."""
    src = Path(src)
    dst = Path(dst) if dst is not None else plan_outputs([src], {}, None)[0]
    colorizer = model if isinstance(model, ImageColorizer) else colorizer_from(as_settings(model))
    colorize_file(colorizer, src, dst, max_pixels=max_pixels)
    return dst


def film_colorizer(engine: ImageColorizer) -> ImageColorizer:
    """`engine` as film runs it: its film chroma gain in place of the photo one (where it has one), and one
    prediction per frame (no flip average: the temporal carry and the film gain were tuned without it)."""
    film_gain = getattr(engine, "film_chroma_gain", None)
    if film_gain is None and not getattr(engine, "flip_average", False):
        return engine
    gain = engine.chroma_gain if film_gain is None else film_gain
    return dataclasses.replace(engine, chroma_gain=gain, film_chroma_gain=None, flip_average=False)


def side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Two (H, W, C) arrays of one dtype -> (H, 2W, C) before|after."""
    before = np.repeat(before[..., None], after.shape[2], axis=2) if before.ndim == 2 else before
    if before.shape[2] != after.shape[2]:
        before = before[..., :3] if before.shape[2] > after.shape[2] else np.concatenate(
            [before, np.full(before.shape[:2] + (1,), np.iinfo(before.dtype).max, before.dtype)], axis=2)
    return np.concatenate([before.astype(after.dtype), after], axis=1)


@dataclass
class FileResult:
    source: Path
    output: Path | None
    error: str | None = None  # one line naming the file and what was wrong
    exception: Exception | None = None  # what raised it, for callers that word their own advice
    notes: list[str] = field(default_factory=list)  # for the user: how it was done, or why it was skipped
    skipped: bool = False  # not colorized again: its output exists (colorize_files' skip_existing)


def output_is_file(inputs: Sequence[str | os.PathLike], out: str | os.PathLike | None, fmt: str | None = None) -> bool:
    """Whether `out` names one output file (else a folder, or None: beside each input). Raises ImageError
    when it cannot be either: an image file name for several inputs or a folder, an image format
    that cannot be written, an existing file that is no image, or a file name of another format than `fmt`."""
    from .images import IMAGE_LIKE_SUFFIXES, ImageError, writable_suffixes

    if out is None or Path(out).is_dir():
        return False
    out, several = Path(out), len(inputs) > 1 or any(Path(i).is_dir() for i in inputs)
    looks_like_image = out.suffix.lower() in IMAGE_LIKE_SUFFIXES
    if several and (looks_like_image or out.exists()):
        what = "is a file" if out.exists() else f"is an image file name ({out.suffix})"
        raise ImageError(f"{what}, but the inputs are several files or a folder: give the output folder "
                         "(an existing one, or a new name without an image extension)", out)
    if out.exists() and not looks_like_image:
        raise ImageError("exists and is neither a folder nor an image file", out)
    if looks_like_image and out.suffix.lower() not in writable_suffixes("" if several else inputs[0]):
        raise ImageError(f"cannot write {out.suffix!r} images; give a .png, .jpg, .tif, .webp or .bmp name", out)
    if looks_like_image and fmt is not None and _format_of(out.suffix) != _format_of(fmt):
        raise ImageError(f"the name is a {_format_of(out.suffix)} file, but the output format asked for is {fmt}", out)
    return looks_like_image


def _format_of(suffix: str) -> str:
    """'.JPEG', 'jpg' -> 'jpg'; '.tiff' -> 'tif'."""
    name = suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "jpe": "jpg", "tiff": "tif"}.get(name, name)


def output_suffix(src: Path, fmt: str | None = None) -> str:
    """The output's extension: `fmt` (png, jpg, tif, webp or bmp) when given, else the input's own
    (a GIF's too: framecolor.animation writes GIFs)."""
    if fmt is not None:
        if _format_of(fmt) not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
        return "." + _format_of(fmt)
    return src.suffix


def plan_outputs(files: Sequence[Path], roots: dict[Path, Path], out: str | None,
                 suffix: str = "_color", fmt: str | None = None) -> list[Path]:
    """Where each input's result goes: beside it as <stem>_color<ext>, into folder `out` (keeping the
    layout below each input folder), or to `out` itself for a single input with an image suffix.
    <ext> is `output_suffix(input, fmt)`."""
    from .images import writable_suffixes

    if (out is not None and len(files) == 1 and Path(out).suffix.lower() in writable_suffixes(files[0])
            and not Path(out).is_dir()):
        return [Path(out)]
    plans = []
    for f in files:
        name = f"{f.stem}{suffix}{output_suffix(f, fmt)}"
        if out is None:
            plans.append(f.with_name(name))
        else:
            rel = f.parent.relative_to(roots[f]) if f in roots else Path()
            plans.append(Path(out) / rel / name)
    return plans


def output_clashes(files: Sequence[Path], outputs: Sequence[Path]) -> dict[Path, str]:
    """Inputs whose planned output would overwrite another input, or an earlier input's output."""
    inputs = {f.resolve() for f in files}
    clashes, taken = {}, {}
    for src, dst in zip(files, outputs):
        key = dst.resolve()
        if key in inputs and key != src.resolve():
            clashes[src] = f"{src}: its output {dst} is another input; refusing to overwrite it (use -o)"
        elif key in taken:
            clashes[src] = f"{src}: its output {dst} is already the output of {taken[key]}; skipped"
        else:
            taken[key] = src
    return clashes


def colorize_file(colorizer: ImageColorizer, src: Path, dst: Path, before_after: bool = False,
                  max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[str]:
    """Colorize one file into `dst`, atomically; never overwrites the input. An input of more than
    `max_pixels` pixels is refused (images.ImageTooLarge). A file of several frames (animated GIF,
    APNG, animated WebP, multi-page TIFF) has every frame coloured (framecolor.animation). Returns notes
    for the user (how the frames were coloured)."""
    from .images import ImageError, writable_suffixes, write_output
    from .io import same_file

    if same_file(src, dst):
        raise ImageError("output path is the input itself; refusing to overwrite it", src)
    levels, frames = read_levels(src, max_pixels)  # first, so that a bad input is reported as such
    if dst.suffix.lower() not in writable_suffixes(src):
        raise ImageError(f"cannot write {dst.suffix!r} images; give -o a .png, .jpg, .tif, .webp or .bmp name", dst)
    if frames > 1 or dst.suffix.lower() == ".gif":  # every frame, or a GIF again: framecolor.animation
        from .animation import colorize_frames_file

        if before_after:
            raise ImageError("--side-by-side is for single pictures; this file has several frames", src)
        del levels
        return colorize_frames_file(colorizer, src, dst, frames, max_pixels)
    if levels.dtype in (np.uint8, np.uint16):  # in strips of rows on the CPU, and in place: see colorize_levels
        arr = colorizer.colorize_levels(levels, in_place=not before_after)
        before = rgb_levels(levels) if before_after else None
    else:  # a float TIFF
        pic = picture_from_levels(levels, frames, src)
        out = colorizer.colorize_picture(pic)
        arr, before = to_array(out.rgb, out.alpha, out.bit_depth), to_array(pic.rgb, pic.alpha, pic.bit_depth)
    del levels
    if before_after:
        arr = side_by_side(before, arr)
    data = encode_image(arr, dst.suffix, in_place=True)
    del arr
    write_output(dst, data)
    return []


def colorize_files(colorizer: ImageColorizer, inputs: Sequence[str | os.PathLike], out: str | None = None,
                   before_after: bool = False, progress: bool = True,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS, fmt: str | None = None,
                   skip_existing: bool = False) -> list[FileResult]:
    """Colorize files and folders (recursively). One bad file never stops the others; files of more
    than `max_pixels` pixels are refused. Outputs are written as `fmt` (png, jpg, tif, webp or bmp;
    default: the input's format). With `skip_existing`, an input whose output exists already is not
    read again (its result has `skipped` set); otherwise that output is replaced."""
    from tqdm import tqdm

    from .images import READ_SUFFIXES, ImageError, find_images, image_pixels

    to_file = output_is_file(inputs, out, fmt)  # a usage error stops the batch before any file is read
    roots: dict[Path, Path] = {}
    files, errors = [], []
    for item in inputs:
        found, errs = find_images([item], READ_SUFFIXES)
        errors += errs
        if Path(item).is_dir():
            found = [f for f in found if not (out is None and f.stem.endswith("_color"))]
            roots.update({f: Path(item) for f in found})
        files += found
    seen: set[Path] = set()  # a file named twice (or inside a folder also named) is colorized once
    files = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    results = [FileResult(Path(e.split(":")[0]), None, e) for e in errors]
    outputs = [Path(out)] * len(files) if to_file else plan_outputs(files, roots, out, fmt=fmt)
    clashes = output_clashes(files, outputs)
    jobs = [(src, dst) for src, dst in zip(files, outputs) if src not in clashes]
    skipped = {src: FileResult(src, dst, notes=[f"{src}: its output {dst} exists already; skipped"], skipped=True)
               for src, dst in jobs if skip_existing and dst.is_file()}
    jobs = [job for job in jobs if job[0] not in skipped]

    def one(job: tuple[Path, Path]) -> FileResult:
        try:
            notes = colorize_file(colorizer, *job, before_after, max_pixels)
            return FileResult(job[0], job[1], notes=notes)
        except (ImageError, OSError) as e:
            return FileResult(job[0], None, str(e), e)

    done = dict(skipped)
    with tqdm(total=len(jobs), unit="img", disable=not progress or len(files) < 2) as bar:
        for (src, _), result in in_file_workers(colorizer, jobs, one, [image_pixels(src) for src, _ in jobs]):
            done[src] = result
            bar.update()
    return results + [done[src] if src in done else FileResult(src, None, clashes[src]) for src in files]


def in_file_workers(colorizer: ImageColorizer, items: Sequence, fn: Callable,
                    pixels: Sequence[int] | None = None) -> Iterator[tuple]:
    """(item, fn(item)) for each item, in order, with `file_workers` items in progress at once (and
    OpenCV single-threaded while there are several): how `colorize_files` spreads photos over a CPU.
    `pixels`: each item's pixel count, so that huge scans are not colorized side by side beyond
    the memory budget (parallel.workers_for_sizes)."""
    workers = file_workers(colorizer, len(items))
    if workers > 1 and pixels is not None:
        workers = workers_for_sizes(pixels, workers, memory_budget())
    with opencv_threads(colorizer.device) if workers > 1 else contextlib.nullcontext():
        yield from Stages(iter(items), fn, maxsize=2, workers=workers)


def file_workers(colorizer: ImageColorizer, n_files: int) -> int:
    """Files colorized at once: on the CPU one per torch thread (at most MAX_CPU_WORKERS; the threads
    are shared out among them), each worker one-threaded on 2 cores, so that
    one file's reading, writing and the classifier's small layers overlap another's convolutions
    (13% faster than one two-thread team per file on 2 cores: results/bench_images.md); on a GPU one."""
    if colorizer.device.type != "cpu" or n_files < 2:
        return 1
    return max(1, min(n_files, torch.get_num_threads(), MAX_CPU_WORKERS))
