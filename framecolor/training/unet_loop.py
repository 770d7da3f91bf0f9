"""Training the U-Net colorizer (framecolor/models/unet.py) in two stages, both resumable exactly.

Stage "tinyimagenet": the 64x64 photos of a Tiny ImageNet folder (zip shards read in place), each
upsampled x2 to 128 px. The backbone is frozen and the crop is fixed, so its features are computed once
and cached on disk (memory-mapped fp16, about 100 KB a photo); each step reads them, flips half the
batch (features and target together) and trains the decoder. Resume state is written every
`checkpoint_every` steps and the order of batches and flips is a function of (seed, epoch, step), so an
interrupted run resumes at the step it stopped at and continues exactly as the whole run would have.

Stage "photos": random crops of a folder of photos (the same shards and validation split as
`framecolor train`), the backbone reading each crop (bf16 where the CPU has it); resumes after the
last finished epoch.
"""
from __future__ import annotations

import io
import json
import math
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import ab_bins
from ..color import denormalize_ab, lab_to_rgb, normalize_ab, rgb_to_lab
from ..config import ColorizerConfig
from ..io import atomic_write
from ..metrics import colorfulness, psnr
from ..models.registry import build_model, load_weights_into, save_checkpoint
from ..precision import autocast, bf16_native, training_precision
from .ema import WeightEma
from .loop import make_loss, plot_history

STAGES = ("tinyimagenet", "photos")
TINY_INPUT = 128  # Tiny ImageNet's 64 px photos are read by the backbone at 2x


@dataclass(frozen=True)
class UNetTrainConfig:
    stage: str = "tinyimagenet"
    epochs: int = 1
    batch_size: int = 64
    lr: float = 2e-3
    lr_min: float = 1e-5
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    loss: str = "huber_colorful"  # the "ab" head's loss; the "bins" head always uses ab_bins.bins_loss
    colorful_weight: float = 0.3
    crop: int = 176  # stage "photos": random crops of 128-256 px resized to this side
    seed: int = 0
    bf16: bool = False
    checkpoint_every: int = 100
    max_images: int | None = None  # use only the first N training photos (quick runs, tests)
    val_images: int = 500  # validation photos scored at the end of each epoch
    unfreeze_blocks: int = 0  # fine-tune the backbone's last N stages too, at lr * backbone_lr_scale
    backbone_lr_scale: float = 0.1
    stop_after_steps: int | None = None  # Tiny ImageNet stage: leave after this many steps, as if interrupted
    ema: float | None = None  # photos stage: keep, score and save a moving average of the weights (decay)
    mix_tiny: str | None = None  # photos stage: a Tiny ImageNet folder; each step adds a batch of its photos
    calibration_fraction: float = 0.0  # photos stage: hold out this share of the training photos (for the gain)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage={self.stage!r}; expected one of {', '.join(STAGES)}")
        if self.ema is not None and self.stage != "photos":
            raise ValueError("the weight average (ema) is kept in the photos stage only")
        if self.mix_tiny is not None and self.stage != "photos":
            raise ValueError("Tiny ImageNet is mixed into the photos stage only")
        if self.calibration_fraction and self.stage != "photos":
            raise ValueError("calibration photos are held out in the photos stage only")
        if not 0.0 <= self.calibration_fraction < 0.5:
            raise ValueError(f"calibration_fraction must be in [0, 0.5), got {self.calibration_fraction}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {self.ema}")


# ---- Tiny ImageNet ---------------------------------------------------------------------------------

