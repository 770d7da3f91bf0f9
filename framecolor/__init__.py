"""framecolor: colour for black-and-white photographs and old film.

Public API:
- load_colorizer(model, device, size, ...) -> ImageColorizer, whose .colorize(image) returns RGB(A) pixels;
- colorize_image(src, dst=None, model=..., max_pixels=...) -> the output path;
- colorize_video(src, dst, model=..., job=VideoJob(...), ...) -> the output path;
- ColorizerSettings and VideoJob, the options those take; ImageError, VideoError and WeightsError,
  the errors they raise (each names the file and the problem); __version__.

Each name is the real function or class of its module (same signature and docstring), imported on
first use, so that `import framecolor` and `framecolor --help` do not wait for torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_HOMES = {
    "load_colorizer": "framecolor.inference",
    "colorize_image": "framecolor.inference",
    "ImageColorizer": "framecolor.inference",
    "colorize_video": "framecolor.film.job",
    "VideoJob": "framecolor.film.options",
    "ColorizerSettings": "framecolor.config",
    "ImageError": "framecolor.images",
    "VideoError": "framecolor.video.probe",
    "WeightsError": "framecolor.models.embedders",
}

if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .config import ColorizerSettings
    from .film.job import colorize_video
    from .film.options import VideoJob
    from .images import ImageError
    from .inference import ImageColorizer, colorize_image, load_colorizer
    from .models.embedders import WeightsError
    from .video.probe import VideoError


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'framecolor' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = sorted(_HOMES) + ["__version__"]
