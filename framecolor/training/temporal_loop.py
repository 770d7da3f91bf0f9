"""Training the ConvLSTM temporal head (FlowChroma-style) on clips, on top of a trained image model.

The image model's weights are loaded and frozen; only the temporal head (and optionally the
decoder) learns. The loss is the per-frame MSE on a*b*/128 plus a temporal term that asks the
frame-to-frame change of the prediction to match that of the truth, which punishes flicker
without punishing real motion. Training resumes exactly from `resume.pt` at epoch boundaries.

The encoder, classifier and fusion are frozen, so their output is computed once per cached frame
(`cache_features`, float16 on disk) and training runs only the head and the decoder on crops of
those bottleneck features; this makes an epoch several times cheaper than running the whole model.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..color import normalize_ab
from ..config import TemporalConfig, TemporalTrainConfig
from ..io import atomic_output, atomic_write
from ..models.colorizer import Colorizer
from ..models.embedders import sha256_file
from ..models.registry import load_checkpoint, read_meta, resolve_checkpoint, save_checkpoint
from ..precision import autocast, training_precision
from .data import batch_to_lab
from .loop import load_resume, save_resume
from .video_data import FeatureWindows, split_caches


def temporal_model_from(base: str | Path, hidden_channels: int = 256) -> Colorizer:
    """The image model at `base` with a fresh (zero-output) temporal head on its bottleneck."""
    image = load_checkpoint(base)
    config = image.config.replace(name=f"{image.config.name}-lstm", temporal=TemporalConfig(hidden_channels))
    model = Colorizer.from_config(config, image.embedder)
    model.load_state_dict(image.state_dict(), strict=False)  # everything but temporal.*
    return model


def freeze_for_temporal(model: Colorizer, train_decoder: bool = False) -> list[torch.nn.Parameter]:
    """Freeze all but the temporal head (and the decoder if asked); return the trainable parameters."""
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("temporal.") or (train_decoder and name.startswith("decoder."))
    return [p for p in model.parameters() if p.requires_grad]


def mean_chroma(ab: torch.Tensor) -> torch.Tensor:
    """(..., 2, H, W) a*b* -> (...) mean chroma sqrt(a^2 + b^2) per frame."""
    return (ab.square().sum(-3) + 1e-8).sqrt().mean((-2, -1))


def clip_loss(pred: torch.Tensor, target: torch.Tensor, temporal_weight: float,
              saturation_weight: float = 0.0, anchor: torch.Tensor | None = None,
              anchor_weight: float = 0.0) -> torch.Tensor:
    """(B, T, 2, H, W) predictions and targets (a*b*/128): per-frame MSE + change-matching term +
    a saturation term. Per-pixel MSE under uncertain colour favours grey; the saturation term asks
    each frame's mean chroma to match the truth's without asking for a particular hue. (Matching
    the change over time alone would also reward greyer colour, whose changes are smaller.)

    With `anchor` (the image model's own per-frame prediction) and `anchor_weight` w, the per-frame
    term is (1 - w) * MSE to the truth + w * MSE to the anchor: at w = 1 the head learns no colours
    of its own from the (few) training clips, only to change them over time as the truth does; the
    saturation term then keeps the anchor's chroma.
    """
    change = F.mse_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])
    loss = (1 - anchor_weight) * F.mse_loss(pred, target) + temporal_weight * change
    if anchor_weight:
        loss = loss + anchor_weight * F.mse_loss(pred, anchor)
    if saturation_weight:  # the chroma to keep comes from the same mix as the per-frame colours
        chroma = mean_chroma(target)
        if anchor_weight:
            chroma = torch.lerp(chroma, mean_chroma(anchor), anchor_weight)
        loss = loss + saturation_weight * F.mse_loss(mean_chroma(pred), chroma)
    return loss


def base_tag(base: str | Path) -> str:
    """Short hash of the base model's weights: names its feature caches, so a new base recomputes them."""
    path = resolve_checkpoint(base)
    return (read_meta(path).get("sha256") or sha256_file(path))[:12]


@torch.no_grad()
def cache_features(model: Colorizer, frames: Path, tag: str, max_frames: int | None = None,
                   device: torch.device = torch.device("cpu"), batch: int = 8, bf16: bool = False) -> Path:
    """(T, H, W, 3) uint8 frame cache -> (T, C, H/8, W/8) float16 fused bottleneck beside it."""
    rgb = np.load(frames, mmap_mode="r")[:max_frames]
    out = frames.with_name(f"{frames.stem}-feat-{tag}{'-bf16' if bf16 else ''}-{len(rgb)}.npy")
    if out.is_file():
        return out
    model.eval()
    chunks = []
    for i in range(0, len(rgb), batch):
        L, _ = batch_to_lab(torch.from_numpy(np.array(rgb[i:i + batch])).to(device))
        with autocast(device, training_precision(bf16)):
            chunks.append(model.features(L.contiguous(memory_format=torch.channels_last)).half().cpu().numpy())
    with atomic_output(out) as tmp:
        np.save(tmp, np.concatenate(chunks))
    return out


def feature_pairs(model: Colorizer, caches: list[Path], tag: str, cfg: TemporalTrainConfig,
                  device: torch.device, log=print) -> list[tuple[Path, Path]]:
    """(features, frames) cache pairs, computing the missing feature caches."""
    pairs = []
    for i, frames in enumerate(caches):
        t0 = time.time()
        feats = cache_features(model, frames, tag, cfg.max_frames, device, 2 * cfg.batch_size, cfg.bf16)
        pairs.append((feats, frames))
        log(f"features {i + 1}/{len(caches)}: {pairs[-1][0].name} ({time.time() - t0:.1f} s)")
    return pairs


def clip_batch(model: Colorizer, feats: torch.Tensor, rgb: torch.Tensor, device: torch.device,
               bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, C, c, c) features and (B, T, 8c, 8c, 3) uint8 frames -> (prediction, target), both
    (B, T, 2, 8c, 8c) a*b*/128."""
    b, t = rgb.shape[:2]
    _, ab = batch_to_lab(rgb.flatten(0, 1).to(device))
    with autocast(device, training_precision(bf16)):
        pred, _ = model.decode_clip(feats.to(device))
    return pred.float(), normalize_ab(ab).unflatten(0, (b, t))


@torch.no_grad()
def image_prediction(model: Colorizer, feats: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """(B, T, C, c, c) features, on the model's device -> (B, T, 2, 8c, 8c): the image model's
    per-frame a*b*/128 (the decoder without the head)."""
    with autocast(feats.device, training_precision(bf16)):
        return model.decoder(feats.flatten(0, 1)).unflatten(0, feats.shape[:2]).float()


def _set_modes(model: Colorizer, cfg: TemporalTrainConfig, train: bool) -> None:
    model.eval()
    if train:
        model.temporal.train()
        if cfg.train_decoder:
            model.decoder.train()


def run_epoch(model: Colorizer, loader: DataLoader, cfg: TemporalTrainConfig, device: torch.device,
              opt: torch.optim.Optimizer | None = None, desc: str = "") -> float:
    """One pass over `loader`; trains when `opt` is given, else evaluates. Returns the mean loss."""
    from tqdm import tqdm

    _set_modes(model, cfg, opt is not None)
    steps = len(loader) if cfg.max_steps_per_epoch is None or opt is None else min(cfg.max_steps_per_epoch, len(loader))
    total, n = 0.0, 0
    with torch.set_grad_enabled(opt is not None):
        for i, (feats, rgb) in enumerate(tqdm(loader, total=steps, desc=desc, unit="batch", file=sys.stderr,
                                              mininterval=5)):
            if i >= steps:
                break
            feats = feats.to(device)  # once, for the head and the anchor
            anchor = image_prediction(model, feats, cfg.bf16) if cfg.anchor_weight else None
            loss = clip_loss(*clip_batch(model, feats, rgb, device, cfg.bf16), cfg.temporal_weight,
                             cfg.saturation_weight, anchor, cfg.anchor_weight)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total, n = total + float(loss.detach()), n + 1
    return total / max(n, 1)


def _datasets(clips_dir: str, base_model: str, out: Path, model: Colorizer, cfg: TemporalTrainConfig,
              device: torch.device, log) -> tuple[FeatureWindows, FeatureWindows, dict]:
    train_c, val_c, held_out = split_caches(clips_dir, out / "cache", cfg.side, cfg.val_fraction,
                                            cfg.holdout_fraction, log, cfg.holdout_names)
    tag = base_tag(base_model)
    train_p, val_p = (feature_pairs(model, c, tag, cfg, device, log) for c in (train_c, val_c))
    train_set = FeatureWindows(train_p, cfg.length, cfg.crop, train=True, seed=cfg.seed)
    val_set = FeatureWindows(val_p, cfg.length, cfg.crop, stride=cfg.length, train=False, seed=cfg.seed)
    names = lambda caches: [p.stem.removesuffix(f"-{cfg.side}") for p in caches]  # noqa: E731
    meta = {"base_model": str(base_model), "clips": str(clips_dir), "train_clips": names(train_c),
            "val_clips": names(val_c), "held_out_clips": held_out, "train_windows": len(train_set),
            "val_windows": len(val_set), "temporal_train_config": dataclasses.asdict(cfg)}
    return train_set, val_set, meta


def train_temporal(clips_dir: str, base_model: str, out_dir: str, cfg: TemporalTrainConfig,
                   device: str = "cpu", log=print, command: str | None = None) -> Path:
    """Train (or resume) the temporal head; returns the best checkpoint (safetensors + JSON)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    dev = torch.device(device)
    model = temporal_model_from(base_model, cfg.hidden_channels).to(dev)
    params = freeze_for_temporal(model, cfg.train_decoder)
    train_set, val_set, meta = _datasets(clips_dir, base_model, out, model, cfg, dev, log)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    start, history, best = 0, [], math.inf
    if (out / "resume.pt").is_file():
        start, history, best = load_resume(out / "resume.pt", model, opt, sched)
        log(f"resuming after epoch {start}")
    else:  # the zero-initialised head is the image model itself: its loss is the bar to beat
        history.append({"epoch": 0, "val_loss": run_epoch(model, val_loader, cfg, dev)})
        log(json.dumps(history[-1]))
    meta.update(val_loss_image_model=history[0]["val_loss"], training_command=command)
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.time()
        train_set.set_epoch(epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, drop_last=True)
        row = {"epoch": epoch, "train_loss": run_epoch(model, loader, cfg, dev, opt, f"epoch {epoch}/{cfg.epochs}"),
               "val_loss": run_epoch(model, val_loader, cfg, dev)}
        sched.step(row["val_loss"])
        row.update(lr=opt.param_groups[0]["lr"], seconds=round(time.time() - t0, 1))
        history.append(row)
        log(json.dumps(row))
        if row["val_loss"] < best:
            best = row["val_loss"]
            save_checkpoint(model, out / "best.safetensors", {**meta, "epoch": epoch, "val_loss": best,
                                                              "history": history})
        save_resume(out / "resume.pt", model, opt, sched, epoch, history, best)
        atomic_write(out / "history.json", json.dumps(history, indent=1).encode())
    return out / "best.safetensors"