def read_tinyimagenet(folder: str | Path, split: str = "train", limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """(N, 64, 64, 3) uint8 RGB and member names, read straight from the zip shards (train-NN.zip or
    val-00.zip), in shard and member order."""
    import cv2

    folder = Path(folder)
    shards = sorted(folder.glob(f"{split}-*.zip"))
    if not shards:
        raise FileNotFoundError(f"{folder}: no {split}-NN.zip shards (a Tiny ImageNet folder is expected)")
    images, names = [], []
    for shard in shards:
        with zipfile.ZipFile(shard) as z:
            for member in z.namelist():
                if not member.lower().endswith((".jpg", ".jpeg", ".png")):
                    continue
                bgr = cv2.imdecode(np.frombuffer(z.read(member), np.uint8), cv2.IMREAD_COLOR)
                if bgr is None or bgr.shape[:2] != (64, 64):
                    continue
                images.append(bgr[..., ::-1])
                names.append(f"{shard.name}/{member}")
                if limit and len(images) >= limit:
                    return np.stack(images), names
    return np.stack(images), names


def upsampled_lab(rgb_u8: torch.Tensor, size: int = TINY_INPUT) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, h, w, 3) uint8 -> L* (B, 1, size, size) of the bilinear-upsampled photo, and the photo's own
    a*b* (B, 2, h, w): the decoder's stride-2 output at `size` = 2h is the photo's native resolution."""
    rgb = rgb_u8.permute(0, 3, 1, 2).float() / 255
    lab = rgb_to_lab(rgb)
    up = F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return rgb_to_lab(up)[:, :1], lab[:, 1:]


def tiny_batch(images: np.ndarray, idx: np.ndarray, flip_key: list[int], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiny ImageNet photos `images[idx]` as a training batch: upsampled_lab's L* and a*b*, half of them
    flipped left-right (drawn from `flip_key`, so that a resumed run draws the same), and the flip mask."""
    flip = torch.from_numpy(np.random.default_rng(flip_key).random(len(idx)) < 0.5).to(device)
    L, ab = upsampled_lab(torch.from_numpy(images[idx]).to(device))
    return _flip(L, flip), _flip(ab, flip), flip


class FeatureCache:
    """The frozen backbone's features of every photo, one fp16 memmap per stride plus the probabilities."""

    KEYS = ("s4", "s8", "s16", "s32", "probs")

    def __init__(self, folder: Path, shapes: dict[str, tuple[int, ...]] | None, n: int, mode: str = "r"):
        """mode "w+": new files of (n, *shapes[key]); "r": the existing files."""
        self.folder, self.n = folder, n
        if mode == "w+":
            self.maps = {k: np.lib.format.open_memmap(folder / f"{k}.npy", mode="w+", dtype=np.float16,
                                                      shape=(n, *shapes[k])) for k in self.KEYS}
        else:
            self.maps = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in self.KEYS}

    def get(self, idx: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
        order = np.argsort(idx)  # memmap reads in file order, then back to the batch's order
        back = np.argsort(order)
        t = {k: torch.from_numpy(np.ascontiguousarray(self.maps[k][idx[order]][back])) for k in self.KEYS}
        return [t[k].float() for k in self.KEYS[:4]], t["probs"].float()


def build_feature_cache(model, images: np.ndarray, folder: Path, bf16: bool, log=print, batch: int = 128) -> FeatureCache:
    """Run the frozen backbone over every photo once (at TINY_INPUT px); reused when already complete."""
    done = folder / "complete.json"
    if done.is_file() and json.loads(done.read_text()).get("n") == len(images):
        return FeatureCache(folder, None, len(images))
    folder.mkdir(parents=True, exist_ok=True)
    device = next(model.decoder.parameters()).device
    L0, _ = upsampled_lab(torch.from_numpy(images[:1]).to(device))
    feats, probs = model.encode(L0)
    shapes = {k: tuple(f.shape[1:]) for k, f in zip(FeatureCache.KEYS, feats)} | {"probs": tuple(probs.shape[1:])}
    cache = FeatureCache(folder, shapes, len(images), mode="w+")
    t0 = time.time()
    for i in range(0, len(images), batch):
        L, _ = upsampled_lab(torch.from_numpy(images[i:i + batch]).to(device))
        with autocast(L.device, training_precision(bf16)):
            feats, probs = model.encode(L)
        for k, v in zip(FeatureCache.KEYS, [*feats, probs]):
            cache.maps[k][i:i + len(L)] = v.float().cpu().numpy().astype(np.float16)
        if (i // batch) % 40 == 0:
            log(f"features: {i + len(L)}/{len(images)} photos, {time.time() - t0:.0f} s")
    for m in cache.maps.values():
        m.flush()
    atomic_write(done, json.dumps({"n": len(images), "shapes": shapes, "seconds": round(time.time() - t0, 1)}).encode())
    return FeatureCache(folder, None, len(images))


# ---- loss, schedule, metrics -------------------------------------------------------------------------

def make_unet_loss(model, cfg: UNetTrainConfig, class_weights: torch.Tensor | None) -> Callable:
    """(head output at H/2, true a*b* at H/2) -> loss: the bins head's rebalanced cross-entropy, or the
    "ab" head's pixel loss (+ colourfulness term) on tanh(output) against a*b*/128."""
    if model.config.unet.head == "bins":
        return lambda out, ab: ab_bins.bins_loss(out, ab, model.centres, class_weights)
    base = make_loss(cfg.loss, cfg.colorful_weight)
    return lambda out, ab: base(torch.tanh(out.float()), normalize_ab(F.adaptive_avg_pool2d(ab, out.shape[-2:])))


def bin_counts(images: np.ndarray, centres: torch.Tensor, step: int = 256) -> torch.Tensor:
    """(Q,) pixel counts of the training photos' a*b* per nearest bin (for the class weights)."""
    counts = torch.zeros(len(centres), dtype=torch.float64)
    for i in range(0, len(images), step):
        ab = rgb_to_lab(torch.from_numpy(images[i:i + step]).permute(0, 3, 1, 2).float() / 255)[:, 1:]
        nearest = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), centres).argmin(1)
        counts += torch.bincount(nearest, minlength=len(centres)).double()
    return counts


