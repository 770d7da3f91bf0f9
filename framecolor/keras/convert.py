"""Keras colorizer files (.h5, .keras) <-> framecolor checkpoints (.safetensors + JSON sidecar).

Keras -> framecolor reads, in this order of preference:
- a full model (.keras, or .h5 as ``model.save`` / ModelCheckpoint write it, a second input for the
  embedding): its layers give the architecture, which becomes the checkpoint's config;
- a weights-only .h5 (``model.save_weights``): the thesis architecture is assumed and the Conv2D
  weights are taken in the file's layer order.
How the file's encoder pads its stride-2 convs (ZeroPadding2D + "valid", or TensorFlow's "same")
and what it is fed (an L/50 - 1 Rescaling layer, or L* unscaled) become the config's ``padding``
and ``l_input``; the weights are copied unchanged, so the checkpoint computes what the file computes.
Files are never executed: no Lambda layers or custom objects are deserialised (safe_mode).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..color import L_SCALE
from ..config import THESIS_DECODER, THESIS_ENCODER, ColorizerConfig
from ..models.colorizer import Colorizer
from ..io import atomic_output
from ..models.embedders import WeightsError
from .transfer import KerasConv, check_convs, keras_to_torch_state, torch_to_keras_weights

KERAS_SUFFIXES = (".h5", ".keras")
DEFAULT_EMBEDDER = "inception_resnet_v2"  # the thesis's classifier; Keras's has 1000 classes


@dataclass
class KerasColorizer:
    """What a Keras colorizer file holds, in framecolor's terms."""

    config: ColorizerConfig  # its padding and l_input say how the file's encoder pads and what it is fed
    convs: list[KerasConv]
    style: str  # "framecolor" (written by framecolor), "thesis" (any other full model), or "weights-only"
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading Keras files

def read_keras_colorizer(path: str | os.PathLike, name: str | None = None, embedder: str = DEFAULT_EMBEDDER,
                         l_input: str | None = None) -> KerasColorizer:
    """Read a Keras colorizer file; ValueError/WeightsError name the file and the layer that did not fit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix not in KERAS_SUFFIXES:
        raise ValueError(f"{path}: expected a Keras file ({', '.join(KERAS_SUFFIXES)})")
    name = name or path.stem
    kmodel, notes = _load_keras_model(path)
    if kmodel is None:
        found = _from_weights_only(path, name, embedder)
    else:
        found = _from_model(kmodel, str(path), name, embedder)
    found.notes[:0] = notes
    if l_input is not None and found.style != "framecolor":
        found.config = found.config.replace(l_input=l_input)
    found.notes.extend(_config_notes(found.config))
    return found


def _load_keras_model(path: Path):
    """(keras.Model, notes) for a full model file, (None, notes) for a weights-only .h5."""
    from .models import keras  # registers TileEmbedding

    if path.suffix == ".h5":
        kind = _h5_kind(path)
        if kind == "weights":
            return None, []
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True), []
    except Exception as e:  # noqa: BLE001 - any reader failure is a problem with this file
        if path.suffix == ".h5":
            return None, [f"could not rebuild the model from its config ({e.__class__.__name__}: {e}); "
                          "its weights were read in layer order and the thesis architecture assumed"]
        raise WeightsError(f"{path}: not a readable Keras model ({e.__class__.__name__}: {e})") from e


def _h5_kind(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "model_config" in f.attrs:
                return "model"
            if "layer_names" in f.attrs or "model_weights" in f:
                return "weights"
            if "layers" in f:
                raise ValueError(f"{path}: a Keras 3 .weights.h5 file holds no layer order; "
                                 "convert the full model (.keras or model.save(...h5)) instead")
    except OSError as e:
        raise WeightsError(f"{path}: not an HDF5 file ({e})") from e
    raise ValueError(f"{path}: an HDF5 file, but not a Keras model or weights file (no model_config, no layer_names)")


def _flat_layers(kmodel) -> list:
    """Layers in data-flow order, nested models (Sequential encoder/decoder) expanded."""
    out = []
    for layer in kmodel.layers:
        out.extend(_flat_layers(layer) if hasattr(layer, "layers") else [layer])
    return out


def _from_model(kmodel, source: str, name: str, embedder: str) -> KerasColorizer:
    layers = _flat_layers(kmodel)
    _check_weighted_layers(layers, source)
    kinds = [type(layer).__name__ for layer in layers]
    convs = [_keras_conv(layer, source) for layer in layers if type(layer).__name__ == "Conv2D"]
    if not convs:
        raise ValueError(f"{source}: no Conv2D layers; not a colorizer")
    fusion = "Concatenate" in kinds or len(kmodel.inputs) == 2
    _check_inputs(kmodel, source, fusion)
    padding = _padding(layers, source)
    config = _infer_config(layers, convs, source, name, embedder if fusion else None)
    config = config.replace(padding=padding, l_input="normalized" if "Rescaling" in kinds else "raw")
    if fusion:
        _match_concat_order(layers, convs, config, source)
    check_convs(convs, config, source)
    style = "framecolor" if any(layer.name == "encoder_conv1" for layer in layers) else "thesis"
    return KerasColorizer(config, convs, style)


def _match_concat_order(layers: list, convs: list[KerasConv], config: ColorizerConfig, source: str) -> None:
    """framecolor concatenates [features, embedding]; a model built [embedding, features] gets its
    fusion kernel's input channels rotated to match."""
    concat = next(layer for layer in layers if type(layer).__name__ == "Concatenate")
    widths = [int(t.shape[-1]) for t in concat.input]
    if widths == [config.embed_dim, config.encoder[-1][0]] and widths[0] != widths[1]:
        fusion = convs[len(config.encoder)]
        fusion.kernel = np.concatenate([fusion.kernel[:, :, widths[0]:], fusion.kernel[:, :, :widths[0]]], axis=2)
    elif widths != [config.encoder[-1][0], config.embed_dim]:
        raise ValueError(f"{source}: layer {concat.name!r} joins inputs of {widths} channels; expected the "
                         f"{config.encoder[-1][0]} encoder features and the {config.embed_dim}-d embedding")


