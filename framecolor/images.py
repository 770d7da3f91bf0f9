"""Reading and writing still images: JPEG, PNG, TIFF, WebP, BMP; 8/16-bit; EXIF orientation; alpha."""
from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
OUTPUT_FORMATS = ("png", "jpg", "tif", "webp", "bmp")  # what colorize_files' `fmt` may name
# What `colorize` reads: the formats it writes, and GIF (written as GIF again; framecolor.animation).
READ_SUFFIXES = IMAGE_SUFFIXES | {".gif"}


def writable_suffixes(src: str | os.PathLike) -> set[str]:
    """The output suffixes a colorized `src` may be written as: IMAGE_SUFFIXES, and .gif for a GIF."""
    return IMAGE_SUFFIXES | ({".gif"} if Path(src).suffix.lower() == ".gif" else set())


# Names that look like an image file, written or not: an output named so is a file, never a folder.
IMAGE_LIKE_SUFFIXES = IMAGE_SUFFIXES | {".gif", ".jpe", ".jfif", ".heic", ".heif", ".avif", ".jp2", ".jxl", ".psd"}
# Inputs with more pixels are refused unless the caller raises the limit: 300 megapixels is a
# 20000 x 15000 scan, about 1 GB as 8-bit RGB and 3.6 GB as the float32 picture colorized.
DEFAULT_MAX_PIXELS = 300_000_000


class ImageError(InputError, ValueError):
    """An input image could not be read, or an output could not be written (`path`, `reason`)."""


class ImageTooLarge(ImageError):
    """An input has more pixels (`pixels`) than the limit it was read with (`limit`)."""

    def __init__(self, reason: str, path: str | os.PathLike | None = None, pixels: int = 0, limit: int = 0):
        super().__init__(reason, path)
        self.pixels, self.limit = pixels, limit

    def __reduce__(self):
        return type(self), (self.reason, self.path, self.pixels, self.limit)


@dataclass
class Picture:
    """rgb: (H, W, 3) float32 in [0, 1]; alpha: (H, W) float32 or None; bit_depth: 8 or 16;
    frames: how many the file holds (an animated GIF: more than one; this is the first)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    was_gray: bool = False
    frames: int = 1


# Float pixels may stray this far outside [0, 1] (half an 8-bit level: a colour conversion's rounding)
# and are clipped; further out, they are taken for another scale (0-255) and refused.
FLOAT_SLACK = 0.5 / 255


def _from_array(arr: np.ndarray) -> Picture:
    """(H, W) / (H, W, 1|2|3|4) uint8, uint16, bool or float in [0, 1] -> Picture (channels already in
    RGB order). Anything else raises ImageError."""
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"unsupported image shape {arr.shape}: give (H, W) or (H, W, 1|2|3|4)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"empty image: shape {arr.shape} has no pixels")
    if arr.dtype == np.uint16:
        depth, x = 16, arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.uint8:
        depth, x = 8, arr.astype(np.float32) / 255.0
    elif arr.dtype == bool:
        depth, x = 8, arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        depth, x = 8, _unit_floats(arr)
    else:
        raise ImageError(f"unsupported pixel type {arr.dtype}")
    if x.ndim == 2:
        x = x[..., None]
    c = x.shape[2]
    alpha = x[..., -1] if c in (2, 4) else None
    color = x[..., :1] if c in (1, 2) else x[..., :3]
    gray = color.shape[2] == 1
    rgb = np.repeat(color, 3, axis=2) if gray else color
    return Picture(np.ascontiguousarray(rgb), alpha, depth, gray)


def _unit_floats(arr: np.ndarray) -> np.ndarray:
    """Float pixels -> float32 in [0, 1]; values on another scale (0-255, say) or NaN raise ImageError."""
    x = arr.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError("float pixels must be finite numbers in [0, 1]; this image holds NaN or infinity")
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        raise ImageError(f"float pixels must be in [0, 1], these run from {lo:g} to {hi:g}; divide 0-255 "
                         "values by 255 (or pass uint8 / uint16 arrays)")
    return np.clip(x, 0.0, 1.0)


def picture_from_array(arr: np.ndarray) -> Picture:
    return _from_array(np.asarray(arr))


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Decode an image file fully (a truncated file is an error), upright per its EXIF orientation.
    A file of more than `max_pixels` pixels (None: no limit) is refused before it is decoded."""
    return picture_from_levels(*read_levels(path, max_pixels), path)


