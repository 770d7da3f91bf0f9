"""Full-resolution colour conversion of video frames and 8-bit photos on the CPU, with OpenCV and numpy.

The same numbers as `color.py` (D65, scikit-image constants) to well under one 8-bit level, at a
small fraction of the cost of the torch functions on the CPU: a 256-entry table for L* from uint8
sRGB, and OpenCV's float Lab -> sRGB for the merge. One frame at a time, so the temporaries stay
small. The GPU path and 16-bit photos keep the torch functions.

Shapes: frames are (H, W, 3) uint8 RGB or (H, W) uint8 grey levels; L* is (H, W) float32 in [0, 100]; a*b* is (h, w, 2) float32.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from .color import _XYZ_FROM_RGB, srgb_to_linear

_LEVELS = torch.arange(256, dtype=torch.float64) / 255
# Linear-light luminance contributed by each 8-bit level of R, G and B: (1, 256, 3) for cv2.LUT.
_Y_LUT = (srgb_to_linear(_LEVELS)[:, None] * _XYZ_FROM_RGB[1]).float().numpy().reshape(1, 256, 3)
_ONES = np.ones((1, 3), np.float32)
_EPS, _KAPPA = 0.008856, 903.3  # CIE: L* = 116 Y^(1/3) - 16 above EPS, KAPPA * Y below


def _l_from_y(y: torch.Tensor) -> torch.Tensor:
    return torch.where(y > _EPS, 116 * y.clamp(min=_EPS) ** (1 / 3) - 16, _KAPPA * y)


# L* of each 8-bit grey level (R = G = B): a grey frame needs only this table.
L_OF_GRAY = _l_from_y(srgb_to_linear(_LEVELS)).float().numpy()


def l_from_rgb8_array(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W) float32 L*: per-channel tables summed to Y, then the CIE curve
    (the torch twin is color.l_from_rgb8_tensor)."""
    y = cv2.transform(cv2.LUT(rgb, _Y_LUT), _ONES)
    low = y <= _EPS
    toe = _KAPPA * y[low]
    np.cbrt(y, out=y)
    y *= 116
    y -= 16
    y[low] = toe
    return y


def l_from_pixels(pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB or (H, W) uint8 grey level (R = G = B) -> (H, W) float32 L* (into `out`)."""
    if pixels.ndim == 2:
        return cv2.LUT(pixels, L_OF_GRAY.reshape(1, 256), dst=out)
    L = l_from_rgb8_array(np.ascontiguousarray(pixels))
    if out is None:
        return L
    out[...] = L
    return out


def lab_to_rgb8(L: np.ndarray, ab: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float32 L* and (h, w, 2) float32 a*b* at working size -> (H, W, 3) uint8 sRGB."""
    return LabToRGB8()(L, ab, out)


class LabToRGB:
    """The full-resolution merge: a*b* upsampled to L*'s size, then Lab -> float sRGB, keeping its
    float temporaries from call to call, so a video does not pay for fresh (page-faulting) buffers on
    every frame. One per thread; the result is a view of an internal buffer, valid until the next call.

    a*b* are upsampled bilinearly (half-pixel centres, as torch's align_corners=False). b* is capped
    where f(Z) would go below 0, the clip that color.lab_to_rgb (and scikit-image) apply; OpenCV
    does not, which would brighten red in dark, very yellow pixels.
    """

    def __init__(self):
        self.shape, self.up, self.lab, self.rgb, self.cap = None, None, None, None, None

    def _buffers(self, shape: tuple[int, int]) -> None:
        if shape != self.shape:
            self.shape = shape
            self.up = np.empty((*shape, 2), np.float32)
            self.lab, self.rgb = np.empty((*shape, 3), np.float32), np.empty((*shape, 3), np.float32)
            self.cap = np.empty(shape, np.float32)

    def __call__(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        H, W = L.shape
        self._buffers((H, W))
        cv2.resize(ab, (W, H), dst=self.up, interpolation=cv2.INTER_LINEAR)
        np.multiply(L, 200 / 116, out=self.cap)
        self.cap += 16 * 200 / 116
        lab = self.lab
        lab[..., 0] = L
        lab[..., 1] = self.up[..., 0]
        np.minimum(self.up[..., 1], self.cap, out=lab[..., 2])
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=self.rgb)  # float32, about [0, 1], sRGB, D65


class LabToRGB8(LabToRGB):
    """LabToRGB rounded to uint8 (nearest, saturating)."""

    def __call__(self, L: np.ndarray, ab: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return cv2.convertScaleAbs(super().__call__(L, ab), dst=out, alpha=255.0)