def _check_weighted_layers(layers: list, source: str) -> None:
    for layer in layers:
        if layer.weights and type(layer).__name__ != "Conv2D":
            hint = " (for Keras's InceptionResNetV2 use `framecolor convert-backbone`)" \
                if type(layer).__name__ in ("BatchNormalization", "Dense") else ""
            raise ValueError(f"{source}: layer {layer.name!r} ({type(layer).__name__}) has weights; the thesis "
                             f"colorizer has weights only in Conv2D layers, so this is not a colorizer{hint}")


def _check_inputs(kmodel, source: str, fusion: bool) -> None:
    shapes = [tuple(t.shape) for t in kmodel.inputs]
    image = [s for s in shapes if len(s) == 4]
    if len(image) != 1 or image[0][-1] != 1:
        raise ValueError(f"{source}: inputs {shapes}; a colorizer takes one (H, W, 1) L* image"
                         + (" and one (E,) embedding" if fusion else ""))
    if fusion and (len(shapes) != 2 or not any(len(s) == 2 for s in shapes)):
        raise ValueError(f"{source}: inputs {shapes}; a fusion colorizer takes (H, W, 1) L* and (E,) embedding")


def _keras_conv(layer, source: str) -> KerasConv:
    weights = layer.get_weights()
    sh, sw = layer.strides
    if sh != sw:
        raise ValueError(f"{source}: layer {layer.name!r} has strides {layer.strides}; the colorizer uses square strides")
    act = getattr(layer.activation, "__name__", str(layer.activation))
    return KerasConv(layer.name, np.asarray(weights[0]), np.asarray(weights[1]) if len(weights) > 1 else None,
                     sh, layer.padding, act)


def _padding(layers: list, source: str) -> str:
    """'symmetric' (a one-pixel ZeroPadding2D before each stride-2 conv) or 'tf_same' (padding='same')."""
    strided = {}  # padding -> name of the first stride-2 conv padded that way
    for prev, layer in zip([None] + layers[:-1], layers):
        kind = type(layer).__name__
        if kind == "ZeroPadding2D":
            if tuple(map(tuple, layer.padding)) != ((1, 1), (1, 1)):
                raise ValueError(f"{source}: layer {layer.name!r} pads {layer.padding}; expected one pixel per side")
        elif kind == "UpSampling2D" and (tuple(layer.size) != (2, 2) or layer.interpolation != "nearest"):
            raise ValueError(f"{source}: layer {layer.name!r} upsamples by {layer.size} ({layer.interpolation}); "
                             "the colorizer uses x2 nearest")
        elif kind == "Rescaling" and not _is_l_norm(layer):
            raise ValueError(f"{source}: layer {layer.name!r} rescales by {layer.scale}, offset {layer.offset}; "
                             f"expected 1/{L_SCALE:g}, offset -1 (L/50 - 1)")
        elif kind == "Conv2D" and layer.padding == "valid" and layer.kernel_size != (1, 1):
            if prev is None or type(prev).__name__ != "ZeroPadding2D":
                raise ValueError(f"{source}: layer {layer.name!r} uses padding='valid' without a ZeroPadding2D "
                                 "before it; the colorizer keeps every conv's output at input size / stride")
        if kind == "Conv2D" and layer.strides[0] != 1:
            strided.setdefault("symmetric" if layer.padding == "valid" else "tf_same", layer.name)
    if len(strided) > 1:
        raise ValueError(f"{source}: stride-2 layer {strided['tf_same']!r} uses padding='same' but "
                         f"{strided['symmetric']!r} a ZeroPadding2D; the colorizer pads all of them one way")
    return next(iter(strided), "symmetric")


