"""The thesis's decoder: conv 128, up, conv 64, conv 64, up, conv 32, conv 2 (tanh), up (nearest)."""
from __future__ import annotations

from torch import nn

from ..layers import ConvAct


class Decoder(nn.Sequential):
    """(B, C, H/8, W/8) fused features -> (B, 2, H, W) a*b*/128 in [-1, 1]."""

    def __init__(self, spec: tuple[int | str, ...], in_channels: int):
        convs = [i for i, s in enumerate(spec) if s != "up"]
        if not convs or spec[convs[-1]] != 2:
            raise ValueError("the decoder's last conv must have 2 output channels (a*, b*)")
        layers, cin = [], in_channels
        for i, s in enumerate(spec):
            if s == "up":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            act = nn.Tanh() if i == convs[-1] else None
            layers.append(ConvAct(cin, int(s), act=act))
            cin = int(s)
        super().__init__(*layers)