def lr_at(step: int, total: int, cfg: UNetTrainConfig) -> float:
    """Linear warm-up, then cosine to lr_min over the run's steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(1.0, t)))


def score_batch(model, L: torch.Tensor, out: torch.Tensor, ab_true: torch.Tensor) -> dict[str, list[float]]:
    """PSNR and colourfulness of predicted and true RGB at the target's resolution."""
    size = ab_true.shape[-2:]
    Ls = F.interpolate(L, size=size, mode="bilinear", antialias=True, align_corners=False)
    pred = lab_to_rgb(torch.cat((Ls, denormalize_ab(model.to_ab(out, size))), 1)).permute(0, 2, 3, 1).cpu().numpy()
    true = lab_to_rgb(torch.cat((Ls, ab_true), 1)).permute(0, 2, 3, 1).cpu().numpy()
    return {"psnr": [psnr(p, t) for p, t in zip(pred, true)],
            "colorfulness": [colorfulness(p) for p in pred], "colorfulness_true": [colorfulness(t) for t in true]}




# ---- the loops -----------------------------------------------------------------------------------

def _flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, *[1] * (x.ndim - 1)), x.flip(-1), x)


def _save_resume(path: Path, model, opt, epoch: int, step: int, history: list, ema: WeightEma | None = None) -> None:
    state = {"model": model.trainable_state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
             "history": json.dumps(history), "rng": torch.get_rng_state()}
    if ema is not None:
        state["ema"] = ema.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def _load_resume(path: Path, model, opt, ema: WeightEma | None = None) -> tuple[int, int, list]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if (ema is None) != ("ema" not in state):
        raise ValueError(f"{path}: saved {'with' if 'ema' in state else 'without'} a weight average (ema), "
                         f"resumed {'with' if ema is not None else 'without'}; use the run's original settings or a new folder")
    model.load_state_dict(state["model"], strict=False)
    if ema is not None:
        ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    torch.set_rng_state(state["rng"])
    return state["epoch"], state["step"], json.loads(state["history"])


