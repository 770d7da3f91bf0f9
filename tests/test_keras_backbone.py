"""Keras InceptionResNetV2 weights -> framecolor's inception_resnet_v2 embedder (timm): same outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from keras_guard import keras_or_skip

keras = keras_or_skip()

from framecolor.cli import main  # noqa: E402
from framecolor.keras.backbone import convert_backbone  # noqa: E402
from framecolor.models.embedders import WeightsError, build_embedder  # noqa: E402

pytestmark = pytest.mark.keras
SIZE = 75  # the smallest input InceptionResNetV2 takes; keeps the test fast on 2 cores


def randomize(kmodel, seed: int = 0) -> None:
    """Random BN statistics and offsets (the defaults 0/1 would hide a mapping mistake), livelier logits."""
    rng = np.random.default_rng(seed)
    for layer in kmodel.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.beta.shape[0]
            layer.set_weights([rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)])
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 20, rng.normal(0, 0.5, bias.shape)])


def save_like_keras_applications(kmodel, path) -> None:
    """Weights-only legacy HDF5, the format of inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


@pytest.fixture(scope="module")
def keras_irv2():
    kmodel = keras.applications.InceptionResNetV2(weights=None, input_shape=(SIZE, SIZE, 3))
    randomize(kmodel)
    return kmodel


@pytest.fixture(scope="module")
def converted(keras_irv2, tmp_path_factory):
    """`framecolor convert-backbone` run on the Keras model saved as Keras's own weights file."""
    tmp = tmp_path_factory.mktemp("irv2")
    src = tmp / "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5"
    save_like_keras_applications(keras_irv2, src)
    out = tmp / "irv2.safetensors"
    assert main(["convert-backbone", str(src), "-o", str(out)]) == 0
    src.unlink()  # 220 MB
    return out


def test_converted_backbone_matches_keras(keras_irv2, converted):
    backbone = build_embedder("inception_resnet_v2", weights=converted).backbone  # loads by name, strict

    x = np.random.default_rng(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")  # inception range
    features = keras.Model(keras_irv2.input, keras_irv2.get_layer("conv_7b_ac").output)
    k_feat, k_prob = np.asarray(features(x)), np.asarray(keras_irv2(x))
    with torch.no_grad():
        t_feat = backbone.forward_features(torch.from_numpy(x).permute(0, 3, 1, 2))
        t_prob = backbone.forward_head(t_feat).softmax(-1).numpy()
    t_feat = t_feat.permute(0, 2, 3, 1).numpy()
    assert np.abs(t_feat - k_feat).max() < 1e-3 * np.abs(k_feat).max()
    assert np.abs(t_prob - k_prob).max() < 1e-3
    assert k_prob.max() > 0.01  # not a flat distribution: the comparison means something


def test_converted_keras_colorizer_runs_with_converted_backbone(converted, tmp_path):
    """The whole route of a thesis user: Keras colorizer .h5 + Keras IRv2 .h5 -> framecolor colorizes."""
    from framecolor.config import ColorizerConfig
    from framecolor.keras.convert import keras_file_to_checkpoint
    from framecolor.keras.models import build_colorizer
    from framecolor.models.registry import load_checkpoint

    config = ColorizerConfig(name="r25", embedder="inception_resnet_v2")
    build_colorizer(config, style="thesis", size=(64, 64)).save(tmp_path / "R25_Art_Colorization_Model.h5")
    ckpt, _ = keras_file_to_checkpoint(tmp_path / "R25_Art_Colorization_Model.h5", tmp_path / "r25.safetensors")
    model = load_checkpoint(ckpt, embedder_weights=str(converted))
    L = torch.linspace(0, 100, 48 * 64).reshape(1, 1, 48, 64)  # a grey ramp
    with torch.no_grad():
        ab = model(L)
    assert ab.shape == (1, 2, 48, 64) and torch.isfinite(ab).all() and ab.abs().max() <= 1


def test_a_colorizer_file_is_not_a_backbone(tmp_path):
    from framecolor.config import ColorizerConfig
    from framecolor.keras.models import build_colorizer

    src = tmp_path / "colorizer.keras"
    build_colorizer(ColorizerConfig(embedder=None)).save(src)
    with pytest.raises(WeightsError, match="colorizer.keras: does not fit Keras's InceptionResNetV2"):
        convert_backbone(src, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
