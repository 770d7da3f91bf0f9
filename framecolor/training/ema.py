"""An exponential moving average (EMA) of a model's trainable weights, for evaluation and checkpoints."""
from __future__ import annotations

import copy

import torch

from ..models.colorizer import Colorizer


class WeightEma:
    """Keeps `shadow = d * shadow + (1 - d) * weights` after every optimiser step, with the warm-up
    d = min(decay, (1 + step) / (10 + step)) so the random initialisation fades out quickly.
    Only the colorizer's own weights are averaged (the frozen classifier is shared as is)."""

    def __init__(self, model: Colorizer, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay, self.step = decay, 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._pairs: tuple[Colorizer, list[tuple[torch.Tensor, torch.Tensor]]] | None = None

    def rate(self) -> float:
        """The decay applied at the current step."""
        return min(self.decay, (1 + self.step) / (10 + self.step))

    def _shadow_live(self, model: Colorizer) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(shadow, live) tensor pairs, built once per live model: the state-dict views share storage
        with the weights, and the optimiser and load_state_dict update those in place."""
        if self._pairs is None or self._pairs[0] is not model:
            live = model.trainable_state_dict()
            self._pairs = (model, [(t, live[k]) for k, t in self.model.trainable_state_dict().items()])
        return self._pairs[1]

    @torch.no_grad()
    def update(self, model: Colorizer) -> None:
        self.step += 1
        d = self.rate()
        for shadow, live in self._shadow_live(model):
            if shadow.is_floating_point():
                shadow.lerp_(live.to(shadow.dtype), 1.0 - d)
            else:
                shadow.copy_(live)

    def state_dict(self) -> dict:
        return {"step": self.step, "weights": self.model.trainable_state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.model.load_state_dict(state["weights"], strict=False)