def _class_weights(model, images: np.ndarray, out: Path) -> torch.Tensor | None:
    """The bins head's class weights from the training photos' a*b* (written to class_weights.json)."""
    if model.config.unet.head != "bins":
        return None
    weights = ab_bins.rebalance_weights(bin_counts(images, model.centres), model.centres)
    atomic_write(out / "class_weights.json", json.dumps([round(w, 5) for w in weights.tolist()]).encode())
    return weights


def _optimizer(model, cfg: UNetTrainConfig) -> torch.optim.Optimizer:
    tuned = {id(p) for p in model.backbone.parameters() if p.requires_grad}
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in tuned], "lr_scale": 1.0}]
    if tuned:
        groups.append({"params": [p for p in model.backbone.parameters() if p.requires_grad],
                       "lr_scale": cfg.backbone_lr_scale})
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _step(model, opt, loss_fn, L, ab, features, lr: float, bf16: bool, ema: WeightEma | None = None,
          extra: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
    """One optimiser step on a batch (and on `extra`, a second (L, ab) batch whose loss is added)."""
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
    def batch_loss(L, ab, features):
        with autocast(L.device, training_precision(bf16)):
            out = model.head_output(L.contiguous(memory_format=torch.channels_last), features)
        return loss_fn(out.float(), ab)

    loss = batch_loss(L, ab, features)
    if extra is not None:
        loss = loss + batch_loss(*extra, None)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if ema is not None:
        ema.update(model)
    return loss.item()


def _finish_epoch(model, out: Path, meta: dict, history: list, row: dict, log) -> None:
    history.append(row)
    log(json.dumps(row))
    save_checkpoint(model, out / "last.safetensors", {**meta, "epoch": row["epoch"], "val": row})
    atomic_write(out / "history.json", json.dumps(history, indent=1).encode())
    plot_history(history, out / "loss_curve.png")


@torch.no_grad()
def _validate(model, batches, loss_fn, bf16: bool) -> dict[str, float]:
    """Validation loss, PSNR and colourfulness (predicted and true) over (L, ab, features) batches;
    features None: the backbone reads L."""
    model.eval()
    sums: dict[str, list[float]] = {"loss": [], "psnr": [], "colorfulness": [], "colorfulness_true": []}
    for L, ab, features in batches:
        with autocast(L.device, training_precision(bf16)):
            out = model.head_output(L, features).float()
        sums["loss"] += [loss_fn(out, ab).item()] * len(L)
        for k, v in score_batch(model, L, out, ab).items():
            sums[k] += v
    model.train()
    return {f"val_{k}": float(np.mean(v)) for k, v in sums.items()}


def _tiny_batches(images: np.ndarray, cache: FeatureCache, device, step: int = 100):
    for i in range(0, len(images), step):
        idx = np.arange(i, min(i + step, len(images)))
        L, ab = upsampled_lab(torch.from_numpy(images[idx]).to(device))
        feats, probs = cache.get(idx)
        yield L, ab, ([f.to(device) for f in feats], probs.to(device))


def train_tinyimagenet(data: str, out: Path, model, cfg: UNetTrainConfig, meta: dict, log,
                       cache_dir: str | None = None) -> Path:
    device = next(model.decoder.parameters()).device
    images, _ = read_tinyimagenet(data, "train", cfg.max_images)
    val_images, _ = read_tinyimagenet(data, "val", cfg.val_images)
    log(f"{len(images)} training photos, {len(val_images)} validation photos")
    root = Path(cache_dir) if cache_dir else out
    tag = f"features-{model.config.embedder}-{'bf16' if cfg.bf16 else 'fp32'}"
    cache = build_feature_cache(model, images, root / f"{tag}-train-{len(images)}", cfg.bf16, log)
    val_cache = build_feature_cache(model, val_images, root / f"{tag}-val-{len(val_images)}", cfg.bf16, log)
    loss_fn = make_unet_loss(model, cfg, _class_weights(model, images, out))
    opt = _optimizer(model, cfg)
    steps, bs = len(images) // cfg.batch_size, cfg.batch_size
    resume = out / "resume.pt"
    epoch, step, history = _load_resume(resume, model, opt) if resume.is_file() else (0, 0, [])
    if step or epoch:
        log(f"resuming at epoch {epoch + 1}, step {step} from {resume}")
    meta = {**meta, "train_images": len(images), "val_images": len(val_images)}
    model.train()
    done = 0  # steps run by this call
    for epoch in range(epoch, cfg.epochs):
        t0, losses = time.time(), []
        perm = np.random.default_rng([cfg.seed, epoch]).permutation(len(images))
        for step in range(step, steps):
            idx = perm[step * bs:(step + 1) * bs]
            L, ab, flip = tiny_batch(images, idx, [cfg.seed, epoch, step], device)
            feats, probs = cache.get(idx)
            feats, probs = [_flip(f.to(device), flip) for f in feats], probs.to(device)
            losses.append(_step(model, opt, loss_fn, L, ab, (feats, probs), lr_at(epoch * steps + step, cfg.epochs * steps, cfg), cfg.bf16))
            done += 1
            stop = cfg.stop_after_steps is not None and done >= cfg.stop_after_steps
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == steps or stop:
                _save_resume(resume, model, opt, epoch, step + 1, history)
                log(f"epoch {epoch + 1} step {step + 1}/{steps} loss {np.mean(losses[-cfg.checkpoint_every:]):.4f} "
                    f"{(time.time() - t0) / len(losses):.2f} s/step")
            if stop:
                return resume
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan,
               "seconds": round(time.time() - t0, 1), **_validate(model, _tiny_batches(val_images, val_cache, device), loss_fn, cfg.bf16)}
        _finish_epoch(model, out, meta, history, row, log)
        step = 0
        _save_resume(resume, model, opt, epoch + 1, 0, history)
    return out / "last.safetensors"


