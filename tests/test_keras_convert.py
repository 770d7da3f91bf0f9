"""`framecolor convert`: Keras colorizer files <-> framecolor checkpoints, round trips and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from keras_guard import keras_or_skip

keras = keras_or_skip()

from framecolor.cli import main  # noqa: E402
from framecolor.config import ColorizerConfig  # noqa: E402
from framecolor.keras.convert import keras_file_to_checkpoint, read_keras_colorizer  # noqa: E402
from framecolor.keras.models import build_colorizer  # noqa: E402
from framecolor.models.colorizer import Colorizer  # noqa: E402
from framecolor.models.registry import load_checkpoint, save_checkpoint  # noqa: E402

pytestmark = pytest.mark.keras

FUSION = ColorizerConfig(name="koala-rt", embedder="efficientnet_lite0")  # a small classifier keeps loads fast
THESIS = ColorizerConfig(name="thesis", embedder="inception_resnet_v2")
# What a thesis-style Keras file converts to: TensorFlow's padding, L* fed unscaled.
THESIS_KERAS = THESIS.replace(padding="tf_same", l_input="raw")


def lively(model):
    """He-initialised random weights, so that outputs are far from constant (torch or Keras model)."""
    if isinstance(model, torch.nn.Module):
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                torch.nn.init.uniform_(m.bias, -0.1, 0.1)
        return model
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.weights:
            k, b = layer.get_weights()
            std = np.sqrt(2.0 / np.prod(k.shape[:3]))
            layer.set_weights([rng.normal(0, std, k.shape), rng.uniform(-0.1, 0.1, b.shape)])
    return model


def probe(seed: int = 0, size=(32, 48)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((2, 1, *size), generator=g) * 100, torch.softmax(torch.randn((2, 1000), generator=g), -1)


def keras_kernels(kmodel) -> list[np.ndarray]:
    return [w for layer in kmodel.layers if layer.weights for w in layer.get_weights()]


def save_weights_only_h5(kmodel, path) -> None:
    """What the thesis's script writes with model.save_weights('...h5') (Keras 2 layout)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_torch_to_keras_file_to_torch_round_trip(tmp_path, suffix):
    torch.manual_seed(0)
    model = lively(Colorizer.from_config(FUSION, torch.nn.Identity())).eval()
    src = save_checkpoint(model, tmp_path / "koala.safetensors")
    assert main(["convert", str(src), "-o", str(tmp_path / f"koala{suffix}")]) == 0
    back = tmp_path / "back.safetensors"
    assert main(["convert", str(tmp_path / f"koala{suffix}"), "-o", str(back), "--name", "koala-rt",
                 "--embedder", "efficientnet_lite0"]) == 0
    meta = json.loads(back.with_suffix(".json").read_text())
    assert ColorizerConfig.from_dict(meta["config"]) == FUSION and meta["converted_from"]["style"] == "framecolor"
    restored = load_checkpoint(back, pretrained_embedder=False)
    for k, v in model.trainable_state_dict().items():
        assert torch.equal(restored.trainable_state_dict()[k], v), k
    L, emb = probe()
    with torch.no_grad():
        assert torch.equal(restored(L, emb), model(L, emb))


def test_exported_keras_file_computes_what_torch_computes(tmp_path):
    torch.manual_seed(1)
    model = lively(Colorizer.from_config(FUSION, torch.nn.Identity())).eval()
    src = save_checkpoint(model, tmp_path / "koala.safetensors")
    assert main(["convert", str(src), "-o", str(tmp_path / "koala.keras")]) == 0
    kmodel = keras.saving.load_model(tmp_path / "koala.keras", compile=False)
    L, emb = probe(size=(48, 40))
    with torch.no_grad():
        expected = model(L, emb).numpy()
    got = np.asarray(kmodel([L.permute(0, 2, 3, 1).numpy(), emb.numpy()])).transpose(0, 3, 1, 2)
    assert np.abs(got - expected).max() < 1e-4 and expected.std() > 0.05


def thesis_file(tmp_path, name="R25_Art_Colorization_Model.h5", size=(64, 64)):
    """A Keras colorizer as the thesis's training script saves it (model.save, full model, two inputs)."""
    kmodel = lively(build_colorizer(THESIS, style="thesis", size=size))
    first = next(layer for layer in kmodel.layers if layer.weights)
    kernel, bias = first.get_weights()  # He init assumes inputs of scale 1; this one is fed L* in 0..100
    first.set_weights([kernel / 50, bias])
    path = tmp_path / name
    kmodel.save(path)
    return kmodel, path


