"""Training-free temporal consistency: scene-cut detection and the optical-flow a*b* carry.

Both work on the working-size L* frame as uint8 (L* * 2.55) and keep only the previous frame,
so their state is a few small arrays that can be saved with a chunk and restored on resume.
"""
from __future__ import annotations

import numpy as np

from ..config import FLOW_STRENGTH
from ..metrics import occlusion_mask, warp


def luma_histogram(gray: np.ndarray, bins: int = 32) -> np.ndarray:
    """(h, w) uint8 -> (bins,) probability histogram."""
    h = np.bincount((gray.ravel().astype(np.int64) * bins) >> 8, minlength=bins).astype(np.float64)
    return h / max(h.sum(), 1.0)


class SceneCuts:
    """A cut is a jump in the luminance histogram: total-variation distance above `threshold`."""

    def __init__(self, threshold: float = 0.4, bins: int = 32):
        self.threshold, self.bins = threshold, bins
        self.prev: np.ndarray | None = None

    def __call__(self, gray: np.ndarray) -> bool:
        hist = luma_histogram(gray, self.bins)
        cut = self.prev is not None and 0.5 * float(np.abs(hist - self.prev).sum()) > self.threshold
        self.prev = hist
        return cut

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.prev is None else {"cut_hist": self.prev}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.prev = state.get("cut_hist")


class FlowCarry:
    """Carry the previous output a*b* along DIS optical flow on L*, and blend it with the new
    prediction where the forward-backward check and the brightness match say the warp is reliable.

    alpha is the weight of the carried colour on reliable pixels (an exponential moving average
    along motion trajectories); unreliable pixels (occlusions, new content) take the prediction.
    """

    def __init__(self, alpha: float = FLOW_STRENGTH, preset: str = "fast"):
        import cv2

        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"flow strength must be between 0 and 1, got {alpha}")
        self.preset = presets[preset]
        self.alpha = alpha
        self.prev_gray: np.ndarray | None = None
        self.prev_ab: np.ndarray | None = None

    def reset(self) -> None:
        self.prev_gray = self.prev_ab = None

    def __call__(self, gray: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """gray (h, w) uint8, ab (2, h, w) float32 prediction -> (2, h, w) blended a*b*."""
        if self.prev_gray is not None:
            ab = self._blend(gray, ab)
        self.prev_gray, self.prev_ab = gray, ab
        return ab

    def _blend(self, gray: np.ndarray, ab: np.ndarray) -> np.ndarray:
        import cv2

        fwd = self._flow(gray, self.prev_gray)  # t -> t-1, for backward warping
        bwd = self._flow(self.prev_gray, gray)
        reliable = occlusion_mask(fwd, bwd).astype(np.float32)
        diff = np.abs(gray.astype(np.float32) - warp(self.prev_gray, fwd))
        weight = reliable * np.exp(-diff / 12.0)
        weight = cv2.GaussianBlur(weight, (0, 0), 1.5) * self.alpha
        carried = warp(self.prev_ab.transpose(1, 2, 0), fwd).transpose(2, 0, 1)
        return (weight * carried + (1 - weight) * ab).astype(np.float32)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        # A fresh DIS instance per call: one that is reused keeps internal buffers that nudge its
        # next result, and a resumed run would then differ from an uninterrupted one.
        return cv2.DISOpticalFlow_create(self.preset).calc(a, b, None)

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.prev_gray is None else {"flow_gray": self.prev_gray, "flow_ab": self.prev_ab}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.prev_gray, self.prev_ab = state.get("flow_gray"), state.get("flow_ab")
