"""ConvLSTM temporal head over the fused bottleneck, in the manner of FlowChroma.

The head is residual with a zero-initialised output projection, so an untrained head leaves the
image model's per-frame prediction unchanged, and training only has to learn the correction.
"""
from __future__ import annotations

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor] | None


class ConvLSTMCell(nn.Module):
    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            state = (z, z)
        h, c = state
        i, f, g, o = self.gates(torch.cat((x, h), dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class TemporalHead(nn.Module):
    """(B, T, C, h, w) fused features + state -> (B, T, C, h, w) features, new state."""

    def __init__(self, channels: int, hidden: int = 256, kernel: int = 3):
        super().__init__()
        self.cell = ConvLSTMCell(channels, hidden, kernel)
        self.out = nn.Conv2d(hidden, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, seq: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        outs = []
        for t in range(seq.shape[1]):
            x = seq[:, t]
            state = self.cell(x, state)
            outs.append(torch.relu(x + self.out(state[0])))
        return torch.stack(outs, dim=1), state
