"""sRGB (D65) <-> CIELAB as pure, batched tensor functions (CPU and GPU).

Constants follow scikit-image (`skimage.color.rgb2lab` / `lab2rgb`, illuminant D65, 2 degree
observer) so results agree with it to well under 0.05 in L*, a*, b*.

Shapes: images are (B, 3, H, W) or (3, H, W) with channels first.
"""
from __future__ import annotations

import torch

_XYZ_FROM_RGB = torch.tensor(
    [[0.412453, 0.357580, 0.180423],
     [0.212671, 0.715160, 0.072169],
     [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)

L_SCALE = 50.0  # encoder input: L/50 - 1 in [-1, 1]
AB_SCALE = 128.0  # target: ab/128 in [-1, 1] (tanh output)


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix over the channel axis (-3). Element-wise, not einsum: an einsum is a
    matmul, which autocast would run in bf16 (too coarse for colour, and bf16 breaks antialiased resizing)."""
    c = x.unbind(-3)
    return torch.stack([r[0] * c[0] + r[1] * c[1] + r[2] * c[2] for r in m.tolist()], dim=-3)


def _per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype).view(3, 1, 1)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, lin * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) L* in [0, 100], a*, b* roughly [-128, 127]."""
    xyz = _mix(_XYZ_FROM_RGB, srgb_to_linear(rgb.float())) / _per_channel(_D65, rgb.float())
    f = torch.where(xyz > 0.008856, xyz.clamp(min=0.008856) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) CIELAB -> (..., 3, H, W) sRGB clipped to [0, 1]."""
    lab = lab.float()
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack((a / 500 + fy, fy, (fy - b / 200).clamp(min=0)), dim=-3)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16 / 116) / 7.787) * _per_channel(_D65, lab)
    return linear_to_srgb(_mix(_RGB_FROM_XYZ, xyz).clamp(min=0)).clamp(0, 1)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB -> (..., 3, H, W) neutral grey with the same L* (a* = b* = 0)."""
    L = rgb_to_lab(rgb)[..., :1, :, :]
    return l_to_rgb(L)


def l_to_rgb(L: torch.Tensor) -> torch.Tensor:
    """(..., 1, H, W) L* in [0, 100] -> (..., 3, H, W) neutral grey sRGB (three equal channels)."""
    zeros = torch.zeros_like(L)
    return lab_to_rgb(torch.cat((L, zeros, zeros), dim=-3))


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    """L* in [0, 100] -> encoder input in [-1, 1]."""
    return L / L_SCALE - 1.0


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """a*b* -> training target ab/128."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor, chroma_gain: float = 1.0) -> torch.Tensor:
    """tanh output -> a*b*. chroma_gain=1 is the exact inverse; the thesis used 2 (x256) for vivid colour."""
    return ab_norm * (AB_SCALE * chroma_gain)


_SRGB8_LINEAR = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255).float()  # the 8-bit levels
_Y_ROW = torch.tensor([0.212671, 0.715160, 0.072169])  # Y of _XYZ_FROM_RGB, in float32


def l_from_rgb8_tensor(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 sRGB tensor -> (B, 1, H, W) float32 L*: a 256-entry linearisation table and
    the Y row of the RGB->XYZ matrix, the same numbers as rgb_to_lab at a fraction of its cost
    (the numpy twin is color_cpu.l_from_rgb8_array)."""
    lin = _SRGB8_LINEAR.to(rgb.device)[rgb.long()]
    y = (lin * _Y_ROW.to(rgb.device).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    f = torch.where(y > 0.008856, y.clamp(min=0.008856) ** (1 / 3), 7.787 * y + 16 / 116)
    return 116 * f - 16
