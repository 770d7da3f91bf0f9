"""Training and evaluation: in-memory uint8 tensors, seeded per-epoch shuffles, exact resume at epoch
boundaries, per-epoch metrics as CSV and JSON. Checkpoints are safetensors + JSON (no pickle)."""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from .config import NORMALISATION, TrainConfig
from .data import Dataset, load_dataset
from .models import Net, build_model, count_parameters

CKPT, STATE, METRICS_JSON, METRICS_CSV, PREDS = (
    "checkpoint.safetensors", "checkpoint.json", "metrics.json", "metrics.csv", "predictions.npz")
N_SAMPLES = 64  # test images kept with the predictions for the report's grids


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # (N, 1, 28, 28) uint8
    y: torch.Tensor  # (N,) int64


def seeded_subset(n_total: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` of a seeded permutation, sorted; all indices when ``n`` is 0 or too big."""
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:n])


def prepare(ds: Dataset, cfg: TrainConfig) -> tuple[Split, Split]:
    tr = seeded_subset(len(ds.train_y), cfg.subset, cfg.seed)
    te = seeded_subset(len(ds.test_y), cfg.test_subset, cfg.seed)
    as_split = lambda x, y: Split(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1), torch.from_numpy(y))
    return as_split(ds.train_x[tr], ds.train_y[tr]), as_split(ds.test_x[te], ds.test_y[te])


def normalise(xb: torch.Tensor, dataset: str) -> torch.Tensor:
    """(B, 1, H, W) uint8 -> float32 standardised with the dataset's mean and std."""
    mean, std = NORMALISATION[dataset]
    return (xb.float() / 255.0 - mean) / std


def model_input(xb: torch.Tensor, cfg: TrainConfig, device: torch.device) -> torch.Tensor:
    """A uint8 batch as the network sees it: standardised, on ``device``, and when ``cfg.input_size`` is
    set, resized (bilinear) to that square side, so the stem's two stride-2 steps leave more than 7x7."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    x = normalise(xb, cfg.dataset).to(device, non_blocking=True)
    if cfg.input_size and cfg.input_size != x.shape[-1]:
        x = F.interpolate(x, size=(cfg.input_size, cfg.input_size), mode="bilinear", align_corners=False)
    return x.contiguous(memory_format=fmt)


def objective(logits: torch.Tensor, y: torch.Tensor, thesis_loss: bool) -> torch.Tensor:
    """Cross-entropy on logits; with ``thesis_loss``, cross_entropy applied to softmax probabilities
    (the thesis's bug: the loss cannot go below about 1.461 and its gradients shrink)."""
    if thesis_loss:
        return F.cross_entropy(F.softmax(logits, dim=1), y)
    return F.cross_entropy(logits, y)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffle of epoch ``epoch``: a function of (seed, epoch) only, so resuming is exact."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def shift_offsets(n: int, max_shift: int, seed: int, epoch: int) -> torch.Tensor:
    """Per-image (dy, dx) crop offsets in [0, 2 * max_shift] for epoch ``epoch``; a function of
    (seed, epoch) only, like the shuffle, so a resumed run sees the same augmentation."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch + 1_000_000_007)
    return torch.randint(0, 2 * max_shift + 1, (n, 2), generator=g)


def random_shift(xb: torch.Tensor, offsets: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each (1, H, W) image by its offset minus ``max_shift`` pixels, filling with zeros
    (background): pad by ``max_shift`` on every side, then crop H x W at the offset."""
    b, _, h, w = xb.shape
    padded = F.pad(xb, (max_shift,) * 4)
    rows = offsets[:, 0, None] + torch.arange(h)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w)  # (B, W)
    return padded[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def affine_params(n: int, rotate: float, scale: float, seed: int, epoch: int) -> torch.Tensor:
    """Per-image (angle in radians, zoom factor) for epoch ``epoch``: angles uniform in +-``rotate``
    degrees, zooms uniform in [1 - scale, 1 + scale]; a function of (seed, epoch) only, like the shuffle."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch + 2_000_000_011)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1
    return torch.stack([u[:, 0] * math.radians(rotate), 1 + u[:, 1] * scale], dim=1)


def random_affine(xb: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Rotate (counter-clockwise for a positive angle, as displayed) and zoom each (1, H, W) uint8 image
    about its centre by its (angle, zoom) row of ``params``, bilinear, filling with zeros (background);
    the result is rounded back to uint8."""
    angle, zoom = params[:, 0], params[:, 1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero = torch.zeros_like(cos)
    # affine_grid maps each output position to the input position it samples (x right, y down).
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.float(), list(xb.shape), align_corners=False)
    out = F.grid_sample(xb.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def weight_ema(model: Net, decay: float) -> AveragedModel:
    """torch's AveragedModel as an exponential moving average of the weights *and* the batch-norm
    statistics, with the warm-up d = min(decay, (1 + n) / (10 + n)) after n updates, so the random
    initialisation fades out within the first epoch. Integer buffers (BN's batch counters) are copied.
    AveragedModel hands over its tensors grouped by device and dtype, so the update count is read once
    per group, not once per tensor."""
    @torch.no_grad()
    def ema(avg: list[torch.Tensor], live: list[torch.Tensor], n: torch.Tensor | int) -> None:
        if not avg[0].is_floating_point():
            torch._foreach_copy_(avg, live)
            return
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        torch._foreach_lerp_(avg, live, 1.0 - d)
    return AveragedModel(model, multi_avg_fn=ema, use_buffers=True)


def train_one_epoch(model: Net, opt: torch.optim.Optimizer, data: Split, cfg: TrainConfig, epoch: int,
                    device: torch.device, progress: bool = True, ema: AveragedModel | None = None) -> dict:
    """One pass in seeded order. Sums stay on the device; the host syncs once per epoch (and, with
    ``ema``, once per step: AveragedModel checks its update count on the host)."""
    model.train()
    order, bs = epoch_order(len(data.y), cfg.seed, epoch), cfg.batch_size
    shifts = shift_offsets(len(order), cfg.augment_shift, cfg.seed, epoch) if cfg.augment_shift else None
    affine = cfg.augment_rotate or cfg.augment_scale
    affines = affine_params(len(order), cfg.augment_rotate, cfg.augment_scale, cfg.seed, epoch) if affine else None
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # objective, true CE, correct
    start = time.perf_counter()
    bar = tqdm(range(0, len(order), bs), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               leave=False)
    for i in bar:
        idx = order[i:i + bs]
        xb = data.x[idx]
        if affines is not None:  # rotate and zoom about the centre, then translate
            xb = random_affine(xb, affines[i:i + bs])
        if shifts is not None:
            xb = random_shift(xb, shifts[i:i + bs], cfg.augment_shift)
        x = model_input(xb, cfg, device)
        y = data.y[idx].to(device, non_blocking=True)
        logits = model(x)
        loss = objective(logits, y, cfg.thesis_loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        with torch.no_grad():
            ce = loss if not cfg.thesis_loss else F.cross_entropy(logits, y)
            sums += torch.stack([loss * len(y), ce * len(y), (logits.argmax(1) == y).sum()]).double()
    s = (sums / len(order)).tolist()
    return {"train_loss": s[0], "train_ce": s[1], "train_acc": 100 * s[2],
            "seconds": time.perf_counter() - start}


@torch.inference_mode()
def evaluate(model: torch.nn.Module, data: Split, cfg: TrainConfig, device: torch.device) -> tuple[dict, np.ndarray]:
    """Test metrics and the predicted class of every test image."""
    model.eval()
    sums, preds = torch.zeros(3, dtype=torch.float64, device=device), []
    for i in range(0, len(data.y), cfg.eval_batch_size):
        x = model_input(data.x[i:i + cfg.eval_batch_size], cfg, device)
        y = data.y[i:i + cfg.eval_batch_size].to(device)
        logits = model(x)
        loss = objective(logits, y, cfg.thesis_loss)
        ce = F.cross_entropy(logits, y)
        preds.append(logits.argmax(1))
        sums += torch.stack([loss * len(y), ce * len(y), (preds[-1] == y).sum()]).double()
    s = (sums / len(data.y)).tolist()
    return ({"test_loss": s[0], "test_ce": s[1], "test_acc": 100 * s[2]},
            torch.cat(preds).cpu().numpy().astype(np.uint8))


def save_checkpoint(out: Path, model: Net, opt: torch.optim.Optimizer, cfg: TrainConfig,
                    history: list[dict], ema: AveragedModel | None = None) -> None:
    """Weights, optimizer buffers and the weight EMA to safetensors, config and history to JSON; both
    written atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            tensors[f"opt.{i}.momentum_buffer"] = buf.detach().cpu().contiguous()
    save_file(tensors, out / (CKPT + ".tmp"))
    (out / (STATE + ".tmp")).write_text(json.dumps({"config": cfg.to_dict(), "history": history}, indent=1))
    (out / (CKPT + ".tmp")).replace(out / CKPT)
    (out / (STATE + ".tmp")).replace(out / STATE)


def load_checkpoint(out: Path, model: Net, opt: torch.optim.Optimizer, cfg: TrainConfig,
                    ema: AveragedModel | None = None) -> list[dict]:
    """Restore weights, optimizer buffers and the EMA; refuse a checkpoint made with other settings."""
    state = json.loads((out / STATE).read_text())
    saved = TrainConfig.from_dict(state["config"])
    if saved.to_dict() | {"epochs": 0} != cfg.to_dict() | {"epochs": 0}:
        diff = {k: (v, cfg.to_dict()[k]) for k, v in saved.to_dict().items() if v != cfg.to_dict()[k]}
        raise ValueError(f"{out / STATE}: the run there used other settings {diff} (saved, asked); "
                         "use another --out folder or the same settings")
    tensors = load_file(out / CKPT)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    for i, p in enumerate(opt.param_groups[0]["params"]):
        if f"opt.{i}.momentum_buffer" in tensors:
            opt.state[p]["momentum_buffer"] = tensors[f"opt.{i}.momentum_buffer"].to(p.device)
    return state["history"]


def write_metrics(out: Path, cfg: TrainConfig, history: list[dict], info: dict) -> None:
    """metrics.json (config, parameters, device, per-epoch rows) and metrics.csv (the rows)."""
    (out / METRICS_JSON).write_text(json.dumps({"config": cfg.to_dict(), **info, "history": history}, indent=1))
    with (out / METRICS_CSV).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)


def save_predictions(out: Path, test: Split, preds: np.ndarray) -> None:
    """All test labels and predictions, plus the first images and the first mistakes, for the report."""
    y = test.y.numpy().astype(np.uint8)
    wrong = np.flatnonzero(preds != y)[:N_SAMPLES]
    first = np.arange(min(N_SAMPLES, len(y)))
    np.savez_compressed(out / PREDS, labels=y, preds=preds, sample_idx=first, sample_x=test.x[first, 0].numpy(),
                        wrong_idx=wrong, wrong_x=test.x[wrong, 0].numpy())


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fit(cfg: TrainConfig, out: str | Path, dataset: Dataset | None = None, data_root: str | Path | None = None,
        device: str = "auto", resume: bool = False, progress: bool = True, log=print) -> list[dict]:
    """Train ``cfg`` into the run folder ``out`` (checkpoint each epoch); returns the per-epoch rows."""
    out, dev = Path(out), pick_device(device)
    out.mkdir(parents=True, exist_ok=True)
    ds = dataset if dataset is not None else load_dataset(cfg.dataset, data_root)
    train, test = prepare(ds, cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.net()).to(dev, memory_format=torch.channels_last if cfg.channels_last
                                      else torch.contiguous_format)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    ema = weight_ema(model, cfg.ema) if cfg.ema else None
    history = load_checkpoint(out, model, opt, cfg, ema) if resume and (out / STATE).exists() else []
    info = {"parameters": count_parameters(model), "device": _device_name(dev), "data_source": ds.source,
            "threads": torch.get_num_threads(), "n_train": len(train.y), "n_test": len(test.y)}
    preds = None
    for epoch in range(len(history), cfg.epochs):
        row = {"epoch": epoch + 1, **train_one_epoch(model, opt, train, cfg, epoch, dev, progress, ema)}
        t0 = time.perf_counter()
        metrics, preds = evaluate(model, test, cfg, dev)
        if ema is not None:  # the EMA's predictions are the ones kept for the report
            ema_metrics, preds = evaluate(ema, test, cfg, dev)
            metrics |= {f"ema_{k}": v for k, v in ema_metrics.items()}
        history.append(row | metrics | {"eval_seconds": time.perf_counter() - t0})
        save_checkpoint(out, model, opt, cfg, history, ema)
        write_metrics(out, cfg, history, info)
        log(_summary(cfg, history[-1]))
    if preds is None and history:  # nothing left to train: re-evaluate for the predictions file
        preds = evaluate(ema if ema is not None else model, test, cfg, dev)[1]
    if preds is not None:
        save_predictions(out, test, preds)
    return history


def _device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def _summary(cfg: TrainConfig, r: dict) -> str:
    ema = f" | EMA test acc {r['ema_test_acc']:.2f}%" if "ema_test_acc" in r else ""
    return (f"{cfg.model} epoch {r['epoch']}/{cfg.epochs}: train loss {r['train_loss']:.4f} "
            f"acc {r['train_acc']:.2f}% | test loss {r['test_loss']:.4f} acc {r['test_acc']:.2f}%{ema} "
            f"| {r['seconds']:.1f}s")