def _is_l_norm(layer) -> bool:
    return abs(float(layer.scale) - 1 / L_SCALE) < 1e-9 and abs(float(layer.offset) + 1.0) < 1e-9


def _infer_config(layers: list, convs: list[KerasConv], source: str, name: str,
                  embedder: str | None) -> ColorizerConfig:
    """Encoder = convs before the fusion (or, in the basic CNN, before the conv that precedes the
    first upsampling); decoder = the rest, with 'up' where UpSampling2D layers sit."""
    tokens = []
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            tokens.append(("conv", layer))
        elif kind == "UpSampling2D":
            tokens.append(("up", layer))
        elif kind == "Concatenate":
            tokens.append(("concat", layer))
    kinds = [t for t, _ in tokens]
    if embedder is not None:
        if "concat" not in kinds:
            raise ValueError(f"{source}: two inputs but no Concatenate layer joining features and embedding")
        split = kinds.index("concat")
        enc, fusion_tok, dec = tokens[:split], tokens[split + 1], tokens[split + 2:]
        if fusion_tok[0] != "conv":
            raise ValueError(f"{source}: layer {fusion_tok[1].name!r} follows the fusion Concatenate; expected the 1x1 fusion Conv2D")
    else:
        if "up" not in kinds or kinds.index("up") < 2:
            raise ValueError(f"{source}: no UpSampling2D after the encoder; not a colorizer")
        split = kinds.index("up") - 1
        enc, fusion_tok, dec = tokens[:split], None, tokens[split:]
    if any(t != "conv" for t, _ in enc):
        bad = next(layer for t, layer in enc if t != "conv")
        raise ValueError(f"{source}: layer {bad.name!r} ({type(bad).__name__}) sits inside the encoder")
    encoder = tuple((int(layer.filters), int(layer.strides[0])) for _, layer in enc)
    decoder = tuple("up" if t == "up" else int(layer.filters) for t, layer in dec if t in ("up", "conv"))
    return _make_config(source, name, embedder, encoder, decoder, fusion_tok, dec)


def _make_config(source, name, embedder, encoder, decoder, fusion_tok, dec) -> ColorizerConfig:
    fields = dict(name=name, embedder=embedder, encoder=encoder, decoder=decoder)
    if fusion_tok is not None:
        layer = fusion_tok[1]
        cin = int(layer.get_weights()[0].shape[2])
        fields.update(fusion_channels=int(layer.filters), embed_dim=cin - encoder[-1][0])
        if fields["embed_dim"] <= 0:
            raise ValueError(f"{source}: layer {layer.name!r} takes {cin} channels, no room for an embedding")
    if decoder.count("up") != sum(1 for _, s in encoder if s == 2) or any(s not in (1, 2) for _, s in encoder):
        raise ValueError(f"{source}: encoder strides {[s for _, s in encoder]} and {decoder.count('up')} "
                         "upsamplings do not give an output the size of the input")
    head = [layer for t, layer in dec if t == "conv"][-1:]
    if head and int(head[0].filters) != 2:
        raise ValueError(f"{source}: the last conv {head[0].name!r} gives {head[0].filters} channels; "
                         "a colorizer ends in 2 (a*, b*)")
    try:
        return ColorizerConfig(**fields)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from e


def _from_weights_only(path: Path, name: str, embedder: str) -> KerasColorizer:
    """A weights-only .h5: Conv2D kernels in the file's layer order, the thesis architecture assumed."""
    convs = _h5_convs(path)
    fusion = any(c.kernel.shape[:2] == (1, 1) for c in convs)
    config = ColorizerConfig(name=name, embedder=embedder if fusion else None, encoder=THESIS_ENCODER,
                             decoder=THESIS_DECODER, padding="tf_same", l_input="raw")
    if fusion:
        fusion_conv = next(c for c in convs if c.kernel.shape[:2] == (1, 1))
        config = config.replace(embed_dim=int(fusion_conv.kernel.shape[2]) - THESIS_ENCODER[-1][0],
                                fusion_channels=int(fusion_conv.kernel.shape[3]))
    check_convs(convs, config, str(path))
    note = ("weights-only file: the thesis architecture (padding='same', L* fed unscaled) is assumed; "
            "give --l-input normalized if the model was trained on L/50 - 1")
    return KerasColorizer(config, convs, "weights-only", [note])


