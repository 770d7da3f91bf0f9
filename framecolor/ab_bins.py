"""Quantised a*b* colours for the classification loss of Zhang et al., "Colorful Image Colorization"
(ECCV 2016): bins of side 10, soft encoding over the 5 nearest bins, class rebalancing, and the
annealed-mean decoding. Pure tensor functions (CPU and GPU).

The bins are every 10x10 a*b* cell that some sRGB colour falls in (each of the 256^3 8-bit colours,
converted with framecolor.color, a*b* rounded to the nearest multiple of 10): 261 cells, a* from -90
to 100 and b* from -110 to 90. Zhang et al. published a list of 313 cells (not available offline here);
the list used here is the one this definition gives under framecolor's own colour conversion.
`gamut_bins()` recomputes the list; `BINS_FILE` is its committed copy (tested to match).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

GRID = 10.0
BINS_FILE = Path(__file__).resolve().parent / "data" / "ab_bins.txt"
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
REBALANCE_LAMBDA = 0.5
TEMPERATURE = 0.38


def gamut_bins() -> torch.Tensor:
    """(Q, 2) a*, b* centres of the cells that 8-bit sRGB colours fall in, sorted by (a, b)."""
    from .color import rgb_to_lab

    v = torch.arange(256, dtype=torch.float32) / 255
    g, b = torch.meshgrid(v, v, indexing="ij")
    keys = set()
    for r in range(256):
        lab = rgb_to_lab(torch.stack((torch.full_like(g, r / 255), g, b)))
        q = torch.round(lab[1:] / GRID).to(torch.int64)
        keys.update(torch.unique((q[0] + 32) * 64 + (q[1] + 32)).tolist())
    pts = sorted(((k // 64 - 32) * GRID, (k % 64 - 32) * GRID) for k in keys)
    return torch.tensor(pts, dtype=torch.float32)


@lru_cache(maxsize=1)
def bin_centres() -> torch.Tensor:
    """(Q, 2) the committed bin centres (a*, b*)."""
    rows = [line.split() for line in BINS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    return torch.tensor([[float(a), float(b)] for a, b in rows])


def _soft_exact(flat: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = torch.cdist(flat, centres.to(flat)).square()
    dist, idx = d2.topk(SOFT_NEIGHBOURS, dim=1, largest=False)
    return torch.softmax(-dist / (2 * SOFT_SIGMA ** 2), dim=1), idx


_LUT: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _soft_table(centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """soft encodings of every integer (a*, b*) in [-128, 127]^2: (65536, K) weights and indices."""
    key = (centres.device, tuple(centres.flatten().tolist()))
    if key not in _LUT:
        g = torch.arange(-128, 128, dtype=torch.float32, device=centres.device)
        grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
        _LUT[key] = _soft_exact(grid, centres)
    return _LUT[key]


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, exact: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, H, W) a*b* -> (B, K, H, W) Gaussian weights (sigma 5) of the K=5 nearest bins, and their
    (B, K, H, W) bin indices. Weights sum to 1 per pixel. By default a*b* are rounded to integers and
    looked up in a table (at most 0.71 from the exact point, against a kernel of sigma 5), instead of
    the distances to every bin per pixel, which `exact=True` computes."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    if exact:
        w, idx = _soft_exact(flat, centres)
    else:
        q = flat.round().clamp(-128, 127).long() + 128
        table_w, table_i = _soft_table(centres.to(flat.device))
        key = q[:, 0] * 256 + q[:, 1]
        w, idx = table_w[key], table_i[key]
    b, _, h, wd = ab.shape
    shape = (b, h, wd, SOFT_NEIGHBOURS)
    return w.view(shape).permute(0, 3, 1, 2), idx.view(shape).permute(0, 3, 1, 2)


def rebalance_weights(counts: torch.Tensor, centres: torch.Tensor, lam: float = REBALANCE_LAMBDA) -> torch.Tensor:
    """(Q,) pixel counts per bin -> (Q,) class weights: the empirical distribution smoothed by a Gaussian
    of sigma 5 over the a*b* plane, mixed with the uniform by `lam`, inverted, normalised so that the
    expected weight under the smoothed distribution is 1 (Zhang et al., eq. 4)."""
    p = counts.double() / counts.sum().clamp(min=1)
    d2 = torch.cdist(centres.double(), centres.double()).square()
    k = torch.exp(-d2 / (2 * SOFT_SIGMA ** 2))
    p = (k / k.sum(1, keepdim=True)) @ p
    w = 1.0 / ((1 - lam) * p + lam / len(p))
    return (w / (p * w).sum()).float()


def bins_loss(logits: torch.Tensor, ab: torch.Tensor, centres: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class-rebalanced cross-entropy. logits (B, Q, h, w); ab (B, 2, H, W) true a*b*, area-averaged to
    (h, w) first. Each pixel's weight is the class weight of its nearest bin."""
    if ab.shape[-2:] != logits.shape[-2:]:
        ab = F.adaptive_avg_pool2d(ab, logits.shape[-2:])
    soft, idx = soft_encode(ab, centres)
    logp = torch.log_softmax(logits.float(), dim=1)
    nll = -(soft * logp.gather(1, idx)).sum(1)  # (B, h, w)
    return (weights.to(logits.device)[idx[:, 0]] * nll).mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """(B, Q, h, w) logits -> (B, 2, h, w) a*b*: the mean of the distribution re-sharpened by
    p^(1/T) (T = 0.38, Zhang et al.), between the mean (T = 1) and the mode (T -> 0)."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centres.to(p))