def picture_from_levels(arr: np.ndarray, frames: int, path: str | os.PathLike) -> Picture:
    """read_levels' (pixels, frames) of the file at `path` -> the Picture read_image gives."""
    try:
        pic = _from_array(arr)
    except ImageError as e:  # float pixels on another scale (a 32-bit float TIFF): name the file
        raise ImageError(e.reason, Path(path)) from None
    pic.frames = frames
    return pic


def rgb_levels(arr: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 1|2|3|4) levels -> (H, W, 3|4) RGB(A): grey repeated, alpha kept (what
    to_array gives for the Picture read from them)."""
    x = arr if arr.ndim == 3 else arr[..., None]
    if x.shape[2] >= 3:
        return x
    grey = np.repeat(x[..., :1], 3, axis=2)
    return np.concatenate([grey, x[..., 1:]], axis=2) if x.shape[2] == 2 else grey


def read_levels(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, int]:
    """read_image's pixels as the file holds them, upright: (H, W) or (H, W, 2|3|4) RGB(A) uint8 or
    uint16 (float for a float TIFF), without read_image's float32 copy (12 bytes a pixel); and the
    number of frames in the file. The same checks and errors as read_image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ImageError("is a folder, not an image file", path)
    if not path.is_file():
        raise ImageError("no such file", path)
    if path.stat().st_size == 0:
        raise ImageError("empty file (0 bytes)", path)
    try:
        with _pillow_limit_off(), Image.open(path) as im:
            _check_pixels(path, im.size, max_pixels)  # the header's size, before any pixel is decoded
            im.load()
            _check_pixels(path, im.size, max_pixels)  # a GIF frame may extend its canvas
            orientation = im.getexif().get(0x0112, 1)
            mode, pixels = im.mode, im.size[0] * im.size[1]
            arr = None if _needs_cv2(path, im) else np.asarray(_pil_normalise(im))
            frames = getattr(im, "n_frames", 1)  # after the first frame was copied: this seeks
    except UnidentifiedImageError:
        fmt = _format_from_signature(path)  # an image that Pillow's own check for its format refused
        if fmt is None:
            raise ImageError("not an image file (or an unsupported format)", path) from None
        raise ImageError(f"corrupt or truncated {fmt} file ({_why_unreadable(path, fmt)})", path) from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        fmt = _format_from_signature(path) or "image"
        raise ImageError(f"corrupt or truncated {fmt} file ({e})", path) from None
    if arr is None:
        arr = _read_cv2(path, pixels)
    if mode.startswith("I;16") or mode == "I":
        arr = np.clip(arr, 0, 65535).astype(np.uint16)
    return _apply_orientation(arr, orientation), frames


def write_output(dst: Path, data: bytes) -> None:
    """Write an encoded output atomically, creating its folder; a failure is an ImageError naming `dst`."""
    from .io import atomic_write

    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dst, data)
    except OSError as e:
        raise ImageError(f"cannot write output ({e.strerror or e})", dst) from None


def image_pixels(path: str | os.PathLike) -> int:
    """Width x height from the file's header (nothing decoded), or 0 for a file that cannot be read."""
    from PIL import Image

    try:
        with _pillow_limit_off(), Image.open(path) as im:
            return im.size[0] * im.size[1]
    except Exception:  # noqa: BLE001 - the read proper reports what is wrong with the file
        return 0


_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF",
               b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP"}


def _format_from_signature(path: Path) -> str | None:
    """The format a file's first bytes announce (PNG, JPEG, GIF, TIFF, BMP, WEBP), or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in _SIGNATURES.items() if head.startswith(sig)), None)


def _why_unreadable(path: Path, fmt: str) -> str:
    """What Pillow's reader for `fmt` says about the file (Image.open only says it cannot identify it)."""
    from PIL import Image

    Image.init()
    factory = Image.OPEN.get(fmt, (None,))[0]
    try:
        with open(path, "rb") as f:
            factory(f, str(path)) if factory else None
    except Exception as e:  # noqa: BLE001 - only its message is wanted
        return str(e) or type(e).__name__
    return "it starts like one, but cannot be read"


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int | None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLarge(f"{w} x {h} pixels ({w * h / 1e6:.1f} megapixels), over the limit of "
                            f"{_pixels(max_pixels)}", path, w * h, max_pixels)


