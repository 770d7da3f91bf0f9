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


# Rows of the full-resolution merge done at once: its float temporaries (about 40 bytes a pixel) stay
# near 20 MB whatever the photo's size.
STRIP_PIXELS = 1 << 19


class RowUpsampler:
    """a*b* at working size upsampled to (H, W) a strip of rows at a time, bit for bit what
    `cv2.resize(ab, (W, H), interpolation=cv2.INTER_LINEAR)` gives for those rows: OpenCV resizes each
    source row across first (done here once, (h, W, 2): small), then blends two such rows per output
    row as S0 * (1 - f) + S1 * f, in float32, with the source rows clamped to the picture
    (tests/test_images_large.py checks the equality)."""

    def __init__(self, ab: np.ndarray, shape: tuple[int, int]):
        h, (H, W) = ab.shape[0], shape
        self.across = cv2.resize(ab, (W, h), interpolation=cv2.INTER_LINEAR)  # (h, W, 2)
        fy = ((np.arange(H) + 0.5) * (h / H) - 0.5).astype(np.float32)
        sy = np.floor(fy)
        self.b1 = (fy - sy).astype(np.float32)[:, None, None]
        self.b0 = (np.float32(1) - self.b1).astype(np.float32)
        self.s0 = np.clip(sy.astype(np.int64), 0, h - 1)
        self.s1 = np.clip(sy.astype(np.int64) + 1, 0, h - 1)

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """(r1 - r0, W, 2) float32 a*b* of output rows r0..r1."""
        out = self.across[self.s0[r0:r1]] * self.b0[r0:r1]
        out += self.across[self.s1[r0:r1]] * self.b1[r0:r1]
        return out


def merge_rows8(L: np.ndarray, ab: np.ndarray, out: np.ndarray) -> None:
    """A strip's merge: (n, W) float32 L* and (n, W, 2) float32 a*b* at full size -> `out`, (n, W, 3)
    uint8 sRGB: the numbers of LabToRGB followed by images.to_array (nearest, saturating)."""
    cap = np.multiply(L, 200 / 116)
    cap += 16 * 200 / 116
    lab = np.empty((*L.shape, 3), np.float32)
    lab[..., 0] = L
    lab[..., 1] = ab[..., 0]
    np.minimum(ab[..., 1], cap, out=lab[..., 2])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB, dst=lab)
    np.maximum(rgb, 0, out=rgb)
    out[...] = cv2.convertScaleAbs(rgb, alpha=255.0)


def strips(height: int, width: int, pixels: int = STRIP_PIXELS) -> list[tuple[int, int]]:
    """(r0, r1) row ranges of about `pixels` pixels each, covering `height` rows."""
    rows = max(1, pixels // width)
    return [(r0, min(height, r0 + rows)) for r0 in range(0, height, rows)]