def test_thesis_h5_converts_with_notes_and_round_trips(tmp_path, capsys):
    kmodel, path = thesis_file(tmp_path)
    out, notes = keras_file_to_checkpoint(path, tmp_path / "r25.safetensors")
    assert any("padding='same'" in n for n in notes) and any("unscaled" in n for n in notes)
    meta = json.loads(out.with_suffix(".json").read_text())
    config = ColorizerConfig.from_dict(meta["config"])
    assert config == THESIS_KERAS.replace(name="R25_Art_Colorization_Model")
    assert meta["converted_from"]["l_input"] == "raw"
    # back to the thesis's own layout: exactly the kernels the file holds, and nothing to warn about
    assert main(["convert", str(out), "-o", str(tmp_path / "again.h5"), "--style", "thesis", "--size", "64", "64"]) == 0
    assert "note:" not in capsys.readouterr().err
    again = keras.saving.load_model(tmp_path / "again.h5", compile=False)
    for a, b in zip(keras_kernels(kmodel), keras_kernels(again), strict=True):
        assert np.array_equal(a, b)


def test_thesis_h5_converted_computes_what_keras_computes(tmp_path):
    """`framecolor convert` of a thesis-style file: framecolor's a*b* are Keras's (TF padding, L* unscaled)."""
    kmodel, path = thesis_file(tmp_path, size=(40, 56))
    out = tmp_path / "r25.safetensors"
    assert main(["convert", str(path), "-o", str(out), "--embedder", "efficientnet_lite0"]) == 0
    model = load_checkpoint(out, pretrained_embedder=False)
    assert (model.config.padding, model.config.l_input) == ("tf_same", "raw")
    L, emb = probe(size=(40, 56))
    with torch.no_grad():
        ours = model(L, emb).numpy()
    theirs = np.asarray(kmodel([L.permute(0, 2, 3, 1).numpy(), emb.numpy()])).transpose(0, 3, 1, 2)
    assert np.abs(ours - theirs).max() < 1e-4 and theirs.std() > 0.05


def test_framecolor_checkpoint_to_thesis_layout_says_what_differs(tmp_path, capsys):
    model = lively(Colorizer.from_config(FUSION, torch.nn.Identity())).eval()
    src = save_checkpoint(model, tmp_path / "koala.safetensors")
    assert main(["convert", str(src), "-o", str(tmp_path / "t.h5"), "--style", "thesis", "--size", "32", "32"]) == 0
    err = capsys.readouterr().err
    assert "outputs differ" in err and "folded into the first conv" in err


def test_embedding_first_concat_order_gives_the_same_checkpoint(tmp_path):
    """A model that concatenates [embedding, features] (framecolor: [features, embedding]) converts to
    the same torch weights once its fusion kernel's input channels are put in framecolor's order."""
    kmodel, path = thesis_file(tmp_path)
    cfg = kmodel.get_config()
    concat = next(layer for layer in cfg["layers"] if layer["class_name"] == "Concatenate")
    concat["inbound_nodes"][0]["args"][0].reverse()
    swapped = keras.Model.from_config(cfg)
    for layer in swapped.layers:
        layer.set_weights(kmodel.get_layer(layer.name).get_weights())
    fusion = next(layer for layer in swapped.layers if layer.weights and layer.kernel.shape[:2] == (1, 1))
    k, bias = fusion.get_weights()
    fusion.set_weights([np.concatenate([k[:, :, 256:], k[:, :, :256]], axis=2), bias])
    swapped.save(tmp_path / "swapped.keras")
    a, b = read_keras_colorizer(path), read_keras_colorizer(tmp_path / "swapped.keras")
    for x, y in zip(a.convs, b.convs, strict=True):
        assert np.array_equal(x.kernel, y.kernel), x.name


def test_exporting_normalized_input_to_raw_is_exact_away_from_the_border():
    """The thesis layout is fed L* unscaled; a model fed L/50 - 1 gets the scaling folded into conv 1."""
    from framecolor.keras.transfer import _unfold_normalized_input

    conv = torch.nn.Conv2d(1, 8, 3, padding=1)
    w, b = _unfold_normalized_input(conv.weight.data, conv.bias.data)
    L = torch.rand(1, 1, 16, 16) * 100
    normalized = torch.nn.functional.conv2d(L / 50 - 1, conv.weight, conv.bias, padding=1)
    raw = torch.nn.functional.conv2d(L, w, b, padding=1)
    assert torch.allclose(raw[..., 1:-1, 1:-1], normalized[..., 1:-1, 1:-1], atol=1e-4)


def test_weights_only_h5_gives_the_same_checkpoint(tmp_path):
    kmodel, full = thesis_file(tmp_path)
    save_weights_only_h5(kmodel, tmp_path / "Art_Colorization_Weights.h5")
    a = read_keras_colorizer(full)
    b = read_keras_colorizer(tmp_path / "Art_Colorization_Weights.h5", name="R25_Art_Colorization_Model")
    assert b.style == "weights-only" and a.config == b.config
    for x, y in zip(a.convs, b.convs, strict=True):
        assert np.array_equal(x.kernel, y.kernel) and np.array_equal(x.bias, y.bias)


