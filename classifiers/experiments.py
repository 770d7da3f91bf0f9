"""Beyond the thesis: gradient norms at initialisation (plain vs residual) and the epoch-time
comparison against a loop written the way the thesis's Appendix A writes it."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import NORMALISATION, TrainConfig, net_config
from .data import load_dataset
from .models import build_model
from .train import epoch_order, evaluate, normalise, pick_device, prepare, train_one_epoch


def grad_norms_at_init(name: str, x: torch.Tensor, y: torch.Tensor, seed: int = 1, width: int = 64) -> list[float]:
    """L2 norm of dLoss/dW for every main-path conv (stem first) and the FC head, one batch, fresh init."""
    torch.manual_seed(seed)
    model = build_model(net_config(name, width)).train()
    F.cross_entropy(model(x), y).backward()
    layers = [m for n, m in model.named_modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and "downsample" not in n]
    return [m.weight.grad.norm().item() for m in layers]


def grad_norm_study(models: list[str], dataset: str, batch_size: int, seed: int, out: Path,
                    data_root=None) -> list[Path]:
    """grad_norms.json and grad_norms.png: per-layer gradient norm at init on one real batch."""
    ds = load_dataset(dataset, data_root)
    train, _ = prepare(ds, TrainConfig(dataset=dataset, seed=seed))
    idx = epoch_order(len(train.y), seed, 0)[:batch_size]
    x, y = normalise(train.x[idx], dataset), train.y[idx]
    norms = {m: grad_norms_at_init(m, x, y, seed) for m in models}
    out.mkdir(parents=True, exist_ok=True)
    (out / "grad_norms.json").write_text(json.dumps({"dataset": dataset, "batch_size": batch_size,
                                                     "seed": seed, "norms": norms}, indent=1))
    return [out / "grad_norms.json", _plot_grad_norms(norms, out / "grad_norms.png", dataset)]


def _plot_grad_norms(norms: dict[str, list[float]], path: Path, dataset: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, values in norms.items():
        ax.plot(range(1, len(values) + 1), values, "-" if name.startswith("resnet") else "--",
                marker=".", label=name)
    ax.set(yscale="log", xlabel="weight layer (1 = stem conv, last = FC head)", ylabel="||dL/dW|| at init",
           title=f"Per-layer gradient norm at initialisation ({dataset}, one batch)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class _PerItemDataset(torch.utils.data.Dataset):
    """As torchvision's MNIST: each item goes uint8 -> PIL -> ToTensor -> Normalize, one at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, dataset: str):
        from torchvision import transforms

        self.x, self.y = x[:, 0].numpy(), y.numpy()
        mean, std = NORMALISATION[dataset]
        self.tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.tf(Image.fromarray(self.x[i], mode="L")), int(self.y[i])


def thesis_style_epoch(model, opt, train, test, cfg: TrainConfig) -> float:
    """One epoch + test pass as the thesis's Appendix A loop does it: DataLoader over per-item
    transforms, softmax then cross_entropy, .item() after every batch, test batches of 128. Seconds."""
    start = time.perf_counter()
    g = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(_PerItemDataset(train.x, train.y, cfg.dataset), batch_size=128,
                                         shuffle=True, generator=g)
    model.train()
    running, correct = 0.0, 0
    for data, target in loader:
        opt.zero_grad()
        output = F.softmax(model(data), dim=1)
        loss = F.cross_entropy(output, target)
        loss.backward()
        opt.step()
        running += loss.item()
        correct += output.argmax(dim=1).eq(target).sum().item()
    model.eval()
    with torch.no_grad():
        for data, target in torch.utils.data.DataLoader(_PerItemDataset(test.x, test.y, cfg.dataset), 128):
            output = F.softmax(model(data), dim=1)
            running += F.cross_entropy(output, target).item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    return time.perf_counter() - start


def our_epoch(model, opt, train, test, cfg: TrainConfig, device) -> float:
    start = time.perf_counter()
    train_one_epoch(model, opt, train, cfg, 0, device, progress=False)
    evaluate(model, test, cfg, device)
    return time.perf_counter() - start


def speed_study(model_name: str, subset: int, repeats: int, out: Path, data_root=None, device="cpu") -> str:
    """Time one epoch (train + test pass on ``subset`` images each) both ways, interleaved; best of repeats."""
    dev = pick_device(device)
    cfg = TrainConfig(model=model_name, subset=subset, test_subset=subset)
    train, test = prepare(load_dataset(cfg.dataset, data_root), cfg)
    variants = {"thesis_loop": None, "ours": cfg, "ours_channels_last": replace(cfg, channels_last=True)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    warm = build_model(cfg.net()).to(dev)  # untimed: first-call allocator and kernel set-up
    our_epoch(warm, torch.optim.SGD(warm.parameters(), lr=cfg.lr), train, test, replace(cfg, subset=0), dev)
    for _ in range(repeats):
        for name, c in variants.items():
            torch.manual_seed(cfg.seed)
            fmt = torch.channels_last if c is not None and c.channels_last else torch.contiguous_format
            model = build_model(cfg.net()).to(dev, memory_format=fmt)
            opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
            times[name].append(thesis_style_epoch(model, opt, train, test, cfg) if c is None
                               else our_epoch(model, opt, train, test, c, dev))
    best = {k: min(v) for k, v in times.items()}
    result = {"model": model_name, "train_images": len(train.y), "test_images": len(test.y),
              "device": str(dev), "threads": torch.get_num_threads(), "seconds": times, "best": best,
              "speedup": {k: best["thesis_loop"] / v for k, v in best.items()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(result, indent=1))
    return json.dumps(result, indent=1)
