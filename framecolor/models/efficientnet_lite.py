"""EfficientNet-Lite (lite0, lite1, lite2) for inference without timm: importing timm costs about 1.8 s
(every model module, and torchvision through `timm.layers`), more than torch itself on a small machine.

This is timm's `tf_efficientnet_lite*` rebuilt from a small frozen config: the same modules under the
same names (so timm's state dicts, and the bundled safetensors, load unchanged), and the same
arithmetic in the same order: TensorFlow "same" padding (asymmetric, done by F.pad before a stride-2
conv; symmetric and static for stride 1), batch norm with eps 1e-3 then ReLU6, depthwise-separable and
inverted-residual blocks, a 1x1 head conv to 1280 channels, average pool and a linear classifier. timm
stays the source of truth: tests/test_efficientnet_lite.py checks key lists and bit-equal features and
logits against timm's models on a real photo. The feature interface is timm's: `forward_features`,
`forward_head(pre_logits=...)`, `forward_intermediates` and `feature_info`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # TensorFlow's default, timm's BN_EPS_TF_DEFAULT


@dataclass(frozen=True)
class Stage:
    kind: str  # "ds": depthwise-separable, "ir": inverted residual
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels: int


# timm's _gen_efficientnet_lite arch_def: ds_r1_k3_s1_e1_c16, ir_r2_k3_s2_e6_c24, ...
LITE_STAGES = (Stage("ds", 1, 3, 1, 1, 16), Stage("ir", 2, 3, 2, 6, 24), Stage("ir", 2, 5, 2, 6, 40),
               Stage("ir", 3, 3, 2, 6, 80), Stage("ir", 3, 5, 1, 6, 112), Stage("ir", 4, 5, 2, 6, 192),
               Stage("ir", 1, 3, 1, 6, 320))


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    channel_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    stages: tuple[Stage, ...] = LITE_STAGES
    stem_channels: int = 32  # fixed, not scaled (timm's fix_stem)
    num_features: int = 1280  # head width, not scaled
    num_classes: int = 1000

    def resolved(self) -> list[Stage]:
        """Stages with channels and repeats scaled as timm does: channels rounded to a multiple of 8 (never
        below 90% of the scaled value), repeats rounded up; the first and last stages keep their depth."""
        out = []
        for i, s in enumerate(self.stages):
            fixed = i in (0, len(self.stages) - 1)
            repeats = s.repeats if fixed else math.ceil(s.repeats * self.depth_multiplier)
            out.append(Stage(s.kind, repeats, s.kernel, s.stride, s.expand, _round_channels(s.channels * self.channel_multiplier)))
        return out


VARIANTS = {
    "tf_efficientnet_lite0": EfficientNetLiteConfig(1.0, 1.0),
    "tf_efficientnet_lite1": EfficientNetLiteConfig(1.0, 1.1),
    "tf_efficientnet_lite2": EfficientNetLiteConfig(1.1, 1.2),
}


def _round_channels(v: float, divisor: int = 8) -> int:
    """timm's make_divisible(v, 8, round_limit=0.9)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class Conv2dSame(nn.Conv2d):
    """TensorFlow "SAME" convolution: pads the input (more at the bottom and right) to ceil(H / stride)
    outputs, then convolves unpadded (timm's Conv2dSame / conv2d_same)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.size()[-2:]
        pad_h = _same_padding(ih, self.kernel_size[0], self.stride[0])
        pad_w = _same_padding(iw, self.kernel_size[1], self.stride[1])
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0)
        return F.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


def _same_padding(size: int, kernel: int, stride: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


def conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """timm's create_conv2d(padding="same"), no bias: static symmetric padding where stride 1 allows it."""
    if stride == 1 and (kernel - 1) % 2 == 0:
        return nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, kernel, stride, 0, groups=groups, bias=False)


