"""Keras's InceptionResNetV2 weights -> timm ``inception_resnet_v2`` state dict (the thesis's classifier).

The file is loaded into ``keras.applications.InceptionResNetV2`` by Keras itself (legacy .h5 such as
``inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5``, a full-model .h5, or .keras), then
read structurally, never by Keras's automatic layer names (conv2d_17 in one session is conv2d_261
in the next). Both networks list their convs in the same order:

    stem:   conv2d_1a, conv2d_2a, conv2d_2b, conv2d_3b, conv2d_4a   (walked back from mixed_5b)
    blocks: each Concatenate's inputs in order (branch 0, 1, 2, ...), each branch's convs from
            input to output; then, in residual blocks, the 1x1 "up" conv with bias
            Keras mixed_5b, block35_1..10, mixed_6a, block17_1..20, mixed_7a, block8_1..9, block8_10
            timm  mixed_5b, repeat.0..9,   mixed_6a, repeat_1.0..19, mixed_7a, repeat_2.0..8, block8
    head:   conv_7b -> conv2d_7b; predictions (Dense, kernel transposed) -> classif

Keras's BatchNormalization here has no scale (gamma = 1) and epsilon 0.001, as timm's. Padding
agrees: every stride-2 conv and pool is 'valid' in both, every 'same' conv has stride 1 and an
odd kernel (symmetric padding), and the 3x3 average pool excludes the padding in both.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.embedders import WeightsError
from .transfer import hwio_to_oihw

BN_EPS = 1e-3


def _block_names() -> list[tuple[str, bool]]:
    """(Keras block name, residual?) in data-flow order."""
    names = [("mixed_5b", False)] + [(f"block35_{i}", True) for i in range(1, 11)]
    names += [("mixed_6a", False)] + [(f"block17_{i}", True) for i in range(1, 21)]
    names += [("mixed_7a", False)] + [(f"block8_{i}", True) for i in range(1, 11)]
    return names


def _producer(tensor):
    return tensor._keras_history.operation


def _branch(tensor) -> list[tuple]:
    """(conv, bn or None) from a block's input to `tensor`, stopping where the block input forks."""
    units, pending_bn, op = [], None, _producer(tensor)
    while type(op).__name__ != "InputLayer" and len(op._outbound_nodes) == 1:
        kind = type(op).__name__
        if kind == "BatchNormalization":
            pending_bn = op
        elif kind == "Conv2D":
            units.append((op, pending_bn))
            pending_bn = None
        op = _producer(op.input)
    return units[::-1]


def keras_units(kmodel, source: str = "Keras model") -> list[tuple]:
    """The Keras model's (conv or dense, bn or None) in timm's order."""
    try:
        mixed_5b = kmodel.get_layer("mixed_5b")
        units = _branch(_fork(mixed_5b.input[0]).input)  # the stem ends in the pool that mixed_5b forks
        for name, residual in _block_names():
            concat = kmodel.get_layer(f"{name}_mixed" if residual else name)
            for t in concat.input:
                units += _branch(t)
            if residual:
                units.append((kmodel.get_layer(f"{name}_conv"), None))
        units.append((kmodel.get_layer("conv_7b"), kmodel.get_layer("conv_7b_bn")))
        units.append((kmodel.get_layer("predictions"), None))
    except ValueError as e:  # get_layer: no such layer
        raise WeightsError(f"{source}: does not fit Keras's InceptionResNetV2 ({e})") from e
    return units


def _fork(tensor):
    """The layer upstream of `tensor` whose output feeds several branches (a block's input)."""
    op = _producer(tensor)
    while len(op._outbound_nodes) == 1:
        op = _producer(op.input)
    return op