def _h5_convs(path: Path) -> list[KerasConv]:
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        convs = []
        for lname in _names(group.attrs["layer_names"]):
            arrays = [np.asarray(group[lname][w]) for w in _names(group[lname].attrs.get("weight_names", []))]
            if not arrays:
                continue
            kernels = [a for a in arrays if a.ndim == 4]
            if len(kernels) != 1 or len(arrays) != 2:
                raise ValueError(f"{path}: layer {lname!r} has weights of shapes {[a.shape for a in arrays]}; "
                                 "the thesis colorizer has only Conv2D layers (kernel + bias), so this is not a colorizer")
            convs.append(KerasConv(lname, kernels[0], next(a for a in arrays if a.ndim == 1)))
    return convs


def _names(raw) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in raw]


def _config_notes(config: ColorizerConfig) -> list[str]:
    notes = []
    if config.padding == "tf_same":
        notes.append("the Keras model pads its stride-2 convs TensorFlow-style (padding='same': bottom/right); "
                     "the checkpoint does too (config padding='tf_same')")
    if config.l_input == "raw":
        notes.append("the Keras model takes L* unscaled (0..100); so does the checkpoint (config l_input='raw'; "
                     "give --l-input normalized if the model was trained on L/50 - 1)")
    return notes


# ---------------------------------------------------------------- conversions

def _torch_model(config: ColorizerConfig, state: dict[str, torch.Tensor]) -> Colorizer:
    """A colorizer without its classifier (nn.Identity stands in): all a checkpoint needs."""
    model = Colorizer.from_config(config, torch.nn.Identity() if config.embedder is not None else None)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(f"mapping bug: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def keras_file_to_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, name: str | None = None,
                             embedder: str = DEFAULT_EMBEDDER, l_input: str | None = None) -> tuple[Path, list[str]]:
    """Convert a Keras colorizer file to a framecolor checkpoint; returns (path, notes for the user)."""
    from ..models.registry import save_checkpoint

    dst = _check_dst(dst, (".safetensors",))
    found = read_keras_colorizer(src, name, embedder, l_input)
    state = keras_to_torch_state(found.convs, found.config, str(src))
    meta = {"converted_from": {"file": Path(src).name, "format": "keras", "style": found.style,
                               "l_input": found.config.l_input, "notes": found.notes}}
    return save_checkpoint(_torch_model(found.config, state), dst, meta), found.notes


def model_to_keras(model: Colorizer, style: str = "framecolor", size: tuple[int, int] | None = None):
    """The Keras model (see framecolor.keras.models) holding `model`'s weights; it computes what `model`
    computes unless export_notes(model.config, style) says otherwise."""
    from .models import build_colorizer

    kmodel = build_colorizer(model.config, style, size)
    keras_l_input = "raw" if style == "thesis" else None  # the thesis layout is fed L* unscaled
    weights = torch_to_keras_weights(model.trainable_state_dict(), model.config, keras_l_input)
    convs = [layer for layer in _flat_layers(kmodel) if type(layer).__name__ == "Conv2D"]
    for layer, (keras_name, arrays) in zip(convs, weights):
        if style == "framecolor" and layer.name != keras_name:
            raise RuntimeError(f"layer order bug: {layer.name} where {keras_name} was expected")
        layer.set_weights(arrays)
    return kmodel


def export_notes(config: ColorizerConfig, style: str) -> list[str]:
    """Where the Keras model of `style` cannot compute exactly what the torch model of `config` does."""
    notes = []
    if style == "thesis" and config.padding != "tf_same":
        notes.append("the thesis layout pads stride-2 convs TensorFlow-style (bottom/right), this model one pixel "
                     "on every side: same weights, but each stride-2 layer samples a grid shifted by one pixel, "
                     "so the outputs differ")
    if style == "thesis" and config.l_input != "raw":
        notes.append("the thesis layout takes L* unscaled: L/50 - 1 is folded into the first conv "
                     "(exact except along the image border)")
    return notes


def checkpoint_to_keras_file(src: str | os.PathLike, dst: str | os.PathLike, style: str = "framecolor",
                             size: tuple[int, int] | None = None) -> tuple[Path, list[str]]:
    """Export a framecolor checkpoint (name or .safetensors) as a Keras file (.keras, or legacy .h5);
    returns (path, notes for the user)."""
    from ..models.registry import load_checkpoint

    dst = _check_dst(dst, KERAS_SUFFIXES)
    model = load_checkpoint(src, pretrained_embedder=False)
    kmodel = model_to_keras(model, style, size)
    with atomic_output(dst) as tmp, warnings.catch_warnings():  # .h5 is "legacy" to Keras 3, but the thesis reads it
        warnings.simplefilter("ignore")
        kmodel.save(tmp)
    return dst, export_notes(model.config, style)


def _check_dst(dst: str | os.PathLike, suffixes: tuple[str, ...]) -> Path:
    dst = Path(dst)
    if dst.suffix not in suffixes:
        raise ValueError(f"{dst}: output must end in {' or '.join(suffixes)}")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"{dst.parent}: output folder does not exist")
    return dst