class BatchNormAct2d(nn.BatchNorm2d):
    """Batch norm, then ReLU6 or nothing; its parameters are the batch norm's own (timm's keys).
    fold_batch_norm (embedders.py) folds the norm into the conv before it and keeps `act`."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class DepthwiseSeparableConv(nn.Module):
    """Depthwise kxk + BN + ReLU6, pointwise 1x1 + BN; no skip (in and out channels differ in Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv_dw, self.bn1 = conv(cin, cin, kernel, stride, groups=cin), BatchNormAct2d(cin)
        self.conv_pw, self.bn2 = conv(cin, cout, 1), BatchNormAct2d(cout, act=False)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return y + x if self.has_skip else y


class InvertedResidual(nn.Module):
    """Pointwise expand + BN + ReLU6, depthwise kxk + BN + ReLU6, pointwise project + BN, skip where the
    shape allows it."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.conv_pw, self.bn1 = conv(cin, mid, 1), BatchNormAct2d(mid)
        self.conv_dw, self.bn2 = conv(mid, mid, kernel, stride, groups=mid), BatchNormAct2d(mid)
        self.conv_pwl, self.bn3 = conv(mid, cout, 1), BatchNormAct2d(cout, act=False)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.has_skip else y


class EfficientNetLite(nn.Module):
    """(B, 3, H, W) normalised RGB -> (B, 1000) logits, with timm's feature interface."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        self.config, self.drop_rate = config, 0.0
        self.conv_stem, self.bn1 = conv(3, config.stem_channels, 3, 2), BatchNormAct2d(config.stem_channels)
        stages, self.feature_info, cin, reduction = [], [], config.stem_channels, 2
        for i, s in enumerate(config.resolved()):
            blocks = []
            for r in range(s.repeats):
                stride = s.stride if r == 0 else 1
                blocks.append(DepthwiseSeparableConv(cin, s.channels, s.kernel, stride) if s.kind == "ds"
                              else InvertedResidual(cin, s.channels, s.kernel, stride, s.expand))
                cin = s.channels
            stages.append(nn.Sequential(*blocks))
            reduction *= s.stride
            last = i + 1 == len(config.stages)
            if last or config.stages[i + 1].stride > 1:  # a feature map at each stride, as timm's feature_info
                self.feature_info.append({"stage": i + 1, "reduction": reduction, "module": f"blocks.{i}", "num_chs": cin})
        self.blocks = nn.Sequential(*stages)
        self.stage_ends = [f["stage"] for f in self.feature_info]
        self.conv_head, self.bn2 = conv(cin, config.num_features, 1), BatchNormAct2d(config.num_features)
        self.num_features = config.num_features
        self.global_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.classifier = nn.Linear(config.num_features, config.num_classes)
        if self.conv_stem.weight.device.type != "meta":  # on meta (weights to come) normal_ would import torch._dynamo
            self.apply(_init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1280, H/32, W/32) after the head conv."""
        return self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, 1280, h, w) -> (B, 1280) pooled, or (B, 1000) logits."""
        x = self.global_pool(x)
        return x if pre_logits else self.classifier(x)

    def forward_intermediates(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 3, H, W) -> (head features, [the maps at each feature_info entry: strides 2, 4, 8, 16, 32])."""
        x, inter = self.bn1(self.conv_stem(x)), []
        for i, stage in enumerate(self.blocks, start=1):
            x = stage(x)
            if i in self.stage_ends:
                inter.append(x)
        return self.bn2(self.conv_head(x)), inter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(m: nn.Module) -> None:
    """timm's Google-style init (only used for models built without weights: tests, shape checks)."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        bound = 1 / math.sqrt(m.weight.size(0))
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.zeros_(m.bias)


def efficientnet_lite(name: str) -> EfficientNetLite:
    """timm's model `name` (tf_efficientnet_lite0, _lite1 or _lite2), untrained."""
    if name not in VARIANTS:
        raise KeyError(f"unknown EfficientNet-Lite {name!r}; known: {', '.join(VARIANTS)}")
    return EfficientNetLite(VARIANTS[name])
