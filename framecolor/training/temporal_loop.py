"""Training the ConvLSTM temporal head (FlowChroma-style) on clips, on top of a trained image model.

The image model's weights are loaded and frozen; only the temporal head (and optionally the
decoder) learns. The loss is the per-frame MSE on a*b*/128 plus a temporal term that asks the
frame-to-frame change of the prediction to match that of the truth, which punishes flicker
without punishing real motion. Training resumes exactly from `resume.pt` at epoch boundaries.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..color import normalize_ab
from ..config import TemporalConfig
from ..io import atomic_write
from ..models.colorizer import Colorizer
from ..models.registry import load_checkpoint, save_checkpoint
from .data import batch_to_lab
from .loop import load_resume, save_resume
from .video_data import ClipWindows, split_caches


@dataclass(frozen=True)
class TemporalTrainConfig:
    epochs: int = 10
    batch_size: int = 4
    length: int = 6  # frames per window (truncated back-propagation through time)
    crop: int = 96
    side: int = 128  # clips are cached with this short side
    lr: float = 3e-4
    temporal_weight: float = 1.0
    hidden_channels: int = 256
    train_decoder: bool = False
    max_steps_per_epoch: int | None = None
    val_fraction: float = 0.15
    seed: int = 0


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


def clip_loss(pred: torch.Tensor, target: torch.Tensor, temporal_weight: float) -> torch.Tensor:
    """(B, T, 2, H, W) predictions and targets (a*b*/128): per-frame MSE + change-matching term."""
    change = F.mse_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])
    return F.mse_loss(pred, target) + temporal_weight * change


def clip_batch(model: Colorizer, rgb: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, H, W, 3) uint8 windows -> (prediction, target), both (B, T, 2, H, W) a*b*/128."""
    b, t = rgb.shape[:2]
    L, ab = batch_to_lab(rgb.flatten(0, 1).to(device))
    pred, _ = model.forward_clip(L.unflatten(0, (b, t)))
    return pred, normalize_ab(ab).unflatten(0, (b, t))


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
        for i, rgb in enumerate(tqdm(loader, total=steps, desc=desc, unit="batch", file=sys.stderr, mininterval=5)):
            if i >= steps:
                break
            loss = clip_loss(*clip_batch(model, rgb, device), cfg.temporal_weight)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total, n = total + float(loss.detach()), n + 1
    return total / max(n, 1)


def train_temporal(clips_dir: str, base_model: str, out_dir: str, cfg: TemporalTrainConfig,
                   device: str = "cpu", log=print) -> Path:
    """Train (or resume) the temporal head; returns the best checkpoint (safetensors + JSON)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    dev = torch.device(device)
    model = temporal_model_from(base_model, cfg.hidden_channels).to(dev)
    params = freeze_for_temporal(model, cfg.train_decoder)
    train_c, val_c = split_caches(clips_dir, out / "cache", cfg.side, cfg.val_fraction, log)
    train_set = ClipWindows(train_c, cfg.length, cfg.crop, train=True)
    val_loader = DataLoader(ClipWindows(val_c, cfg.length, cfg.crop, stride=cfg.length, train=False),
                            batch_size=cfg.batch_size)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    start, history, best = 0, [], math.inf
    if (out / "resume.pt").is_file():
        start, history, best = load_resume(out / "resume.pt", model, opt, sched)
        log(f"resuming after epoch {start}")
    meta = {"base_model": str(base_model), "clips": str(clips_dir), "train_clips": [p.stem for p in train_c],
            "val_clips": [p.stem for p in val_c], "temporal_train_config": dataclasses.asdict(cfg)}
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.time()
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
            save_checkpoint(model, out / "best.safetensors", {**meta, "epoch": epoch, "val_loss": best})
        save_resume(out / "resume.pt", model, opt, sched, epoch, history, best)
        atomic_write(out / "history.json", json.dumps(history, indent=1).encode())
    return out / "best.safetensors"
