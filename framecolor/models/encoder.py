"""The thesis's encoder (Table 4.1): eight 3x3 convs with ReLU, stride 2 at layers 1, 3 and 5.

The decoder needs no padding option: its convs have stride 1, where "same" padding is symmetric."""
from __future__ import annotations

from torch import nn

from ..layers import ConvAct


class Encoder(nn.Sequential):
    """(B, 1, H, W) L (normalised or raw, see ColorizerConfig.l_input) -> (B, C_last, H/8, W/8).

    padding: "symmetric" (PyTorch) or "tf_same" (TensorFlow's "same", for models trained in Keras).
    """

    def __init__(self, spec: tuple[tuple[int, int], ...], in_channels: int = 1, padding: str = "symmetric"):
        layers, cin = [], in_channels
        for cout, stride in spec:
            layers.append(ConvAct(cin, cout, stride=stride, padding=padding))
            cin = cout
        super().__init__(*layers)
        self.out_channels = cin