def hold_out_calibration(shard, fraction: float):
    """(the shard without its calibration photos, their names): a stable draw by a salted hash of each
    photo's path, independent of the validation split's, so the same photos are held out on every run."""
    from .data import Shard, in_validation

    held = [in_validation(f"calibration:{n}", fraction) for n in shard.names]
    keep = np.flatnonzero(~np.asarray(held, dtype=bool))
    return (Shard(np.ascontiguousarray(shard.images[keep]), [shard.names[i] for i in keep]),
            [n for n, h in zip(shard.names, held) if h])


def train_photos(data: str, out: Path, model, cfg: UNetTrainConfig, meta: dict, log, cache_dir: str | None) -> Path:
    from torch.utils.data import DataLoader

    from .data import CropDataset, batch_to_lab, build_shards

    shards = build_shards(data, Path(cache_dir) if cache_dir else out / "cache", 0.1, log)
    atomic_write(out / "val_split.txt", ("\n".join(shards["val"].names) + "\n").encode())
    if cfg.calibration_fraction:
        shards["train"], held = hold_out_calibration(shards["train"], cfg.calibration_fraction)
        atomic_write(out / "calibration_split.txt", ("\n".join(held) + "\n").encode())
        log(f"holding out {len(held)} training photos for calibration ({out / 'calibration_split.txt'})")
    train_set = CropDataset(shards["train"], None, cfg.crop, train=True)
    val_loader = DataLoader(CropDataset(shards["val"], None, cfg.crop, train=False), batch_size=32)
    loss_fn = make_unet_loss(model, cfg, _class_weights(model, shards["train"].images[:, ::4, ::4], out))
    opt = _optimizer(model, cfg)
    steps = len(train_set) // cfg.batch_size
    ema = WeightEma(model, cfg.ema) if cfg.ema else None
    scored = ema.model if ema else model  # what is validated and saved
    resume = out / "resume.pt"
    epoch, _, history = _load_resume(resume, model, opt, ema) if resume.is_file() else (0, 0, [])
    if epoch:
        log(f"resuming after epoch {epoch} from {resume}")
    meta = {**meta, "train_images": len(shards["train"].names), "val_images": len(shards["val"].names)}
    if cfg.calibration_fraction:
        meta["calibration_images"] = len(held)
    tiny = None
    if cfg.mix_tiny:
        tiny, _ = read_tinyimagenet(cfg.mix_tiny, "train")
        meta["mixed_tiny_images"] = len(tiny)
        log(f"mixing in {len(tiny)} Tiny ImageNet photos from {cfg.mix_tiny}, {cfg.batch_size} a step")
    model.train()
    device = next(model.decoder.parameters()).device
    for epoch in range(epoch, cfg.epochs):
        t0, losses = time.time(), []
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, drop_last=True)
        if tiny is not None:
            tiny_perm = np.random.default_rng([cfg.seed, epoch, 1]).permutation(len(tiny))
        for step, (rgb, _) in enumerate(loader):
            L, ab = batch_to_lab(rgb.to(device))
            extra = None
            if tiny is not None:  # as in stage 1: read at 2x, scored at its own 64 px
                idx = tiny_perm[(step * cfg.batch_size) % len(tiny):][:cfg.batch_size]
                extra = tiny_batch(tiny, idx, [cfg.seed, epoch, step, 1], device)[:2]
            losses.append(_step(model, opt, loss_fn, L, ab, None, lr_at(epoch * steps + step, cfg.epochs * steps, cfg),
                                cfg.bf16, ema, extra))
            if (step + 1) % cfg.checkpoint_every == 0:
                log(f"epoch {epoch + 1} step {step + 1}/{steps} loss {np.mean(losses[-cfg.checkpoint_every:]):.4f} "
                    f"{(time.time() - t0) / len(losses):.2f} s/step")
        val = lambda m: _validate(m, ((*batch_to_lab(rgb.to(device)), None) for rgb, _ in val_loader), loss_fn, cfg.bf16)
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": round(time.time() - t0, 1), **val(scored)}
        if ema is not None:  # the live weights too, to show what the average buys
            row.update({f"live_{k}": v for k, v in val(model).items()})
        _finish_epoch(scored, out, meta, history, row, log)
        _save_resume(resume, model, opt, epoch + 1, 0, history, ema)
    return out / "last.safetensors"