def timm_units(model: nn.Module) -> list[tuple[str, str]]:
    """(module name, kind) of timm's inception_resnet_v2 in module order: convbn, conv or linear."""
    units = []
    for name, m in model.named_modules():
        if isinstance(getattr(m, "conv", None), nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
            units.append((name, "convbn"))
        elif isinstance(m, nn.Conv2d) and not name.endswith(".conv"):
            units.append((name, "conv"))
        elif isinstance(m, nn.Linear):
            units.append((name, "linear"))
    return units


def keras_to_timm_state(kmodel, model: nn.Module, source: str) -> dict[str, torch.Tensor]:
    """State dict for timm's `model` from the Keras InceptionResNetV2 `kmodel`; checks every shape."""
    ours, theirs = keras_units(kmodel, source), timm_units(model)
    if len(ours) != len(theirs):
        raise WeightsError(f"{source}: {len(ours)} conv/dense layers, timm's inception_resnet_v2 has {len(theirs)}")
    target, state = model.state_dict(), {}
    for (layer, bn), (name, kind) in zip(ours, theirs):
        part = _unit_state(layer, bn, name, kind, source)
        for k, v in part.items():
            if target[k].shape != v.shape:
                raise WeightsError(f"{source}: layer {layer.name!r} gives {k} the shape {tuple(v.shape)}, "
                                   f"timm expects {tuple(target[k].shape)}")
        state.update(part)
    return state


def _unit_state(layer, bn, name: str, kind: str, source: str) -> dict[str, torch.Tensor]:
    weights = [np.asarray(w) for w in layer.get_weights()]
    if kind == "linear":
        return {f"{name}.weight": torch.from_numpy(weights[0].T.copy()), f"{name}.bias": torch.from_numpy(weights[1])}
    if kind == "conv":
        return {f"{name}.weight": hwio_to_oihw(weights[0]), f"{name}.bias": torch.from_numpy(weights[1])}
    if bn is None:
        raise WeightsError(f"{source}: layer {layer.name!r} has no BatchNormalization after it; timm's {name} has one")
    return {f"{name}.conv.weight": hwio_to_oihw(weights[0]), **_bn_state(bn, f"{name}.bn", source)}


def _bn_state(bn, prefix: str, source: str) -> dict[str, torch.Tensor]:
    if abs(bn.epsilon - BN_EPS) > 1e-9:
        raise WeightsError(f"{source}: layer {bn.name!r} has epsilon {bn.epsilon}; timm's uses {BN_EPS}")
    beta = np.asarray(bn.beta.numpy())
    gamma = np.asarray(bn.gamma.numpy()) if bn.gamma is not None else np.ones_like(beta)
    return {f"{prefix}.weight": torch.from_numpy(gamma), f"{prefix}.bias": torch.from_numpy(beta),
            f"{prefix}.running_mean": torch.from_numpy(np.asarray(bn.moving_mean.numpy())),
            f"{prefix}.running_var": torch.from_numpy(np.asarray(bn.moving_variance.numpy())),
            f"{prefix}.num_batches_tracked": torch.tensor(0, dtype=torch.long)}


def load_keras_irv2(path: str | os.PathLike):
    """keras.applications.InceptionResNetV2 holding the weights of `path` (.h5 or .keras)."""
    import warnings

    from . import require_keras

    keras = require_keras()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        if path.suffix == ".keras":  # a whole saved model: use it as it is (safe_mode: no code from the file)
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        kmodel = keras.applications.InceptionResNetV2(weights=None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kmodel.load_weights(path)
    except Exception as e:  # noqa: BLE001 - any reader failure is a problem with this file
        raise WeightsError(f"{path}: does not fit Keras's InceptionResNetV2 ({e.__class__.__name__}: {e})") from e
    skipped = [str(w.message) for w in caught if "Skipping" in str(w.message) or "not loaded" in str(w.message)]
    if skipped:
        raise WeightsError(f"{path}: does not fit Keras's InceptionResNetV2 ({skipped[0]})")
    return kmodel


def convert_backbone(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Keras InceptionResNetV2 weights file -> safetensors for build_embedder('inception_resnet_v2', weights=dst)."""
    import timm
    from safetensors.torch import save

    from ..io import atomic_write

    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise ValueError(f"{dst}: output must end in .safetensors")
    kmodel = load_keras_irv2(src)
    model = timm.create_model("inception_resnet_v2", pretrained=False)
    state = keras_to_timm_state(kmodel, model, str(src))  # WeightsError names the file
    model.load_state_dict(state, strict=True)
    meta = {"source": Path(src).name, "converted_by": "framecolor convert-backbone", "arch": "timm:inception_resnet_v2"}
    atomic_write(dst, save({k: v.contiguous() for k, v in state.items()}, metadata=meta))
    return dst
