"""Image files of several frames: animated GIF, APNG and animated WebP, and multi-page TIFF.

An animation is coloured frame by frame as a short film, with the film's flow carry and film settings
(film.stream.StreamColorizer), and written as an animation again, keeping each frame's duration and
the loop count. The pages of a multi-page TIFF are separate pictures: each is coloured alone, as a
photo, and the output is a multi-page TIFF. A still GIF is written as a GIF of one frame. An output
format that holds one frame only (JPEG, BMP) is refused with the reason, before any work.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images import ImageError, ImageTooLarge, _pixels

# What each output suffix is written as, when the picture has several frames.
MULTI_FRAME_FORMATS = {".gif": "GIF", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass
class Frames:
    """The frames of a file, composed as they are shown (a GIF's or APNG's partial frames drawn over
    the ones before), as (H, W, 3) RGB or (H, W, 4) RGBA uint8; each one's duration in ms, the loop
    count (0: for ever; None: once), and whether they are pages (TIFF) rather than an animation."""

    images: list[np.ndarray]
    durations: list[int]
    loop: int | None
    pages: bool


def read_frames(path: str | os.PathLike, max_pixels: int | None = None) -> Frames:
    """Every frame of an image file. `max_pixels` bounds all frames' pixels together (ImageTooLarge)."""
    from PIL import Image, ImageSequence

    path = Path(path)
    try:
        with Image.open(path) as im:
            n, (w, h) = getattr(im, "n_frames", 1), im.size
            if max_pixels is not None and n * w * h > max_pixels:
                raise ImageTooLarge(f"{n} frames of {w} x {h} pixels ({n * w * h / 1e6:.1f} megapixels in all), "
                                    f"over the limit of {_pixels(max_pixels)}", path, n * w * h, max_pixels)
            pages = im.format == "TIFF"
            loop = im.info.get("loop")
            images, durations = [], []
            for frame in ImageSequence.Iterator(im):
                alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
                images.append(np.array(frame.convert("RGBA" if alpha else "RGB")))
                durations.append(int(frame.info.get("duration", 100) or 100))
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot read its frames ({e})", path) from None
    if not pages and len({a.shape for a in images}) > 1:  # the pages of a TIFF may differ in size
        raise ImageError("its frames differ in size", path)
    return Frames(images, durations, loop, pages)


def check_output(src: Path, dst: Path, frames: int) -> None:
    """Refuse, before any work, an output `dst` that cannot hold the `frames` frames of `src` (which
    suffixes a picture may be written as at all is images.writable_suffixes)."""
    suffix = dst.suffix.lower()
    if frames > 1 and suffix not in MULTI_FRAME_FORMATS:
        raise ImageError(f"has {frames} frames, which a {suffix} file cannot hold; write it as .gif (for a GIF), "
                         ".png (APNG), .webp or .tif, or leave the format out to keep the input's", src)


def colorize_frames_file(colorizer, src: Path, dst: Path, frames: int, max_pixels: int | None = None) -> list[str]:
    """Colour every frame of `src`, which holds `frames` frames, into `dst` (see the module's
    docstring), atomically. Returns a note saying how the frames were coloured."""
    from .film.stream import StreamColorizer, batched
    from .images import write_output

    check_output(src, dst, frames)
    found = read_frames(src, max_pixels)
    alphas = [a[..., 3] if a.shape[2] == 4 else None for a in found.images]
    rgbs = [np.ascontiguousarray(a[..., :3]) for a in found.images]
    if found.pages or len(rgbs) == 1:  # separate pictures: each one as a photo
        coloured = [colorizer.colorize_levels(a) for a in rgbs]
        how = "each page alone" if len(rgbs) > 1 else None
    else:  # an animation: a short film
        stream = StreamColorizer(colorizer, temporal="flow")
        coloured = [f for batch in batched(rgbs, max(1, colorizer.batch_size)) for f in stream(batch)]
        how = "as a short film, with the flow carry"
    out = [c if a is None else np.dstack([c, a]) for c, a in zip(coloured, alphas)]
    write_output(dst, encode_frames(out, found.durations, found.loop, dst.suffix))
    return [f"{src}: {len(rgbs)} frames coloured {how}"] if how else []


def encode_frames(images: list[np.ndarray], durations: list[int], loop: int | None, suffix: str) -> bytes:
    """(H, W, 3|4) uint8 frames -> the bytes of one file of the format `suffix` names (MULTI_FRAME_FORMATS)."""
    from PIL import Image

    fmt = MULTI_FRAME_FORMATS[suffix.lower()]
    pil = [Image.fromarray(a) for a in images]
    options: dict = {"save_all": len(pil) > 1, "append_images": pil[1:]}
    if fmt != "TIFF" and len(pil) > 1:
        options["duration"] = durations
        if loop is not None:
            options["loop"] = loop
    if fmt == "WEBP":
        options["quality"] = 95
    if fmt == "TIFF":
        options["compression"] = "tiff_lzw"
    buf = io.BytesIO()
    pil[0].save(buf, format=fmt, **options)
    return buf.getvalue()
