"""Image and video colour metrics: PSNR, SSIM, colourfulness, CDC, warp error.

Images are (H, W, 3) float arrays in [0, 1] (numpy) unless stated otherwise.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB over RGB in [0, 1]; inf for identical images."""
    mse = float(np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM over the RGB channels (scikit-image, Gaussian window as in Wang et al. 2004)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(pred, target, channel_axis=2, data_range=1.0,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness M on 0-255 RGB: sigma_rgyb + 0.3 * mu_rgyb."""
    x = rgb.astype(np.float64) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _channel_hists(frame: np.ndarray, bins: int = 256) -> np.ndarray:
    """(H, W, 3) in [0, 1] -> (3, bins) per-channel probability histograms."""
    q = np.clip((frame * 255.0).round(), 0, 255).astype(np.int64)
    h = np.stack([np.bincount(q[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)
    if bins != 256:
        h = h.reshape(3, bins, 256 // bins).sum(-1)
    return h / h.sum(axis=1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (natural log) between two probability vectors."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc(frames: Sequence[np.ndarray], steps: Sequence[int] = (1, 2, 4)) -> float:
    """Colour distribution consistency (TCVC, ColorMNet): mean over d of the mean JS divergence
    between per-channel 256-bin histograms of frames t and t+d. Lower is steadier."""
    hists = [_channel_hists(f) for f in frames]
    per_step = []
    for d in steps:
        if len(hists) <= d:
            continue
        per_step.append(np.mean([np.mean([js_divergence(hists[t][c], hists[t + d][c]) for c in range(3)])
                                 for t in range(len(hists) - d)]))
    if not per_step:
        raise ValueError(f"CDC needs more than {min(steps)} frames, got {len(hists)}")
    return float(np.mean(per_step))


def flow_dis(prev_gray: np.ndarray, next_gray: np.ndarray) -> np.ndarray:
    """Dense optical flow (OpenCV DIS, medium preset) from uint8 grey frames -> (H, W, 2) float32."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(prev_gray, next_gray, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp `image` (H, W, C) with `flow` (H, W, 2) given from the target to the source frame."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(fwd: np.ndarray, bwd: np.ndarray, alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Forward-backward consistency check (Sundaram et al. 2010): True where the flow is reliable.

    fwd: flow t -> t-1 sampled at t; bwd: flow t-1 -> t sampled at t-1.
    """
    bwd_at_fwd = warp(bwd, fwd)
    diff = fwd + bwd_at_fwd
    lhs = (diff ** 2).sum(-1)
    rhs = alpha * ((fwd ** 2).sum(-1) + (bwd_at_fwd ** 2).sum(-1)) + beta
    return lhs < rhs


def warp_error(frames: Sequence[np.ndarray], grays: Sequence[np.ndarray] | None = None) -> float:
    """Mean squared difference between output t and output t-1 warped to t by flow, over
    non-occluded pixels (flow computed on the grey input frames when given)."""
    import cv2

    if grays is None:
        grays = [cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in frames]
    errs = []
    for t in range(1, len(frames)):
        fwd = flow_dis(grays[t], grays[t - 1])
        bwd = flow_dis(grays[t - 1], grays[t])
        mask = occlusion_mask(fwd, bwd)
        if not mask.any():
            continue
        warped = warp(frames[t - 1], fwd)
        errs.append(float(((frames[t] - warped) ** 2).sum(-1)[mask].mean()))
    if not errs:
        raise ValueError("warp error needs at least two frames with reliable flow")
    return float(np.mean(errs))