def test_l_input_option_says_what_a_thesis_file_was_fed(tmp_path):
    _, path = thesis_file(tmp_path)
    found = read_keras_colorizer(path, l_input="normalized")
    assert (found.config.padding, found.config.l_input) == ("tf_same", "normalized")
    assert not any("unscaled" in n for n in found.notes)


def test_architecture_is_read_from_the_file(tmp_path):
    """A variant decoder (as in some Keras ports: 128, up, 64, up, 32, 16, 2, up) becomes the config."""
    variant = THESIS_KERAS.replace(decoder=(128, "up", 64, "up", 32, 16, 2, "up"))
    lively(build_colorizer(variant, style="thesis", size=(32, 32))).save(tmp_path / "variant.keras")
    found = read_keras_colorizer(tmp_path / "variant.keras", name=THESIS.name)
    assert found.config == variant


def test_unreadable_config_falls_back_to_weights_in_layer_order(tmp_path):
    """A full .h5 whose config this Keras cannot rebuild (e.g. from an old Keras) still converts."""
    import h5py

    kmodel, path = thesis_file(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace("RepeatVector", "OldRepeatVector")
    found = read_keras_colorizer(path)
    assert found.style == "weights-only" and any("could not rebuild" in n for n in found.notes)
    assert found.config == THESIS_KERAS.replace(name=path.stem)
    for conv, layer in zip(found.convs, [x for x in kmodel.layers if x.weights], strict=True):
        assert np.array_equal(conv.kernel, layer.get_weights()[0])


def test_basic_cnn_keras_file_converts(tmp_path):
    kmodel = lively(build_colorizer(ColorizerConfig(embedder=None), style="thesis"))
    kmodel.save(tmp_path / "basic.keras")
    out, _ = keras_file_to_checkpoint(tmp_path / "basic.keras", tmp_path / "basic.safetensors")
    model = load_checkpoint(out)
    assert model.config.embedder is None and model.fusion is None


# ------------------------------------------------------------------ errors name the file and the layer

def test_not_a_colorizer_names_the_layer(tmp_path):
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, name="stem_conv")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x)).save(tmp_path / "classifier.keras")
    with pytest.raises(ValueError, match=r"classifier.keras: layer 'stem_bn' \(BatchNormalization\) has weights"):
        keras_file_to_checkpoint(tmp_path / "classifier.keras", tmp_path / "x.safetensors")


def test_wrong_fusion_kernel_names_the_layer(tmp_path):
    kmodel = build_colorizer(THESIS, style="thesis", size=(32, 32))
    fusion = next(layer for layer in kmodel.layers if layer.weights and layer.kernel.shape[2] == 1256)
    cfg = kmodel.get_config()  # the same graph with a 3x3 fusion conv
    for layer in cfg["layers"]:
        if layer["name"] == fusion.name:
            layer["config"]["kernel_size"] = [3, 3]
    broken = keras.Model.from_config(cfg)
    broken.save(tmp_path / "bad.h5")
    with pytest.raises(ValueError, match=rf"bad.h5: layer '{fusion.name}' \(the fusion conv.*kernel \(3, 3, 1256, 256\)"):
        keras_file_to_checkpoint(tmp_path / "bad.h5", tmp_path / "x.safetensors")


def test_mixed_padding_names_the_layers(tmp_path):
    """Stride-2 convs padded one way (ZeroPadding2D) and the other (padding='same') fit no config."""
    cfg = build_colorizer(ColorizerConfig(embedder=None)).get_config()
    cfg["layers"] = [layer for layer in cfg["layers"] if layer["name"] != "encoder_pad3"]
    conv3 = next(layer for layer in cfg["layers"] if layer["name"] == "encoder_conv3")
    conv3["config"]["padding"] = "same"
    conv3["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "encoder_conv2"
    keras.Model.from_config(cfg).save(tmp_path / "mixed.keras")
    with pytest.raises(ValueError, match=r"mixed.keras: stride-2 layer 'encoder_conv3' uses padding='same' "
                                         r"but 'encoder_conv1' a ZeroPadding2D"):
        keras_file_to_checkpoint(tmp_path / "mixed.keras", tmp_path / "x.safetensors")


def test_weights_only_file_with_wrong_shapes_names_the_layer(tmp_path):
    config = THESIS.replace(decoder=(128, "up", 64, 48, "up", 32, 2, "up"))
    save_weights_only_h5(build_colorizer(config, style="thesis", size=(32, 32)), tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"w.h5: layer '\w+' \(the decoder conv 3\) has kernel \(3, 3, 64, 48\)"):
        keras_file_to_checkpoint(tmp_path / "w.h5", tmp_path / "x.safetensors")


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    assert main(["convert", str(tmp_path / "junk.h5"), "-o", str(tmp_path / "x.safetensors")]) == 2
    assert "junk.h5: not an HDF5 file" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "junk.h5"), "-o", str(tmp_path / "x.pt")]) == 2
    assert "x.pt: output must end in .safetensors" in capsys.readouterr().err
