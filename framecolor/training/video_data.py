"""Clips for training the temporal head: decoded once into small uint8 arrays, sampled as windows.

Each clip is decoded with PyAV, resized so its short side is `side` (multiple of 8) and cached as
one (T, H, W, 3) uint8 .npy file; windows of consecutive frames with one random crop and flip per
window are drawn from memory-mapped caches, so memory does not grow with the number of clips.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm")


def find_clips(folder: str | os.PathLike) -> list[Path]:
    clips = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise FileNotFoundError(f"{folder}: no video clips ({', '.join(VIDEO_SUFFIXES)}) found")
    return clips


def is_validation(name: str, fraction: float) -> bool:
    """Stable split by clip name (whole clips, so no frame leaks between train and validation)."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def cache_clip(clip: Path, cache_dir: Path, side: int = 128) -> Path:
    """Decode, resize (short side -> side, both sides multiples of 8) and cache one clip."""
    import cv2

    from ..inference import working_shape
    from ..video import probe
    from ..video.reader import read_frames

    out = cache_dir / f"{clip.stem}-{side}.npy"
    if out.is_file():
        return out
    info = probe(clip)
    h, w = working_shape(info.height, info.width, side)
    frames = [cv2.resize(f.rgb, (w, h), interpolation=cv2.INTER_AREA) for f in read_frames(info)]
    tmp = out.with_suffix(".part.npy")
    np.save(tmp, np.stack(frames))
    os.replace(tmp, out)
    return out


@dataclass(frozen=True)
class Window:
    cache: Path
    start: int


class ClipWindows(Dataset):
    """(T, crop, crop, 3) uint8 windows of consecutive frames from cached clips."""

    def __init__(self, caches: list[Path], length: int = 6, crop: int = 96, stride: int = 3, train: bool = True):
        self.length, self.crop, self.train = length, crop, train
        self.arrays = {c: np.load(c, mmap_mode="r") for c in caches}
        self.windows = [Window(c, s) for c, a in self.arrays.items()
                        for s in range(0, len(a) - length + 1, stride) if min(a.shape[1:3]) >= crop]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        win = self.windows[i]
        clip = self.arrays[win.cache][win.start:win.start + self.length]
        h, w = clip.shape[1:3]
        rng = np.random.default_rng() if self.train else np.random.default_rng(i)
        y, x = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
        patch = clip[:, y:y + self.crop, x:x + self.crop]
        if self.train and rng.random() < 0.5:
            patch = patch[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(patch))


def split_caches(clips_dir: str | os.PathLike, cache_dir: str | os.PathLike, side: int = 128,
                 val_fraction: float = 0.15, log=print) -> tuple[list[Path], list[Path]]:
    """Cache every clip; return (train caches, validation caches), split by clip."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    train, val = [], []
    for clip in find_clips(clips_dir):
        path = cache_clip(clip, cache_dir, side)
        (val if is_validation(clip.stem, val_fraction) else train).append(path)
    if not val and len(train) > 1:
        val.append(train.pop())
    log(f"{len(train)} training clips, {len(val)} validation clips cached in {cache_dir}")
    return train, val
