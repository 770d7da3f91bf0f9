"""A film job's options: everything about a run except the model, and which model a temporal mode uses."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..config import FLOW_STRENGTH, LSTM_MODEL, VIDEO_MODEL, check_temporal_modes
from ..video.writer import EncodeSettings


@dataclass(frozen=True)
class VideoJob:
    """Everything about a video run except the model; part of the resume key.

    temporal: one of TEMPORAL_MODES ("none" per frame, "flow" the optical-flow carry, "lstm" the
    model's ConvLSTM head then the same carry). start/end: seconds of the source (end None: to its end).
    """

    temporal: str = "flow"
    start: float = 0.0
    end: float | None = None
    side_by_side: bool = False
    chunk_frames: int = 240  # rounded up to a multiple of the batch size
    cut_threshold: float = 0.4
    flow_strength: float = FLOW_STRENGTH  # weight of the carried colour where the flow is reliable
    encode: EncodeSettings = field(default_factory=EncodeSettings)

    def __post_init__(self) -> None:
        check_temporal_modes(self.temporal)
        if not 0.0 <= self.flow_strength <= 1.0:
            raise ValueError(f"flow strength must be between 0 and 1, got {self.flow_strength}")
        if self.chunk_frames < 1:
            raise ValueError(f"chunk frames must be at least 1, got {self.chunk_frames}")

    def span(self) -> str:
        """The time range in words, for messages: 'from 2.0 s to 5.0 s'."""
        return f"from {self.start} s to " + ("the end" if self.end is None else f"{self.end} s")


def film_model(model: str | os.PathLike, temporal: str) -> str | os.PathLike:
    """The model a film is colorized with: for `lstm`, the shipped default becomes the image model
    with its trained temporal head (LSTM_MODEL)."""
    return LSTM_MODEL if temporal == "lstm" and str(model) == VIDEO_MODEL else model
