"""Weight transfer between the Keras and the PyTorch colorizer, with an explicit layer mapping.

Kernels: Keras Conv2D stores (kh, kw, in, out) ("HWIO"), torch Conv2d (out, in, kh, kw) ("OIHW").
The mapping is ``layer_map(config)``: Keras layer name (framecolor style) -> torch module prefix,
e.g. for the thesis fusion model::

    encoder_conv1..8  -> encoder.0.0 .. encoder.7.0
    fusion_conv       -> fusion.conv.0
    decoder_conv1..5  -> decoder.0.0, decoder.2.0, decoder.3.0, decoder.5.0, decoder.6.0 (tanh head)

Files written by other code (the thesis's scripts) have automatic layer names; their Conv2D layers
are matched in data-flow order (every conv lies on the single path L -> a*b*), and each one is
checked against the shape, stride and activation the config expects, so a file that does not fit
is reported by the name of the first layer that does not.

Weights are copied as they are: how the encoder pads and what it is fed are the config's
(``padding``, ``l_input``), not the weights'. Only exporting a normalized-input model to a Keras
model fed unscaled L* (the thesis layout) folds the scaling into the first conv, W' = W / 50,
b' = b - sum(W): exact away from the image border (the first conv's zero padding means L* = 0 in
the Keras model and L* = 50 in framecolor's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..color import L_SCALE
from ..config import L_INPUTS, ColorizerConfig


@dataclass(frozen=True)
class ConvSpec:
    """What one conv of the colorizer must look like."""

    role: str  # "encoder conv 3", "fusion conv", "decoder conv 6 (a*b* head)"
    keras_name: str
    torch_prefix: str
    kernel: tuple[int, int, int, int]  # HWIO
    stride: int
    activation: str


@dataclass
class KerasConv:
    """One Conv2D read from a Keras model or file; None where the file does not say (weights only)."""

    name: str
    kernel: np.ndarray  # (kh, kw, in, out)
    bias: np.ndarray | None
    stride: int | None = None
    padding: str | None = None
    activation: str | None = None


def conv_specs(config: ColorizerConfig) -> list[ConvSpec]:
    """The colorizer's convs in data-flow order: 8 encoder, 1 fusion (fusion model only), 5 decoder."""
    specs, cin = [], 1
    for i, (cout, stride) in enumerate(config.encoder):
        specs.append(ConvSpec(f"encoder conv {i + 1}", f"encoder_conv{i + 1}", f"encoder.{i}.0",
                              (3, 3, cin, cout), stride, "relu"))
        cin = cout
    if config.embedder is not None:
        cout = config.fusion_channels
        specs.append(ConvSpec("fusion conv (1x1 over features + tiled embedding)", "fusion_conv",
                              "fusion.conv.0", (1, 1, cin + config.embed_dim, cout), 1, "relu"))
        cin = cout
    convs = [i for i, s in enumerate(config.decoder) if s != "up"]
    for n, i in enumerate(convs, start=1):
        cout, head = int(config.decoder[i]), i == convs[-1]
        role = f"decoder conv {n}" + (" (a*b* head)" if head else "")
        specs.append(ConvSpec(role, f"decoder_conv{n}", f"decoder.{i}.0", (3, 3, cin, cout), 1,
                              "tanh" if head else "relu"))
        cin = cout
    return specs


def layer_map(config: ColorizerConfig) -> dict[str, str]:
    """Keras layer name (framecolor style) -> torch module prefix (``<prefix>.weight``, ``.bias``)."""
    return {s.keras_name: s.torch_prefix for s in conv_specs(config)}


def hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))


