"""Numeric precision: the one autocast helper (inference, film and training) and where bf16 pays."""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from .config import PRECISIONS

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device | str, precision: str):
    """fp32 -> no autocast; bf16/fp16 -> torch.autocast on `device`'s type."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[precision])


def training_precision(bf16: bool) -> str:
    """A training config's `bf16` switch as a precision name."""
    return "bf16" if bf16 else "fp32"


def default_precision(device: torch.device) -> str:
    """What a model runs at when no precision is asked for: bf16 on a GPU, fp32 on the CPU (the photo
    and film outputs of the CPU are fp32's)."""
    return "bf16" if device.type == "cuda" else "fp32"


def bf16_native() -> bool:
    """bf16 autocast pays on the CPU only where it has native bf16 (AVX-512 BF16 or AMX); emulated it
    is far slower than fp32. Always on a CUDA GPU."""
    if torch.cuda.is_available():
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags
