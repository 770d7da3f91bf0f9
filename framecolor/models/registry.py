"""Names -> colorizer checkpoints; checkpoint save/load (safetensors + JSON sidecar, hash-checked)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


from ..config import MODEL_NAMES, PHOTO_MODEL, VIDEO_MODEL, ColorizerConfig
from ..io import atomic_write
from .colorizer import Colorizer
from .embedders import BUNDLED_DIR, WeightsError, build_backbone, build_embedder, sha256_file

# Shipped colorizers: name -> safetensors file in framecolor/weights (JSON sidecar beside it).
COLORIZERS: dict[str, str] = {name: f"{name}.safetensors" for name in MODEL_NAMES}
DEFAULT_MODEL = PHOTO_MODEL  # photographs; film defaults to VIDEO_MODEL (see config.py)


def sidecar(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A registry name or a path to a .safetensors checkpoint -> the file, with a clear error if absent."""
    key = str(name_or_path)
    if key in COLORIZERS:
        path = BUNDLED_DIR / COLORIZERS[key]
        if not path.is_file():
            raise WeightsError(f"model {key!r} is registered but its weights {path} are not in this install")
        return path
    path = Path(key)
    if path.suffix != ".safetensors":
        raise WeightsError(f"{key}: not a known model name ({', '.join(COLORIZERS)}) nor a .safetensors file")
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    return path


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    meta_path = sidecar(path)
    if not meta_path.is_file():
        raise WeightsError(f"{path}: its config {meta_path.name} is missing beside it")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"{meta_path}: not valid JSON ({e})") from e


def save_checkpoint(model: Colorizer, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Write weights (safetensors) and a JSON sidecar with config and sha256, both atomically."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.trainable_state_dict().items()}
    atomic_write(path, save(tensors))
    meta = dict(meta or {})
    meta["config"] = model.config.to_dict()
    meta["sha256"] = sha256_file(path)
    atomic_write(sidecar(path), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_checkpoint(name_or_path: str | os.PathLike, embedder_weights: str | None = None,
                    pretrained_embedder: bool = True) -> Colorizer:
    """Rebuild a colorizer from its checkpoint (config from the sidecar), verifying the file's sha256."""
    from safetensors.torch import load_file

    path = resolve_checkpoint(name_or_path)
    meta = read_meta(path)
    if meta.get("sha256") and sha256_file(path) != meta["sha256"]:
        raise WeightsError(f"{path}: sha256 does not match {sidecar(path).name}; the file is corrupt or was changed")
    try:
        config = ColorizerConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{sidecar(path)}: bad colorizer config ({e.__class__.__name__}: {e})") from e
    model = build_model(config, pretrained_embedder, embedder_weights)
    try:
        state = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from e
    missing, unexpected = load_weights_into(model, state)
    missing = [k for k in missing if not k.startswith(("embedder.", "backbone."))]
    if missing or unexpected:
        raise WeightsError(f"{path}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def load_weights_into(model: Colorizer, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """A checkpoint's tensors into `model` (non-strict: checkpoints leave out the frozen classifier); a
    U-Net also notes which backbone stages the checkpoint holds, as fine-tuned ones that its own
    checkpoints must keep. Returns load_state_dict's (missing, unexpected) keys."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if hasattr(model, "note_tuned"):
        model.note_tuned(state)
    return missing, unexpected


def build_model(config: ColorizerConfig, pretrained_embedder: bool = True,
                embedder_weights: str | None = None) -> Colorizer:
    """A fresh (untrained) colorizer for `config`: the thesis's model family, or its U-Net variant."""
    if config.unet is not None:
        from .unet import UNetColorizer
        return UNetColorizer(config, *build_backbone(config.embedder, embedder_weights, pretrained_embedder))
    embedder = None
    if config.embedder is not None:
        embedder = build_embedder(config.embedder, embedder_weights, pretrained=pretrained_embedder)
    return Colorizer.from_config(config, embedder)

