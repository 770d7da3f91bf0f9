"""Colorizing a stream of frames: L* in, the model at the working size, the temporal carry, colour out.

StreamColorizer splits a batch's work into the steps the film job runs in its three threads
(prepare: decode thread, predict: model thread, merge: encode thread); calling it runs all three.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .. import color_cpu
from ..color import denormalize_ab, l_from_rgb8_tensor, lab_to_rgb
from ..config import FLOW_STRENGTH, LSTM_MODEL, check_temporal_modes
from ..inference import ImageColorizer, cpu_micro_batch, film_colorizer, working_shape
from ..precision import autocast
from .carry import FlowCarry, SceneCuts

T = TypeVar("T")


def full_l_cpu(frames: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB or (H, W) grey frames -> (B, 1, H, W) float32 L* (OpenCV, on the CPU)."""
    L = np.empty((len(frames), 1, *frames[0].shape[:2]), np.float32)
    for f, dst in zip(frames, L[:, 0]):
        color_cpu.l_from_pixels(f, dst)
    return torch.from_numpy(L)


def working_l(L: torch.Tensor, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """(B, 1, H, W) full-resolution L* -> ((B, 1, h, w) working-size L*, (B, h, w) uint8 L* * 2.55),
    the second for the optical flow and the scene-cut detector."""
    small = F.interpolate(L, size=working_shape(*L.shape[-2:], size), mode="bilinear", antialias=True,
                          align_corners=False)
    return small, (small[:, 0] * 2.55).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


@dataclass
class Prepared:
    L: torch.Tensor  # (B, 1, H, W) full-resolution L* in [0, 100]
    small: torch.Tensor | None  # (B, 1, h, w) working-size L* (None until StreamColorizer._working)
    gray: np.ndarray | None  # (B, h, w) uint8 working-size L* * 2.55, for flow and cut detection


class StreamColorizer:
    """Colorizes batches of RGB frames in order, carrying the temporal state between batches.

    Frames are colorized from L* at the working size; a*b* are upsampled and merged with the
    full-resolution L* of each frame. `flow` carries colour along optical flow; `lstm` runs the
    model's ConvLSTM head and then the same flow carry (flow_strength=0 leaves the head alone).
    Scene cuts reset the flow carry and the LSTM state.
    On the CPU the full-resolution conversions use OpenCV (color_cpu), on a GPU torch (color).
    """

    def __init__(self, engine: ImageColorizer, temporal: str = "none", cut_threshold: float = 0.4,
                 flow_strength: float = FLOW_STRENGTH):
        check_temporal_modes(temporal)
        if temporal == "lstm" and engine.model.temporal is None:
            raise ValueError(f"temporal mode lstm needs a model with a temporal head (e.g. {LSTM_MODEL})")
        self.engine, self.temporal = film_colorizer(engine), temporal
        self.cuts, self.flow = SceneCuts(cut_threshold), FlowCarry(flow_strength)
        self.lstm_state = None
        self._to_rgb8 = color_cpu.LabToRGB8()  # the CPU merge's buffers; merge runs in one thread

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB or (H, W) grey -> (B, H, W, 3) uint8 colorized (three steps in one go)."""
        prepared = self.prepare(frames)
        return self.merge(prepared, self.predict(prepared))

    @torch.no_grad()
    def prepare(self, frames: list[np.ndarray], working: bool = True) -> "Prepared":
        """Decode-thread step: full-resolution L*, and (with ``working``) the working-size L* and its
        uint8 copy for flow and cut detection.
        frames: (H, W, 3) uint8 RGB, or (H, W) uint8 grey levels (Frame.pixels of a grey frame).

        The pipeline passes ``working=False`` on the CPU: the resize is a torch op, and a torch op in
        a second Python thread starts a second OpenMP team that fights the model's team for the same
        cores; `predict` then does it in the model's thread. On a GPU it stays here (async kernels)."""
        p = Prepared(self._full_l(frames), None, None)
        return self._working(p) if working or p.L.device.type != "cpu" else p

    def _working(self, p: "Prepared") -> "Prepared":
        if p.small is None:
            p.small, p.gray = working_l(p.L, self.engine.size)
        return p

    @torch.no_grad()
    def predict(self, p: "Prepared") -> torch.Tensor:
        """Model-thread step, in frame order: (B, 2, h, w) a*b* at working size, temporally smoothed."""
        if self.temporal == "lstm":  # the head's state needs the cuts before the model runs
            p = self._working(p)
            cuts = [self.cuts(g) for g in p.gray]
            return self._smooth(p, self.model_ab(p.small, cuts), cuts)
        return self.smooth(p, self.predict_frames(p))

    @property
    def frames_independent(self) -> bool:
        """True when the model sees each frame on its own (not `lstm`): batches may then be predicted
        out of order, in parallel, and only `smooth` must run in frame order."""
        return self.temporal != "lstm"

    @torch.no_grad()
    def predict_frames(self, p: "Prepared") -> torch.Tensor:
        """The per-frame model alone (no state): (B, 2, h, w) a*b*. Not for `lstm`."""
        return self.engine.predict_ab(self._working(p).small)

    def smooth(self, p: "Prepared", ab: torch.Tensor) -> torch.Tensor:
        """In frame order: scene cuts and the flow carry on per-frame predictions."""
        return self._smooth(p, ab, [self.cuts(g) for g in self._working(p).gray])

    def _smooth(self, p: "Prepared", ab: torch.Tensor, cuts: list[bool]) -> torch.Tensor:
        if self.temporal != "none" and self.flow.alpha > 0:  # lstm too: the head steadies features, the carry pixels
            ab = self._carry(ab, p.gray, cuts)
        return ab

    @torch.no_grad()
    def merge(self, p: "Prepared", ab: torch.Tensor) -> np.ndarray:
        """Encode-thread step: upsample a*b*, merge with full-resolution L* -> (B, H, W, 3) uint8."""
        L = p.L
        if L.device.type == "cpu":
            ab_hw = np.ascontiguousarray(ab.float().numpy().transpose(0, 2, 3, 1))  # numpy: no torch thread team
            out = np.empty((*L.shape[:1], *L.shape[-2:], 3), np.uint8)
            for i in range(len(L)):
                self._to_rgb8(L[i, 0].numpy(), ab_hw[i], out[i])
            return out
        ab = F.interpolate(ab.to(L.device), size=L.shape[-2:], mode="bilinear", align_corners=False)
        rgb = lab_to_rgb(torch.cat((L, ab), dim=1)).clamp(0, 1).mul(255).round().to(torch.uint8)
        return rgb.permute(0, 2, 3, 1).cpu().numpy()

    def _full_l(self, frames: list[np.ndarray]) -> torch.Tensor:
        dev = self.engine.device
        if dev.type == "cpu":
            return full_l_cpu(frames)
        rgbs = [f if f.ndim == 3 else np.repeat(f[..., None], 3, axis=2) for f in frames]
        x = torch.from_numpy(np.stack(rgbs))
        if dev.type == "cuda":
            x = x.pin_memory().to(dev, non_blocking=True)
        return l_from_rgb8_tensor(x.permute(0, 3, 1, 2))

    def model_ab(self, small: torch.Tensor, cuts: list[bool]) -> torch.Tensor:
        """(B, 1, h, w) working-size L* and the batch's scene cuts -> (B, 2, h, w) a*b* before the flow
        carry: the per-frame model, or for `lstm` the head with its state reset at each cut. In frame order
        for `lstm`."""
        if self.temporal != "lstm":
            return self.engine.predict_ab(small)
        outs, bounds = [], [i for i, c in enumerate(cuts) if c] + [len(cuts)]
        begin = 0
        for stop in bounds:
            if begin < stop:
                outs.append(self._predict_lstm(small[begin:stop], reset=cuts[begin]))
            begin = stop
        return torch.cat(outs)

    def _predict_lstm(self, small: torch.Tensor, reset: bool) -> torch.Tensor:
        """(T, 1, h, w) consecutive frames -> (T, 2, h, w); on the CPU in runs of `cpu_micro_batch`
        frames, the state carried from run to run (the same result as one call)."""
        eng = self.engine
        state = None if reset else self.lstm_state
        parts = small.split(cpu_micro_batch(*small.shape[-2:])) if eng.device.type == "cpu" else [small]
        outs = []
        with autocast(eng.device, eng.precision):
            for part in parts:
                ab, state = eng.model.forward_clip(part[None].to(eng.device), state=state)
                outs.append(ab[0].float())
        self.lstm_state = state
        return denormalize_ab(outs[0] if len(outs) == 1 else torch.cat(outs), eng.chroma_gain)

    def _carry(self, ab: torch.Tensor, gray: np.ndarray, cuts: list[bool]) -> torch.Tensor:
        ab_np = ab.float().cpu().numpy()
        for i, cut in enumerate(cuts):
            if cut:
                self.flow.reset()
            ab_np[i] = self.flow(gray[i], ab_np[i])
        return torch.from_numpy(ab_np)

    def state(self) -> dict[str, np.ndarray | torch.Tensor]:
        """Everything carried between frames (saved with each chunk for resume). Cheap: references."""
        out = {**self.cuts.state(), **self.flow.state()}
        if self.lstm_state is not None:
            out.update(lstm_h=self.lstm_state[0], lstm_c=self.lstm_state[1])  # tensors; saved as arrays
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.cuts.load(state)
        self.flow.load(state)
        if "lstm_h" in state:
            dev = self.engine.device
            self.lstm_state = (torch.from_numpy(state["lstm_h"]).to(dev), torch.from_numpy(state["lstm_c"]).to(dev))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` consecutive items (the last one shorter): the one batching loop of the film path."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def colorize_frames(frames: Iterable[np.ndarray], colorizer: StreamColorizer, batch_size: int) -> Iterator[np.ndarray]:
    """Synchronous helper: (H, W, 3) uint8 frames in, colorized frames out (evaluation, tests)."""
    for batch in batched(frames, batch_size):
        yield from colorizer(batch)
