"""Keras thesis models <-> framecolor torch colorizer: same weights give the same a*b*."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from keras_guard import keras_or_skip

keras = keras_or_skip()

from framecolor.config import ColorizerConfig  # noqa: E402
from framecolor.keras.convert import model_to_keras, _torch_model  # noqa: E402
from framecolor.keras.models import build_colorizer  # noqa: E402
from framecolor.keras.transfer import layer_map  # noqa: E402
from framecolor.models.colorizer import Colorizer  # noqa: E402

pytestmark = pytest.mark.keras

FUSION = ColorizerConfig(name="koala-test", embedder="inception_resnet_v2")
BASIC = ColorizerConfig(name="basic-test", embedder=None)
KERAS_TRAINED = FUSION.replace(padding="tf_same", l_input="raw")  # what a thesis-style Keras file converts to


def torch_colorizer(config: ColorizerConfig, seed: int = 0) -> Colorizer:
    """Random weights scaled (He init) so that the a*b* maps are far from constant."""
    torch.manual_seed(seed)
    model = Colorizer.from_config(config, torch.nn.Identity() if config.embedder else None).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    if config.l_input == "raw":  # He init assumes inputs of scale 1; L* is 0..100
        model.encoder[0][0].weight.data /= 50
    return model


def inputs(seed: int = 0, size=(40, 56)):
    g = torch.Generator().manual_seed(seed)
    L = torch.rand((2, 1, *size), generator=g) * 100  # (B, 1, H, W) L* in [0, 100]
    emb = torch.softmax(torch.randn((2, 1000), generator=g) * 3, dim=-1)  # (B, 1000) class probabilities
    return L, emb


def keras_ab(kmodel, L: torch.Tensor, emb: torch.Tensor | None) -> np.ndarray:
    """Run the Keras model; (B, 2, H, W) like torch."""
    x = [L.permute(0, 2, 3, 1).numpy()] + ([emb.numpy()] if emb is not None else [])
    out = kmodel(x, training=False)
    return np.asarray(out).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("config", [FUSION, BASIC, KERAS_TRAINED], ids=["fusion", "basic_cnn", "tf_same_raw"])
def test_torch_weights_in_keras_give_same_ab(config):
    model = torch_colorizer(config)
    L, emb = inputs()
    emb = emb if config.embedder else None
    with torch.no_grad():
        expected = model(L, emb).numpy()
    got = keras_ab(model_to_keras(model), L, emb)
    assert got.shape == expected.shape == (2, 2, 40, 56)
    assert np.abs(got - expected).max() < 1e-4
    assert expected.std() > 0.05  # the comparison is not between two flat maps


def test_thesis_layout_computes_what_a_tf_same_raw_config_computes():
    model = torch_colorizer(KERAS_TRAINED, seed=4)
    L, emb = inputs(size=(48, 64))
    with torch.no_grad():
        expected = model(L, emb).numpy()
    got = keras_ab(model_to_keras(model, style="thesis", size=(48, 64)), L, emb)
    assert np.abs(got - expected).max() < 1e-4 and expected.std() > 0.05


@pytest.mark.parametrize("size", [(16, 16), (15, 17), (7, 9)])
def test_tf_same_conv_pads_like_tensorflow(size):
    """Stride-2 3x3 'same' in TensorFlow pads bottom/right (and more there on odd sizes)."""
    from framecolor.layers import ConvAct

    torch.manual_seed(0)
    block = ConvAct(3, 4, stride=2, padding="tf_same").eval()
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")
    x = torch.randn(1, 3, *size)
    conv.build((None, *size, 3))
    conv.set_weights([block[0].weight.detach().numpy().transpose(2, 3, 1, 0), block[0].bias.detach().numpy()])
    got = np.asarray(conv(x.permute(0, 2, 3, 1).numpy())).transpose(0, 3, 1, 2)
    with torch.no_grad():
        expected = block(x).numpy()
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-5


def test_layer_names_are_stable_and_mapped():
    kmodel = build_colorizer(FUSION)
    names = [layer.name for layer in kmodel.layers]
    assert names[:3] == ["l_input", "l_norm", "encoder_pad1"]
    for name in ("embedding_input", "fusion_tile", "fusion_concat", "fusion_conv", "decoder_up3"):
        assert name in names
    mapping = layer_map(FUSION)
    assert mapping["encoder_conv1"] == "encoder.0.0" and mapping["fusion_conv"] == "fusion.conv.0"
    assert mapping["decoder_conv5"] == "decoder.6.0"
    torch_keys = set(torch_colorizer(FUSION).trainable_state_dict())
    assert {f"{p}.{s}" for p in mapping.values() for s in ("weight", "bias")} == torch_keys
    assert set(mapping) == {layer.name for layer in kmodel.layers if layer.weights}


@pytest.mark.parametrize("config", [FUSION, KERAS_TRAINED], ids=["default", "tf_same_raw"])
def test_keras_weights_back_to_torch_are_identical(config):
    from framecolor.keras.convert import _from_model
    from framecolor.keras.transfer import keras_to_torch_state

    model = torch_colorizer(config, seed=3)
    found = _from_model(model_to_keras(model), "mem", config.name, config.embedder)
    assert found.config == config and found.style == "framecolor"
    state = keras_to_torch_state(found.convs, found.config)
    for k, v in model.trainable_state_dict().items():
        assert torch.equal(state[k], v), k


def test_thesis_fusion_model_has_repeatvector_for_its_size():
    kmodel = build_colorizer(FUSION, style="thesis", size=(64, 96))
    kinds = [type(layer).__name__ for layer in kmodel.layers]
    assert "RepeatVector" in kinds and "Reshape" in kinds and "Rescaling" not in kinds
    assert tuple(kmodel.output.shape) == (None, 64, 96, 2)


def test_rebuilt_checkpoint_model_matches(tmp_path):
    model = torch_colorizer(BASIC, seed=2)
    clone = _torch_model(BASIC, model.trainable_state_dict())
    L, _ = inputs()
    with torch.no_grad():
        assert torch.equal(clone(L), model(L))
