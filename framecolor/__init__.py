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
    """See framecolor.video_pipeline.colorize_video."""
    from .video_pipeline import colorize_video as _cv
    return _cv(*args, **kwargs)


__all__ = ["load_colorizer", "colorize_image", "colorize_video", "__version__"]
