"""The colorizer: composition of encoder, optional fusion with a frozen classifier, optional temporal head, decoder."""
from __future__ import annotations

import torch
from torch import nn

from ..color import normalize_l
from ..config import L_INPUTS, ColorizerConfig
from ..layers import FusionLayer
from .decoder import Decoder
from .encoder import Encoder
from .temporal import State, TemporalHead


class Colorizer(nn.Module):
    """Deep Koalarization (embedder given) or the thesis's basic CNN (embedder=None).

    Input  L: (B, 1, H, W), L* in [0, 100], H and W multiples of 8.
    Output  : (B, 2, H, W), a*b*/128 in [-1, 1].
    The encoder sees L/50 - 1 (l_input="normalized") or L* as it is (l_input="raw", Keras-trained models).
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, fusion: FusionLayer | None = None,
                 embedder: nn.Module | None = None, temporal: TemporalHead | None = None,
                 l_input: str = "normalized"):
        super().__init__()
        if (fusion is None) != (embedder is None):
            raise ValueError("fusion and embedder go together: give both or neither")
        if l_input not in L_INPUTS:
            raise ValueError(f"l_input={l_input!r}; expected one of {', '.join(map(repr, L_INPUTS))}")
        self.encoder, self.fusion, self.decoder = encoder, fusion, decoder
        self.embedder, self.temporal = embedder, temporal
        self.l_input = l_input

    @classmethod
    def from_config(cls, config: ColorizerConfig, embedder: nn.Module | None = None) -> "Colorizer":
        encoder = Encoder(config.encoder, padding=config.padding)
        fusion = None
        if config.embedder is not None:
            if embedder is None:
                raise ValueError(f"config names embedder {config.embedder!r} but none was given")
            fusion = FusionLayer(encoder.out_channels, config.embed_dim, config.fusion_channels)
        width = config.fusion_channels if fusion is not None else encoder.out_channels
        temporal = None
        if config.temporal is not None:
            temporal = TemporalHead(width, config.temporal.hidden_channels, config.temporal.kernel_size)
        model = cls(encoder, Decoder(config.decoder, width), fusion, embedder, temporal, config.l_input)
        model.config = config
        return model

    def embed(self, L: torch.Tensor) -> torch.Tensor | None:
        """(B, 1, H, W) L* -> (B, E) class probabilities of the frozen classifier, or None."""
        if self.embedder is None:
            return None
        with torch.no_grad():
            return self.embedder(L)

    def features(self, L: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1, H, W) L* -> (B, C, H/8, W/8) fused bottleneck."""
        _check_size(L)
        feats = self.encoder(L if self.l_input == "raw" else normalize_l(L))
        if self.fusion is None:
            return feats
        if embedding is None:
            embedding = self.embed(L)
        return self.fusion(feats, embedding)

    def forward(self, L: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image prediction; a temporal head, if any, sees each image as a one-frame clip."""
        feats = self.features(L, embedding)
        if self.temporal is not None:
            feats = self.temporal(feats[:, None])[0][:, 0]
        return self.decoder(feats)

    def forward_clip(self, L: torch.Tensor, embedding: torch.Tensor | None = None,
                     state: State = None) -> tuple[torch.Tensor, State]:
        """(B, T, 1, H, W) clips -> (B, T, 2, H, W), carrying the temporal state across T and calls."""
        b, t = L.shape[:2]
        flat_emb = None if embedding is None else embedding.flatten(0, 1)
        feats = self.features(L.flatten(0, 1), flat_emb)
        return self.decode_clip(feats.unflatten(0, (b, t)), state)

    def decode_clip(self, feats: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """(B, T, C, h, w) fused bottlenecks -> (B, T, 2, 8h, 8w) through the temporal head and decoder."""
        b, t = feats.shape[:2]
        if self.temporal is not None:
            feats, state = self.temporal(feats, state)
        return self.decoder(feats.flatten(0, 1)).unflatten(0, (b, t)), state

    def fold_classifier_batch_norm(self) -> int:
        """Fold the frozen classifier's batch norms into its convolutions (inference and training both
        do; see ClassifierEmbedder.fold_batch_norm). Returns how many were folded: none without one."""
        fold = getattr(self.embedder, "fold_batch_norm", None)  # a stand-in embedder has none
        return fold() if fold is not None else 0

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights that belong to the colorizer (the frozen classifier ships separately)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("embedder.")}


def _check_size(L: torch.Tensor) -> None:
    if L.ndim != 4 or L.shape[1] != 1:
        raise ValueError(f"expected L of shape (B, 1, H, W), got {tuple(L.shape)}")
    if L.shape[-1] % 8 or L.shape[-2] % 8:
        raise ValueError(f"height and width must be multiples of 8, got {tuple(L.shape[-2:])}")