def _pixels(n: int) -> str:
    return f"{n / 1e6:g} megapixels" if n >= 100_000 else f"{n} pixels"


_pillow_lock = threading.Lock()
_pillow_reads = [0, None]  # reads in progress, Pillow's limit before the first of them


@contextlib.contextmanager
def _pillow_limit_off() -> Iterator[None]:
    """Pillow's decompression-bomb check off while any read is in progress, then restored: read_image
    checks its own limit exactly (Pillow warns at its limit and fails at twice it, and names no file).
    Image.MAX_IMAGE_PIXELS is process-wide and files are read in parallel, hence the count."""
    from PIL import Image

    with _pillow_lock:
        if _pillow_reads[0] == 0:
            _pillow_reads[1] = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_reads[0] += 1
    try:
        yield
    finally:
        with _pillow_lock:
            _pillow_reads[0] -= 1
            if _pillow_reads[0] == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_reads[1]


def _needs_cv2(path: Path, im) -> bool:
    """Colour PNG/TIFF may hold 16 bits a channel: Pillow would drop to 8, OpenCV keeps them."""
    return path.suffix.lower() in {".png", ".tif", ".tiff"} and im.mode in ("RGB", "RGBA")


def _pil_normalise(im):
    if im.mode in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F", "1"):
        return im
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, ...


def _read_cv2(path: Path, pixels: int = 0) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        limit = " (OpenCV reads at most 2**30 pixels unless OPENCV_IO_MAX_IMAGE_PIXELS says more)"
        raise ImageError("cannot decode image" + (limit if pixels > 1 << 30 else ""), path)
    if arr.ndim == 3:
        cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB, dst=arr)  # in place
    return arr


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 1-8 -> upright pixels."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
           7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.swapaxes(a, 0, 1)[::-1]}
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def to_array(rgb: np.ndarray, alpha: np.ndarray | None, bit_depth: int) -> np.ndarray:
    """float RGB (+alpha) in [0, 1] -> uint8/uint16 (H, W, 3|4)."""
    x = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)
    if bit_depth == 8:  # the same numbers as below (round half to even, saturate), in one pass
        import cv2

        return cv2.convertScaleAbs(np.maximum(x, 0, dtype=np.float32), alpha=255.0)
    peak = 65535 if bit_depth == 16 else 255
    return np.round(np.clip(x, 0, 1) * peak).astype(np.uint16 if bit_depth == 16 else np.uint8)


def encode_image(arr: np.ndarray, suffix: str, quality: int = 95, in_place: bool = False) -> bytes:
    """(H, W, 3|4) RGB(A) uint8/uint16 -> encoded bytes for the format named by `suffix`. With
    `in_place`, `arr` is turned into BGR(A) for the encoder where it lies (no copy of a large scan)."""
    import cv2

    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg", ".webp", ".bmp") and arr.dtype == np.uint16:
        arr = (arr // 257).astype(np.uint8)  # these formats hold 8 bits
    if suffix in (".jpg", ".jpeg") and arr.shape[2] == 4:
        arr = arr[..., :3]  # JPEG has no alpha
    code = cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    if suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    bgr = cv2.cvtColor(arr, code, dst=arr if in_place and arr.flags.writeable and arr.flags.c_contiguous else None)
    ok, buf = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise ImageError(f"cannot encode an image as {suffix}")
    return buf.tobytes()


def find_images(inputs: list[str | os.PathLike], suffixes: set[str] = IMAGE_SUFFIXES) -> tuple[list[Path], list[str]]:
    """Files and folders (recursively) -> image files (named with one of `suffixes`), plus errors
    for inputs that do not exist."""
    files, errors = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in _walk(item) if p.suffix.lower() in suffixes)
        elif item.is_file():
            files.append(item)
        else:
            errors.append(f"{item}: no such file or folder")
    return files, errors


def _walk(folder: Path) -> Iterator[Path]:
    """Files below `folder`, not hidden and not in hidden folders (names starting with '.': .git,
    .thumbnails, the video work folders), which are not searched at all."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            p = Path(root) / name
            if not name.startswith(".") and p.is_file():
                yield p
