"""The pretrained-encoder variant of the fusion colorizer: a frozen ImageNet classifier (timm's
EfficientNet-Lite2, built by efficientnet_lite.py) reads the
grey image once; its own multi-scale features feed a U-Net decoder, and its own 1000-class softmax
output is tiled and fused at the bottleneck by a 1x1 conv, as in the thesis's Table 4.1.

Shapes: L (B, 1, H, W), L* in [0, 100], H and W multiples of 8. Backbone features at strides 4, 8,
16, 32 (the classifier's `feature_info`), a learned stem on L at stride 2; the head predicts at stride 2
and the result is upsampled (bilinear) to H x W: a*b*/128 in [-1, 1], as every framecolor colorizer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import ab_bins
from ..color import AB_SCALE, l_to_rgb, normalize_l
from ..config import ColorizerConfig, UNetConfig
from ..layers import FusionLayer
from .colorizer import _check_size
from .embedders import EmbedderSpec, fold_batch_norm

Features = tuple[list[torch.Tensor], torch.Tensor]  # ([s4, s8, s16, s32] maps, (B, 1000) probabilities)


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UpBlock(nn.Module):
    """Bilinear x2 to the skip's size, concatenate the skip, two 3x3 conv + BN + ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat((x, skip.to(x.dtype)), 1))


class UNetDecoder(nn.Module):
    """Fused bottleneck -> up blocks over the s16, s8, s4 backbone features and the s2 stem -> head."""

    def __init__(self, cfg: UNetConfig, skip_channels: tuple[int, int, int, int], embed_dim: int, n_out: int):
        super().__init__()
        c4, c8, c16, c32 = skip_channels
        self.stem = nn.Sequential(conv_bn_relu(1, cfg.stem_channels, stride=2), conv_bn_relu(cfg.stem_channels, cfg.stem_channels))
        self.fusion = FusionLayer(c32, embed_dim, cfg.fusion_channels)
        ch = cfg.channels
        self.ups = nn.ModuleList([UpBlock(cfg.fusion_channels, c16, ch[0]), UpBlock(ch[0], c8, ch[1]),
                                  UpBlock(ch[1], c4, ch[2]), UpBlock(ch[2], cfg.stem_channels, ch[3])])
        self.head = nn.Conv2d(ch[3], n_out, 1)

    def forward(self, L_norm: torch.Tensor, feats: list[torch.Tensor], probs: torch.Tensor) -> torch.Tensor:
        s4, s8, s16, s32 = feats
        x = self.fusion(s32, probs)
        for up, skip in zip(self.ups, (s16, s8, s4, self.stem(L_norm))):
            x = up(x, skip)
        return self.head(x)  # (B, n_out, H/2, W/2)


class UNetColorizer(nn.Module):
    """ColorizerConfig with `unet` set. `embedder` is the frozen classifier (timm's interface), `spec` its registry
    entry (normalisation). The classifier reads the image at the working size (no resize), so its
    feature maps line up with the image."""

    temporal = None  # no LSTM head: `--temporal lstm` needs a koala model (framecolor/models/colorizer.py)

    def __init__(self, config: ColorizerConfig, backbone: nn.Module, spec: EmbedderSpec):
        super().__init__()
        cfg = config.unet
        self.config, self.spec = config, spec
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        info = backbone.feature_info
        self.indices = [len(info) - 4 + i for i in range(4)]  # strides 4, 8, 16, 32
        skips = tuple(info[i]["num_chs"] for i in self.indices)
        n_out = len(ab_bins.bin_centres()) if cfg.head == "bins" else 2
        self.decoder = UNetDecoder(cfg, skips, config.embed_dim, n_out)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("centres", ab_bins.bin_centres().clone(), persistent=False)

    def train(self, mode: bool = True) -> "UNetColorizer":
        super().train(mode)
        self.backbone.eval()  # frozen: batch-norm statistics never move
        return self

    def unfreeze(self, blocks: int) -> list[nn.Parameter]:
        """Make the backbone's last `blocks` stages trainable (their batch norms keep their statistics);
        returns their parameters. Checkpoints then hold those stages too, as well as any stages an
        earlier fine-tune already changed (note_tuned)."""
        chosen = list(self.backbone.blocks)[-blocks:] if blocks > 0 else []
        earlier = getattr(self, "tuned", [])
        self.tuned = [b for b in self.backbone.blocks if any(b is t for t in earlier + chosen)]
        params = [p for b in chosen for p in b.parameters()]
        for p in params:
            p.requires_grad_(True)
        return params

    def encode(self, L: torch.Tensor) -> Features:
        """(B, 1, H, W) L* -> backbone features at strides 4..32 and its (B, 1000) softmax output."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and bool(getattr(self, "tuned", None))):
            x = (l_to_rgb(L.float()) - self.mean) / self.std
            final, inter = self.backbone.forward_intermediates(x.contiguous(memory_format=torch.channels_last))
            probs = self.backbone.forward_head(final).float().softmax(dim=-1)
        return [inter[i] for i in self.indices], probs

    def head_output(self, L: torch.Tensor, features: Features | None = None) -> torch.Tensor:
        """(B, 1, H, W) L* -> the head's raw output at H/2 x W/2: a*b*/128 before tanh, or bin logits."""
        _check_size(L)
        feats, probs = features if features is not None else self.encode(L)
        return self.decoder(normalize_l(L), feats, probs)

    def to_ab(self, out: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Head output -> (B, 2, *size) a*b*/128: tanh, or the annealed mean of the bins; bilinear up."""
        with torch.autocast(out.device.type, enabled=False):
            if self.config.unet.head == "bins":
                ab = ab_bins.annealed_mean(out.float(), self.centres, self.config.unet.temperature) / AB_SCALE
            else:
                ab = torch.tanh(out.float())
            return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    def forward(self, L: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, H, W) L* -> (B, 2, H, W) a*b*/128. The embedding is the backbone's own: none is taken."""
        if embedding is not None:
            raise ValueError("a U-Net colorizer computes its own embedding; give none")
        return self.to_ab(self.head_output(L), L.shape[-2:])

    def fold_classifier_batch_norm(self, keep_tuned: bool = False) -> int:
        """Fold the frozen backbone's batch norms into its convolutions (as ClassifierEmbedder does), except
        in the stages being trained; with `keep_tuned` (training), also in every fine-tuned stage, which
        the checkpoints hold and must hold in the unfolded form that a fresh model loads."""
        kept = tuple(b for b in getattr(self, "tuned", [])
                     if keep_tuned or any(p.requires_grad for p in b.parameters()))
        return fold_batch_norm(self.backbone, keep=kept)

    def note_tuned(self, keys) -> None:
        """After loading a checkpoint: the backbone stages it holds weights for were fine-tuned, so they
        belong to the colorizer's own weights (trainable_state_dict) again."""
        blocks = {int(k.split(".")[2]) for k in keys if k.startswith("backbone.blocks.")}
        self.tuned = [b for i, b in enumerate(self.backbone.blocks) if i in blocks]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The decoder's weights, and those of any fine-tuned backbone stages (the rest of the frozen
        classifier ships separately)."""
        tuned = tuple(f"backbone.blocks.{i}." for i, b in enumerate(self.backbone.blocks)
                      if any(b is t for t in getattr(self, "tuned", [])))
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.") or k.startswith(tuned)}