def oihw_to_hwio(weight: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(weight.detach().cpu().numpy().transpose(2, 3, 1, 0))


def check_convs(convs: list[KerasConv], config: ColorizerConfig, source: str) -> None:
    """Raise ValueError naming the first Keras layer that does not fit the colorizer of `config`."""
    specs = conv_specs(config)
    for conv, spec in zip(convs, specs):
        _check_one(conv, spec, source)
    kind = "fusion colorizer" if config.embedder is not None else "basic CNN colorizer"
    if len(convs) > len(specs):
        raise ValueError(f"{source}: layer {convs[len(specs)].name!r} is one Conv2D too many: the thesis {kind} "
                         f"has {len(specs)} convs ({_census(config)}), this file has {len(convs)}")
    if len(convs) < len(specs):
        last = convs[-1].name if convs else "(none)"
        raise ValueError(f"{source}: only {len(convs)} Conv2D layers (last {last!r}); the thesis {kind} has "
                         f"{len(specs)} ({_census(config)}); missing {specs[len(convs)].role}")


def _census(config: ColorizerConfig) -> str:
    n_dec = sum(1 for s in config.decoder if s != "up")
    fusion = ", 1 fusion" if config.embedder is not None else ""
    return f"{len(config.encoder)} encoder{fusion}, {n_dec} decoder"


def _check_one(conv: KerasConv, spec: ConvSpec, source: str) -> None:
    where = f"{source}: layer {conv.name!r} (the {spec.role})"
    if tuple(conv.kernel.shape) != spec.kernel:
        raise ValueError(f"{where} has kernel {tuple(conv.kernel.shape)} (h, w, in, out), expected {spec.kernel}")
    if conv.bias is None or conv.bias.shape != (spec.kernel[-1],):
        got = None if conv.bias is None else tuple(conv.bias.shape)
        raise ValueError(f"{where} has bias {got}, expected ({spec.kernel[-1]},)")
    if conv.stride is not None and conv.stride != spec.stride:
        raise ValueError(f"{where} has stride {conv.stride}, expected {spec.stride}")
    if conv.activation is not None and conv.activation != spec.activation:
        raise ValueError(f"{where} has activation {conv.activation!r}, expected {spec.activation!r}")


def keras_to_torch_state(convs: list[KerasConv], config: ColorizerConfig,
                         source: str = "Keras model") -> dict[str, torch.Tensor]:
    """Keras convs (data-flow order) -> the torch colorizer's trainable state dict, weights unchanged."""
    check_convs(convs, config, source)
    state = {}
    for conv, spec in zip(convs, conv_specs(config)):
        state[f"{spec.torch_prefix}.weight"] = hwio_to_oihw(conv.kernel).float()
        state[f"{spec.torch_prefix}.bias"] = torch.from_numpy(np.array(conv.bias)).float()
    return state


def torch_to_keras_weights(state: dict[str, torch.Tensor], config: ColorizerConfig,
                           keras_l_input: str | None = None) -> list[tuple[str, list[np.ndarray]]]:
    """Torch trainable state dict -> [(framecolor-style Keras layer name, [kernel HWIO, bias])] in order.

    keras_l_input: what the Keras model is fed (default: what the torch model is fed, config.l_input).
    "raw" for a normalized-input config folds L/50 - 1 into the first conv (exact away from the border).
    """
    keras_l_input = keras_l_input or config.l_input
    if keras_l_input not in L_INPUTS:
        raise ValueError(f"keras_l_input must be one of {L_INPUTS}, got {keras_l_input!r}")
    if (config.l_input, keras_l_input) == ("raw", "normalized"):
        raise ValueError("a model fed raw L* cannot be exported to a Keras model fed L/50 - 1")
    out = []
    for i, spec in enumerate(conv_specs(config)):
        weight, bias = state[f"{spec.torch_prefix}.weight"].float(), state[f"{spec.torch_prefix}.bias"].float()
        if i == 0 and keras_l_input != config.l_input:
            weight, bias = _unfold_normalized_input(weight, bias)
        out.append((spec.keras_name, [oihw_to_hwio(weight), bias.detach().cpu().numpy().copy()]))
    return out


def _unfold_normalized_input(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv on n = L/50 - 1 -> the same conv on L* (0..100), computed in float64."""
    w, b = weight.double(), bias.double()
    return (w / L_SCALE).float(), (b - w.sum(dim=(1, 2, 3))).float()
