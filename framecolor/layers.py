"""Small leaf modules shared by the encoder, decoder and fusion."""
from __future__ import annotations

import torch
from torch import nn


class ConvAct(nn.Sequential):
    """3x3 ("same") convolution followed by an activation (ReLU unless told otherwise)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, kernel: int = 3, act: nn.Module | None = None):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2),
            act if act is not None else nn.ReLU(inplace=True),
        )


class FusionLayer(nn.Module):
    """Tile a per-image embedding over the feature map, concatenate, and mix with a 1x1 conv + ReLU.

    features: (B, C, H/8, W/8); embedding: (B, E) -> (B, out_channels, H/8, W/8).
    """

    def __init__(self, feat_channels: int, embed_dim: int, out_channels: int):
        super().__init__()
        self.embed_dim = embed_dim
        self.conv = ConvAct(feat_channels + embed_dim, out_channels, kernel=1)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        b, c, h, w = features.shape
        if embedding.shape != (b, self.embed_dim):
            raise ValueError(f"embedding must be ({b}, {self.embed_dim}), got {tuple(embedding.shape)}")
        # conv1x1(cat(features, tiled embedding)) computed without tiling: the embedding's part of the
        # 1x1 conv is the same at every pixel, so it is one (B, E) x (E, out) product added as a bias.
        conv, act = self.conv[0], self.conv[1]
        w_feat, w_emb = conv.weight[:, :c], conv.weight[:, c:, 0, 0]
        bias = torch.nn.functional.linear(embedding.to(w_emb.dtype), w_emb, conv.bias)  # (B, out)
        out = torch.nn.functional.conv2d(features, w_feat)
        return act(out + bias[:, :, None, None].to(out.dtype))