def train_unet(data: str, out_dir: str, model_config: ColorizerConfig, cfg: UNetTrainConfig, command: str = "",
               device: str = "cpu", init_from: str | None = None, cache_dir: str | None = None, log=print) -> Path:
    """Train (or resume) a U-Net colorizer for one stage; returns its final checkpoint (safetensors)."""
    if model_config.unet is None:
        raise ValueError("train_unet needs a ColorizerConfig with unet set")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = build_model(model_config).to(device)
    if init_from:  # the previous stage's weights; a fresh optimiser
        from safetensors.torch import load_file
        load_weights_into(model, load_file(init_from))  # its fine-tuned stages stay in this run's checkpoints
    if cfg.unfreeze_blocks:
        if cfg.stage == "tinyimagenet":
            raise ValueError("the Tiny ImageNet stage caches the backbone's features: unfreeze in the photos stage")
        model.unfreeze(cfg.unfreeze_blocks)
    model.fold_classifier_batch_norm(keep_tuned=True)
    if cfg.bf16 and not bf16_native():
        log("note: this CPU has no native bf16 (avx512_bf16 / amx_bf16); bf16 autocast is emulated and "
            "much slower than fp32 here: leave out --bf16")
    meta = {"training_command": command, "init_from": init_from, "data": str(data), "stage": cfg.stage,
            "train_config": vars(cfg), "hardware": hardware()}
    if cfg.stage == "tinyimagenet":
        return train_tinyimagenet(data, out, model, cfg, meta, log, cache_dir)
    return train_photos(data, out, model, cfg, meta, log, cache_dir)


def hardware() -> str:
    """A one-line description of where training ran (for the model card)."""
    import os
    import platform

    if torch.cuda.is_available():
        return f"CUDA {torch.cuda.get_device_name(0)}"
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    name = names[0] if names else platform.processor()
    return (f"CPU {name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"bf16 {'native' if bf16_native() else 'not native'}")
