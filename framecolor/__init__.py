"""framecolor: colour for black-and-white photographs and old film.

Public API: load_colorizer, colorize_image, colorize_video, __version__. Nothing runs at import.
"""
from __future__ import annotations

__version__ = "0.1.0"


def load_colorizer(*args, **kwargs):
    """See framecolor.inference.load_colorizer."""
    from .inference import load_colorizer as _load
    return _load(*args, **kwargs)


def colorize_image(src, dst=None, model: str | None = None, **kwargs):
    """Colorize one image file; returns the output path (default <stem>_color.<ext> beside it)."""
    from pathlib import Path

    from .config import PHOTO_MODEL
    from .inference import colorize_file, load_colorizer as _load, plan_outputs
    model = PHOTO_MODEL if model is None else model
    src = Path(src)
    dst = Path(dst) if dst is not None else plan_outputs([src], {}, None)[0]
    colorize_file(_load(model, **kwargs), src, dst)
    return dst


def colorize_video(*args, **kwargs):
    """See framecolor.film.job.colorize_video."""
    from .film.job import colorize_video as _cv
    return _cv(*args, **kwargs)


def __getattr__(name: str):
    if name == "VideoJob":  # the film job's options; imported on first use
        from .film.options import VideoJob
        return VideoJob
    raise AttributeError(f"module 'framecolor' has no attribute {name!r}")


__all__ = ["VideoJob", "load_colorizer", "colorize_image", "colorize_video", "__version__"]
