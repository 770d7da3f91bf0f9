"""Training data: a folder of colour photos -> a cached uint8 shard, a named validation split, and
each image's classifier embedding computed once (the classifier is frozen)."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..color import rgb_to_lab
from ..images import ImageError, find_images, read_image
from ..io import atomic_output, atomic_write

SHARD_SIZE = 256  # images are stored as centre-cropped squares of this side


def is_gray(rgb: np.ndarray, mean_thresh: float = 3.0, p99_thresh: float = 12.0) -> bool:
    """Already grey (or near-monochrome) colour photos teach nothing: skip them, as the thesis does.
    rgb: (H, W, 3) float in [0, 1]. Thresholds are on 0-255 channel differences."""
    x = rgb * 255.0
    d = np.maximum(np.abs(x[..., 0] - x[..., 1]), np.abs(x[..., 1] - x[..., 2]))
    return float(d.mean()) < mean_thresh and float(np.percentile(d, 99)) < p99_thresh


def in_validation(rel_path: str, fraction: float) -> bool:
    """Deterministic split by a hash of the path relative to the data folder."""
    h = int(hashlib.sha1(rel_path.encode()).hexdigest()[:8], 16)
    return h % 10000 < fraction * 10000


def square_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize so the short side is `side` (area filter) and centre-crop to side x side; uint8 out."""
    import cv2

    h, w = rgb.shape[:2]
    s = side / min(h, w)
    nh, nw = max(side, round(h * s)), max(side, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    img = cv2.resize(rgb.astype(np.float32), (nw, nh), interpolation=interp)
    top, left = (nh - side) // 2, (nw - side) // 2
    return np.clip(img[top:top + side, left:left + side] * 255 + 0.5, 0, 255).astype(np.uint8)


@dataclass
class Shard:
    images: np.ndarray  # (N, S, S, 3) uint8
    names: list[str]


def build_shards(data_dir: str | os.PathLike, cache_dir: str | os.PathLike, val_fraction: float = 0.1,
                 log=print) -> dict[str, Shard]:
    """Scan, filter grey, split and cache `train`/`val` shards (re-used when the file list is unchanged)."""
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    files, _ = find_images([data_dir])
    if not files:
        raise ImageError(f"{data_dir}: no images found")
    rels = [f.relative_to(data_dir).as_posix() for f in files]
    key = hashlib.sha1(json.dumps([rels, val_fraction, SHARD_SIZE]).encode()).hexdigest()[:12]
    index = cache_dir / f"shards-{key}.json"
    if index.is_file():
        meta = json.loads(index.read_text())
        return {s: Shard(np.load(cache_dir / f"{s}-{key}.npy", mmap_mode="r"), meta[s]) for s in ("train", "val")}
    buckets: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], [])}
    skipped = {"gray": 0, "unreadable": 0}
    for f, rel in zip(files, rels):
        try:
            rgb = read_image(f).rgb
        except (ImageError, OSError):
            skipped["unreadable"] += 1
            continue
        if is_gray(rgb):
            skipped["gray"] += 1
            continue
        split = "val" if in_validation(rel, val_fraction) else "train"
        buckets[split][0].append(square_crop(rgb, SHARD_SIZE))
        buckets[split][1].append(rel)
    meta = {"skipped": skipped}
    for split, (imgs, names) in buckets.items():
        arr = np.stack(imgs) if imgs else np.zeros((0, SHARD_SIZE, SHARD_SIZE, 3), np.uint8)
        with atomic_output(cache_dir / f"{split}-{key}.npy") as tmp:
            np.save(tmp, arr)
        meta[split] = names
    atomic_write(index, json.dumps(meta).encode())
    log(f"shards: {len(meta['train'])} train, {len(meta['val'])} val, skipped {skipped}")
    return build_shards(data_dir, cache_dir, val_fraction, log)


@torch.no_grad()
def cached_embeddings(embedder, shard: Shard, cache_file: str | os.PathLike, batch: int = 32) -> np.ndarray:
    """(N, 1000) float16 class probabilities of each whole grey image, computed once and cached."""
    cache_file = Path(cache_file)
    if cache_file.is_file():
        emb = np.load(cache_file)
        if emb.shape[0] == len(shard.names):
            return emb
    out = []
    for i in range(0, len(shard.names), batch):
        rgb = torch.from_numpy(np.array(shard.images[i:i + batch])).permute(0, 3, 1, 2).float() / 255
        out.append(embedder(rgb_to_lab(rgb)[:, :1]).half().numpy())
    emb = np.concatenate(out) if out else np.zeros((0, 1000), np.float16)
    with atomic_output(cache_file) as tmp:
        np.save(tmp, emb)
    return emb


class CropDataset(Dataset):
    """Random scale crop (train) or centre crop (val) resized to `crop`, random h-flip (train).
    Returns (crop, crop, 3) uint8 RGB and the image's (1000,) embedding (zeros when none)."""

    def __init__(self, shard: Shard, embeddings: np.ndarray | None, crop: int, train: bool):
        self.images, self.emb, self.crop, self.train = shard.images, embeddings, crop, train

    def __len__(self) -> int:
        return len(self.images)

    def _window(self, rng: np.random.Generator, side: int) -> tuple[int, int, int]:
        if not self.train:
            return 0, 0, side
        s = int(rng.integers(self.crop, side + 1))
        return int(rng.integers(0, side - s + 1)), int(rng.integers(0, side - s + 1)), s

    def __getitem__(self, i: int):
        import cv2

        rng = np.random.default_rng(torch.randint(0, 2**31, ()).item())  # follows torch's seeded RNG
        img = np.asarray(self.images[i])
        y, x, s = self._window(rng, img.shape[0])
        patch = cv2.resize(img[y:y + s, x:x + s], (self.crop, self.crop), interpolation=cv2.INTER_AREA)
        if self.train and rng.random() < 0.5:
            patch = patch[:, ::-1]
        emb = self.emb[i].astype(np.float32) if self.emb is not None else np.zeros(1000, np.float32)
        return torch.from_numpy(np.ascontiguousarray(patch)), torch.from_numpy(emb)


def batch_to_lab(rgb_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W, 3) uint8 -> L* (B, 1, H, W) and a*b* (B, 2, H, W)."""
    lab = rgb_to_lab(rgb_u8.permute(0, 3, 1, 2).float() / 255)
    return lab[:, :1], lab[:, 1:]
