"""Small leaf modules shared by the encoder, decoder and fusion."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import PADDINGS


class TFSamePad(nn.Module):
    """Zero padding of TensorFlow's padding="same" for a (kernel, stride) conv: per axis
    total = max((ceil(n / s) - 1) s + k - n, 0), the odd pixel at the bottom/right.
    For stride 2, 3x3 on an even size that is (0, 1, 0, 1): bottom/right only."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def _amounts(self, n: int) -> tuple[int, int]:
        total = max((math.ceil(n / self.stride) - 1) * self.stride + self.kernel - n, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (*self._amounts(x.shape[-1]), *self._amounts(x.shape[-2])))

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class ConvAct(nn.Sequential):
    """3x3 ("same") convolution followed by an activation (ReLU unless told otherwise).

    padding="symmetric" pads kernel // 2 zeros on every side; "tf_same" pads a strided conv as
    TensorFlow does (TFSamePad; stride 1 is symmetric in both). The conv stays at index 0 and the
    activation at 1 in both, so the state-dict keys ("0.weight", "0.bias") do not depend on it.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, kernel: int = 3, act: nn.Module | None = None,
                 padding: str = "symmetric"):
        if padding not in PADDINGS:
            raise ValueError(f"padding={padding!r}; expected one of {', '.join(map(repr, PADDINGS))}")
        tf_pad = padding == "tf_same" and stride != 1
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=0 if tf_pad else kernel // 2),
            act if act is not None else nn.ReLU(inplace=True),
        )
        if tf_pad:
            self.pad = TFSamePad(kernel, stride)  # registered after conv and act: their indices stay 0, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "pad" in self._modules:
            x = self.pad(x)
        return self[1](self[0](x))


class FusionLayer(nn.Module):
    """Tile a per-image embedding over the feature map, concatenate, and mix with a 1x1 conv + ReLU.

    features: (B, C, H/8, W/8); embedding: (B, E) -> (B, out_channels, H/8, W/8).
    """

    def __init__(self, feat_channels: int, embed_dim: int, out_channels: int):
        super().__init__()
        self.embed_dim = embed_dim
        self.conv = ConvAct(feat_channels + embed_dim, out_channels, kernel=1)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        b, _, h, w = features.shape
        if embedding.shape != (b, self.embed_dim):
            raise ValueError(f"embedding must be ({b}, {self.embed_dim}), got {tuple(embedding.shape)}")
        tiled = embedding[:, :, None, None].to(features.dtype).expand(b, self.embed_dim, h, w)
        return self.conv(torch.cat((features, tiled), dim=1))
