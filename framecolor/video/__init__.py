"""Video I/O: probe, streaming reader, chunked writer and remux. Numpy frames in and out; no model code."""
from __future__ import annotations

from .probe import VideoError, VideoInfo, probe

__all__ = ["VideoError", "VideoInfo", "probe"]
