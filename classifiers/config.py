"""Frozen configs for the classifiers and their training runs. Variants are data, not copies."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# Blocks per stage for basic-block nets; depth = 2 * sum(layers) + 2 (stem conv + FC head).
# 50 here means 50 weight layers of *basic* blocks, not torchvision's bottleneck ResNet-50.
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 6, 12, 3),
}

# Per-dataset pixel statistics (of the training images scaled to 0..1).
NORMALISATION: dict[str, tuple[float, float]] = {
    "mnist": (0.1307, 0.3081),
    "fashion": (0.2860, 0.3530),
}


@dataclass(frozen=True)
class NetConfig:
    """One net of basic blocks. ``residual=False`` gives the plain ConvNet of the same shape."""

    layers: tuple[int, ...] = (3, 4, 6, 3)
    residual: bool = True
    width: int = 64  # channels of the first stage; stage i has width * 2**i (64-512 by default)
    in_channels: int = 1
    num_classes: int = 10

    @property
    def depth(self) -> int:
        return 2 * sum(self.layers) + 2

    @property
    def name(self) -> str:
        kind = "resnet" if self.residual else "convnet"
        suffix = "" if self.width == 64 else f"-w{self.width}"
        return f"{kind}{self.depth}{suffix}"


def net_config(name: str, width: int = 64, num_classes: int = 10) -> NetConfig:
    """``resnet34`` / ``convnet34`` (also 10, 18, 50) -> NetConfig."""
    m = re.fullmatch(r"(resnet|convnet)(\d+)", name)
    if m is None or int(m.group(2)) not in DEPTHS:
        names = ", ".join(f"{k}{d}" for k in ("resnet", "convnet") for d in DEPTHS)
        raise ValueError(f"unknown model {name!r}; choose one of: {names}")
    return NetConfig(layers=DEPTHS[int(m.group(2))], residual=m.group(1) == "resnet",
                     width=width, num_classes=num_classes)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's numbers. Defaults are the thesis's hyper-parameters."""

    model: str = "resnet34"
    width: int = 64
    dataset: str = "mnist"
    epochs: int = 10
    lr: float = 0.01
    momentum: float = 0.0
    batch_size: int = 128
    eval_batch_size: int = 1000
    seed: int = 1
    thesis_loss: bool = False  # cross_entropy on softmax probabilities: the thesis's bug, for comparison
    subset: int = 0  # 0 = all training images; N = a fixed, seeded, class-stratified-by-chance subset
    test_subset: int = 0
    channels_last: bool = False
    augment_shift: int = 0  # random translation of each training image by up to N pixels (0 = none, as the thesis)
    augment_rotate: float = 0.0  # random rotation of each training image by up to +-DEG degrees (0 = none)
    augment_scale: float = 0.0  # random zoom of each training image by a factor in [1 - F, 1 + F] (0 = none)
    input_size: int = 0  # 0 = the images' own size (28); N = resize to N x N (bilinear) before the network
    ema: float = 0.0  # 0 = off; d in (0, 1) = also evaluate an exponential moving average of weights and BN stats

    def __post_init__(self):
        if not (self.ema == 0.0 or 0.0 < self.ema < 1.0):
            raise ValueError(f"ema decay must be 0 (off) or in (0, 1), got {self.ema}")
        if not (0.0 <= self.augment_rotate <= 180.0):
            raise ValueError(f"augment_rotate must be in [0, 180] degrees, got {self.augment_rotate}")
        if not (0.0 <= self.augment_scale < 1.0):
            raise ValueError(f"augment_scale must be in [0, 1), got {self.augment_scale}")

    def net(self) -> NetConfig:
        return net_config(self.model, self.width)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
