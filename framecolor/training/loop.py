"""The training loop: train_one_epoch, evaluate, checkpoint save/resume (exact, at epoch boundaries)."""
from __future__ import annotations

import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..color import denormalize_ab, lab_to_rgb, normalize_ab
from ..config import LOSSES, ColorizerConfig, TrainConfig
from ..io import atomic_write
from ..metrics import colorfulness, psnr
from ..models.colorizer import Colorizer
from ..models.registry import build_model, load_weights_into, save_checkpoint
from ..precision import autocast, training_precision
from .data import CropDataset, batch_to_lab, build_shards, cached_embeddings
from .ema import WeightEma


def ab_colorfulness(ab: torch.Tensor) -> torch.Tensor:
    """Hasler-Suesstrunk form on the a*/b* opponent axes: (B, 2, H, W) -> (B,)."""
    std = ab.flatten(2).std(dim=2)
    mean = ab.flatten(2).mean(dim=2)
    return std.square().sum(1).add(1e-8).sqrt() + 0.3 * mean.square().sum(1).add(1e-8).sqrt()


def make_loss(name: str, colorful_weight: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """'mse' (the thesis), or a pixel loss plus matching each image's colourfulness, which pushes back
    against the brown, desaturated mean that MSE regresses to: 'huber_colorful' (Huber, beta 0.1: close to
    L1, a median-like fit) or 'mse_colorful' (MSE, the fit PSNR rewards); or 'photo_psnr'
    (photo_psnr_loss: per-photo log MSE and a floor on the batch's colourfulness)."""
    if name == "mse":
        return F.mse_loss
    if name == "photo_psnr":
        return photo_psnr_loss(colorful_weight)
    pixel = {"huber_colorful": lambda p, t: F.smooth_l1_loss(p, t, beta=0.1), "mse_colorful": F.mse_loss}.get(name)
    if pixel is None:
        raise ValueError(f"unknown loss {name!r}; choose {', '.join(LOSSES)}")

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        term = (ab_colorfulness(pred) - ab_colorfulness(target)).abs().mean()
        return pixel(pred, target) + colorful_weight * term
    return loss


PHOTO_PSNR_EPS = 1e-4  # in (a*b*/128)^2: an r.m.s. a*b* error of about 1.3, below which a photo stops weighing more


def photo_psnr_loss(floor_weight: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """'photo_psnr': the mean over photos of log(MSE + eps), which is, up to sign and scale, the mean
    per-photo PSNR that evaluations report (the plain MSE of a batch weighs a muted photo, whose errors
    are small but cost as many dB, far less than a vivid one), plus a floor on the batch's colourfulness:
    ``floor_weight`` x the relative shortfall of the batch's summed predicted colourfulness below the
    truth's. The floor is on the batch, not on each photo, so the network may spend colour where it is
    sure of it and hold back on muted photos, as a bar on the mean colourfulness allows."""

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mse = (pred - target).square().flatten(1).mean(1)
        fit = mse.add(PHOTO_PSNR_EPS).log().mean()
        true = ab_colorfulness(target).sum()
        shortfall = F.relu(true - ab_colorfulness(pred).sum()) / true.clamp_min(1e-6)
        return fit + floor_weight * shortfall
    return loss


def train_one_epoch(model: Colorizer, loader: DataLoader, opt, loss_fn, device, bf16: bool,
                    max_steps: int | None, desc: str, ema: WeightEma | None = None,
                    embed_dropout: float = 0.0, embed_per_crop: bool = False) -> float:
    """One pass. ``embed_dropout`` drops entries of the classifier embedding (the cached one is one fixed
    vector per photo, so without it the net can learn a photo's colours from its embedding alone).
    ``embed_per_crop``: the frozen classifier reads each crop, in fp32 as when colorizing; the loader's
    embeddings are ignored."""
    from tqdm import tqdm

    model.train()
    total, n = 0.0, 0
    steps = len(loader) if max_steps is None else min(max_steps, len(loader))
    bar = tqdm(loader, total=steps, desc=desc, unit="batch", file=sys.stderr, mininterval=5)
    for i, (rgb, emb) in enumerate(bar):
        if i >= steps:
            break
        L, ab = batch_to_lab(rgb.to(device))
        emb = _embedding(model, L, emb, embed_per_crop)
        if emb is not None and embed_dropout > 0:
            emb = F.dropout(emb, embed_dropout, training=True)
        with autocast(L.device, training_precision(bf16)):
            pred = model(L, emb)
        loss = loss_fn(pred.float(), normalize_ab(ab))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update(model)
        total, n = total + loss.item() * len(rgb), n + len(rgb)
        bar.set_postfix(loss=f"{total / n:.4f}")
    return total / max(n, 1)


def _embedding(model, L: torch.Tensor, cached: torch.Tensor, per_crop: bool) -> torch.Tensor | None:
    """The embedding the fusion layer gets: None without one, the classifier's reading of these crops
    (``per_crop``), or the loader's embedding."""
    if model.fusion is None:
        return None
    if per_crop:
        return model.embed(L).float()
    return cached.to(L.device)


@torch.no_grad()
def crop_embeddings(model: Colorizer, dataset: CropDataset, device, batch: int = 32) -> np.ndarray:
    """(N, E) float32: the classifier's reading of each of a validation set's fixed crops, in fp32 as when
    colorizing. Computed once per run, so validation sees what ``embed_per_crop`` training sees."""
    out = [model.embed(batch_to_lab(rgb.to(device))[0]).float().cpu().numpy()
           for rgb, _ in DataLoader(dataset, batch_size=batch)]
    return np.concatenate(out) if out else np.zeros((0, model.fusion.embed_dim), np.float32)


@torch.no_grad()
def evaluate(model: Colorizer, loader: DataLoader, loss_fn, device, bf16: bool) -> dict[str, float]:
    """Validation loss, PSNR (RGB) and colourfulness of predictions and of the truth."""
    model.eval()
    sums = {"loss": 0.0, "psnr": 0.0, "colorfulness": 0.0, "colorfulness_true": 0.0}
    n = 0
    for rgb, emb in loader:
        L, ab = batch_to_lab(rgb.to(device))
        emb = emb.to(device) if model.fusion is not None else None
        with autocast(L.device, training_precision(bf16)):
            pred = model(L, emb).float()
        sums["loss"] += loss_fn(pred, normalize_ab(ab)).item() * len(rgb)
        out = lab_to_rgb(torch.cat((L, denormalize_ab(pred)), 1)).permute(0, 2, 3, 1).cpu().numpy()
        true = rgb.numpy().astype(np.float32) / 255
        for o, t in zip(out, true):
            sums["psnr"] += psnr(o, t)
            sums["colorfulness"] += colorfulness(o)
            sums["colorfulness_true"] += colorfulness(t)
        n += len(rgb)
    return {k: v / max(n, 1) for k, v in sums.items()}


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state()}


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam (the thesis), or AdamW when weight decay is asked for."""
    if cfg.weight_decay > 0:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """Stepped once per epoch (see `step_scheduler`)."""
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr_min)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience,
                                                      min_lr=cfg.lr_min)


def step_scheduler(sched, val_loss: float) -> None:
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        sched.step(val_loss)
    else:
        sched.step()


def save_resume(path: Path, model, opt, sched, epoch: int, history: list, best: float,
                ema: WeightEma | None = None) -> None:
    state = {"model": model.trainable_state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
             "epoch": epoch, "history": json.dumps(history), "best": best, "rng": _rng_state()}
    if ema is not None:
        state["ema"] = ema.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_resume(path: Path, model, opt, sched, ema: WeightEma | None = None) -> tuple[int, list, float]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if (ema is None) != ("ema" not in state):
        raise ValueError(f"{path}: saved {'with' if 'ema' in state else 'without'} --ema, resumed "
                         f"{'with' if ema is not None else 'without'}; use the run's original settings or a new folder")
    model.load_state_dict(state["model"], strict=False)
    if ema is not None:
        ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    torch.set_rng_state(state["rng"]["torch"])
    return state["epoch"], json.loads(state["history"]), state["best"]


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(ep, [h["train_loss"] for h in history], label="train")
    ax[0].plot(ep, [h["val_loss"] for h in history], label="validation")
    ax[0].set(xlabel="epoch", ylabel="loss", title="loss")
    ax[0].legend()
    ax[1].plot(ep, [h["val_colorfulness"] for h in history], label="prediction")
    ax[1].plot(ep, [h["val_colorfulness_true"] for h in history], "--", label="ground truth")
    ax[1].set(xlabel="epoch", ylabel="colourfulness (Hasler-Suesstrunk)", title="validation colourfulness")
    ax[1].legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def train_mean_ab(shard) -> list[float]:
    """Mean a*, b* over the training shard (for the mean-colour baseline)."""
    sums, n = np.zeros(2), 0
    for i in range(0, len(shard.images), 64):
        _, ab = batch_to_lab(torch.from_numpy(np.array(shard.images[i:i + 64, ::4, ::4])))
        sums += ab.sum(dim=(0, 2, 3)).double().numpy()
        n += ab.shape[0] * ab.shape[2] * ab.shape[3]
    return (sums / max(n, 1)).round(4).tolist()


def train(data_dir: str, out_dir: str, model_config: ColorizerConfig, cfg: TrainConfig,
          command: str = "", device: str = "cpu", log=print, cache_dir: str | None = None,
          init_from: str | None = None) -> Path:
    """Train (or resume) a colorizer; returns the path of the best checkpoint (safetensors)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    dev = torch.device(device)
    model = build_model(model_config).to(dev)
    if init_from:  # fine-tune: start from a checkpoint's weights with a fresh optimiser
        from safetensors.torch import load_file
        load_weights_into(model, load_file(init_from))
    model.fold_classifier_batch_norm()  # frozen, and checkpoints never hold the classifier
    cache = Path(cache_dir) if cache_dir else out / "cache"
    shards = build_shards(data_dir, cache, cfg.val_fraction, log)
    embs = {s: None for s in shards}
    if model.embedder is not None and not cfg.embed_per_crop:
        embs = {s: cached_embeddings(model.embedder, shards[s], cache / f"emb-{model_config.embedder}-{s}-{len(shards[s].names)}.npy")
                for s in shards}
    train_set = CropDataset(shards["train"], embs["train"], cfg.crop, train=True)
    val_set = CropDataset(shards["val"], embs["val"], cfg.crop, train=False)
    if model.embedder is not None and cfg.embed_per_crop:  # validation crops are fixed: read them once
        val_set.emb = crop_embeddings(model, val_set, dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg)
    sched = make_scheduler(opt, cfg)
    ema = WeightEma(model, cfg.ema) if cfg.ema else None
    scored = ema.model if ema else model  # what is evaluated and checkpointed
    loss_fn = make_loss(cfg.loss, cfg.colorful_weight)
    resume = out / "resume.pt"
    start, history, best = 0, [], math.inf
    if resume.is_file():
        start, history, best = load_resume(resume, model, opt, sched, ema)
        log(f"resuming after epoch {start} from {resume}")
    meta = {"training_command": command, "init_from": init_from, "data": str(data_dir), "train_images": len(shards["train"].names),
            "val_images": len(shards["val"].names), "train_config": {k: v for k, v in vars(cfg).items()},
            "train_mean_ab": train_mean_ab(shards["train"])}
    atomic_write(out / "val_split.txt", ("\n".join(shards["val"].names) + "\n").encode())
    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.time()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                            num_workers=cfg.workers, drop_last=True)
        train_loss = train_one_epoch(model, loader, opt, loss_fn, dev, cfg.bf16, cfg.max_steps_per_epoch,
                                     f"epoch {epoch}/{cfg.epochs}", ema, cfg.embed_dropout, cfg.embed_per_crop)
        val = evaluate(scored, DataLoader(val_set, batch_size=32), loss_fn, dev, cfg.bf16)
        step_scheduler(sched, val["loss"])
        row = {"epoch": epoch, "train_loss": train_loss, "lr": opt.param_groups[0]["lr"],
               "seconds": round(time.time() - t0, 1), **{f"val_{k}": v for k, v in val.items()}}
        if ema is not None:  # the live weights too, to show what the average buys
            raw = evaluate(model, DataLoader(val_set, batch_size=32), loss_fn, dev, cfg.bf16)
            row.update({f"raw_val_{k}": v for k, v in raw.items() if k != "colorfulness_true"})
        history.append(row)
        log(json.dumps(row))
        if val["loss"] < best:
            best = val["loss"]
            save_checkpoint(scored, out / "best.safetensors", {**meta, "epoch": epoch, "val": val})
        save_resume(resume, model, opt, sched, epoch, history, best, ema)
        atomic_write(out / "history.json", json.dumps(history, indent=1).encode())
        plot_history(history, out / "loss_curve.png")
    return out / "best.safetensors"
