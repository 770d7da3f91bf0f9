"""Clips for training the temporal head: decoded once into small uint8 arrays, sampled as windows.

Each clip is decoded with PyAV, resized so its short side is `side` (multiple of 8) and cached as
one (T, H, W, 3) uint8 .npy file. The frozen part of the model turns each cached frame into its
fused bottleneck once (see temporal_loop.cache_features); windows of consecutive frames are then
drawn from the memory-mapped feature and frame caches, so memory does not grow with the number of clips.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import ColorizerConfig, VIDEO_SUFFIXES
from ..io import atomic_output


def find_clips(folder: str | os.PathLike) -> list[Path]:
    clips = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise FileNotFoundError(f"{folder}: no video clips ({', '.join(VIDEO_SUFFIXES)}) found")
    return clips


def in_split(name: str, fraction: float, salt: str = "") -> bool:
    """Stable split by clip name (whole clips, so no frame leaks between splits). A different
    `salt` draws an independent split, so validation clips can be drawn from the non-held-out ones."""
    key = f"{salt}:{name}" if salt else name
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def cache_clip(clip: Path, cache_dir: Path, side: int = ColorizerConfig.working_size) -> Path:
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
    with atomic_output(out) as tmp:
        np.save(tmp, np.stack(frames))
    return out


@dataclass(frozen=True)
class Window:
    pair: int  # index into the (features, frames) caches
    start: int


class FeatureWindows(Dataset):
    """Windows of consecutive frames: frozen bottleneck features and the colour frames they came from.

    features: (T, C, h, w) float16 .npy of the fused bottleneck; frames: (T', 8h, 8w, 3) uint8 .npy,
    T <= T'. Item: ((length, C, c, c) float32 features, (length, 8c, 8c, 3) uint8 frames) for one
    crop per window, aligned to the 8-pixel grid (c = crop // 8). No flips: the features of a
    mirrored frame are not the mirrored features. Crops are drawn from (seed, epoch, index), so an
    epoch is the same whether or not the run was resumed before it.
    """

    def __init__(self, pairs: list[tuple[Path, Path]], length: int = 6, crop: int = 128, stride: int = 3,
                 train: bool = True, seed: int = 0):
        if crop % 8:
            raise ValueError(f"crop must be a multiple of 8, got {crop}")
        self.length, self.cells, self.train, self.seed, self.epoch = length, crop // 8, train, seed, 0
        self.pairs = [(np.load(f, mmap_mode="r"), np.load(r, mmap_mode="r")) for f, r in pairs]
        self.windows = [Window(i, s) for i, (f, _) in enumerate(self.pairs)
                        for s in range(0, len(f) - length + 1, stride) if min(f.shape[2:]) >= self.cells]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        win = self.windows[i]
        feats, frames = self.pairs[win.pair]
        h, w = feats.shape[2:]
        rng = np.random.default_rng((self.seed, self.epoch if self.train else 0, self.train, i))
        y, x = int(rng.integers(0, h - self.cells + 1)), int(rng.integers(0, w - self.cells + 1))
        c, t = self.cells, slice(win.start, win.start + self.length)
        f = torch.from_numpy(np.array(feats[t, :, y:y + c, x:x + c])).float()
        rgb = torch.from_numpy(np.array(frames[t, 8 * y:8 * (y + c), 8 * x:8 * (x + c)]))
        return f, rgb


def split_caches(clips_dir: str | os.PathLike, cache_dir: str | os.PathLike, side: int = ColorizerConfig.working_size,
                 val_fraction: float = 0.15, holdout_fraction: float = 0.0,
                 log=print, holdout_names: Collection[str] = ()) -> tuple[list[Path], list[Path], list[str]]:
    """Cache the clips; return (train caches, validation caches, held-out clip names).

    Held-out clips (`holdout_fraction` of them, by name, and those named in `holdout_names`, e.g. one
    fold of a cross-validation) are for scoring the finished model: they are neither cached nor read.
    Validation clips, which pick the best epoch, are drawn from the rest.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips = find_clips(clips_dir)
    unknown = sorted(set(holdout_names) - {c.stem for c in clips})
    if unknown:
        raise ValueError(f"{clips_dir}: no clip named {', '.join(unknown)} to hold out")
    train, val, held_out = [], [], []
    for clip in clips:
        if in_split(clip.stem, holdout_fraction) or clip.stem in holdout_names:
            held_out.append(clip.stem)
            continue
        path = cache_clip(clip, cache_dir, side)
        (val if in_split(clip.stem, val_fraction, salt="val") else train).append(path)
    if not val and len(train) > 1:
        val.append(train.pop())
    if not train:
        raise ValueError(f"{clips_dir}: no clips left for training after holding out {len(held_out)} "
                         f"and validating on {len(val)}")
    log(f"{len(train)} training clips, {len(val)} validation clips cached in {cache_dir}; "
        f"{len(held_out)} held out, not read: {', '.join(held_out) or 'none'}")
    return train, val, held_out
