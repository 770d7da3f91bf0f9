"""The model is exactly the thesis's Table 4.1: stage shapes, parameter counts, a frozen classifier."""
from __future__ import annotations

import pytest
import torch

from framecolor.config import ColorizerConfig
from framecolor.inference import ImageColorizer
from framecolor.models.registry import build_model, load_checkpoint, save_checkpoint

# Parameter count by hand from Table 4.1 (3x3 conv: 9*cin*cout + cout; 1x1 conv: cin*cout + cout):
#   encoder  1->64 s2: 640        64->128: 73,856     128->128 s2: 147,584   128->256: 295,168
#            256->256 s2: 590,080 256->512: 1,180,160 512->512: 2,359,808    512->256: 1,179,904
#            total 5,827,200
#   fusion   1x1 (256+1000)->256: 1256*256 + 256 = 321,792
#   decoder  256->128: 295,040    128->64: 73,792     64->64: 36,928         64->32: 18,464   32->2: 578
#            total 424,802 (upsampling layers have no parameters)
#   fusion model 5,827,200 + 321,792 + 424,802 = 6,573,794;  basic CNN 5,827,200 + 424,802 = 6,252,002
FUSION_PARAMS = 6_573_794
BASIC_PARAMS = 6_252_002


def _trainable(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not n.startswith("embedder."))


@pytest.fixture(scope="module")
def fusion():
    return build_model(ColorizerConfig(), pretrained_embedder=False).eval()


@pytest.fixture(scope="module")
def basic():
    return build_model(ColorizerConfig(name="basic-cnn", embedder=None)).eval()


def test_parameter_counts_match_table_4_1(fusion, basic):
    assert _trainable(fusion) == FUSION_PARAMS
    assert _trainable(basic) == BASIC_PARAMS
    assert sum(p.numel() for p in fusion.parameters() if p.requires_grad) == FUSION_PARAMS  # embedder frozen


def _stage_shapes(seq: torch.nn.Sequential, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    for layer in seq:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


@torch.no_grad()
def test_every_stage_shape_for_256_input(fusion):
    L = torch.rand(1, 1, 256, 256) * 100
    enc = _stage_shapes(fusion.encoder, torch.zeros(1, 1, 256, 256))
    assert enc == [(64, 128, 128), (128, 128, 128), (128, 64, 64), (256, 64, 64),
                   (256, 32, 32), (512, 32, 32), (512, 32, 32), (256, 32, 32)]
    emb = fusion.embed(L)
    assert emb.shape == (1, 1000)
    assert torch.allclose(emb.sum(-1), torch.ones(1), atol=1e-4)  # softmax class probabilities
    fused = fusion.features(L)
    assert fused.shape == (1, 256, 32, 32)  # (256 + 1000) -> conv 1x1 -> 256 at H/8
    dec = _stage_shapes(fusion.decoder, fused)
    assert dec == [(128, 32, 32), (128, 64, 64), (64, 64, 64), (64, 64, 64), (64, 128, 128),
                   (32, 128, 128), (2, 128, 128), (2, 256, 256)]
    out = fusion(L)
    assert out.shape == (1, 2, 256, 256) and out.abs().max() <= 1  # tanh a*b*/128


@torch.no_grad()
def test_basic_cnn_has_no_classifier_and_same_output(basic):
    assert basic.embedder is None and basic.fusion is None
    assert basic(torch.rand(2, 1, 64, 96) * 100).shape == (2, 2, 64, 96)


def test_sizes_not_multiple_of_8_are_refused(basic):
    with pytest.raises(ValueError, match="multiples of 8"):
        basic(torch.zeros(1, 1, 60, 64))


def test_embedder_is_frozen_during_training():
    model = build_model(ColorizerConfig(), pretrained_embedder=False).train()
    before = {k: v.clone() for k, v in model.embedder.state_dict().items()}
    assert not model.embedder.backbone.training  # batch-norm statistics stay put
    out = model(torch.rand(2, 1, 64, 64) * 100)
    out.square().mean().backward()
    assert all(p.grad is None for p in model.embedder.parameters())
    assert model.encoder[0][0].weight.grad is not None
    after = model.embedder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_checkpoint_round_trip_keeps_predictions(tmp_path, basic):
    path = save_checkpoint(basic, tmp_path / "m.safetensors")
    again = load_checkpoint(path)
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.equal(basic(L), again(L))
    assert path.stat().st_size < 50e6  # shipped weights must stay under 50 MB


def test_chroma_gain_scales_predicted_colour(basic):
    L = torch.rand(1, 1, 64, 64) * 100
    plain = ImageColorizer(basic, torch.device("cpu"), chroma_gain=1.0).predict_ab(L)
    vivid = ImageColorizer(basic, torch.device("cpu"), chroma_gain=2.0).predict_ab(L)
    assert plain.abs().max() > 0
    assert torch.allclose(vivid, 2 * plain, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(plain, basic(L) * 128, atol=1e-4)  # default gain is the exact inverse of ab/128


def test_fusion_equals_tile_concat_conv():
    """The fusion layer computes the thesis's tile + concatenate + 1x1 conv exactly (without tiling)."""
    from framecolor.layers import FusionLayer
    torch.manual_seed(0)
    fusion = FusionLayer(256, 1000, 256)
    feats, emb = torch.randn(2, 256, 4, 6), torch.rand(2, 1000).softmax(-1)
    tiled = emb[:, :, None, None].expand(2, 1000, 4, 6)
    with torch.no_grad():
        assert torch.allclose(fusion(feats, emb), fusion.conv(torch.cat((feats, tiled), dim=1)), atol=1e-5)


# ------------------------------------------------- padding and l_input: models trained in Keras

def test_config_json_without_padding_or_l_input_loads_with_todays_defaults(tmp_path, basic):
    """Checkpoints written before these keys existed load unchanged."""
    import json

    path = save_checkpoint(basic, tmp_path / "m.safetensors")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    del meta["config"]["padding"], meta["config"]["l_input"]
    meta_path.write_text(json.dumps(meta))
    again = load_checkpoint(path)
    assert (again.config.padding, again.config.l_input) == ("symmetric", "normalized")
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.equal(basic(L), again(L))


def test_bad_padding_or_l_input_is_refused_clearly(tmp_path, basic):
    import json

    from framecolor.models.embedders import WeightsError

    with pytest.raises(ValueError, match=r"padding='same'; expected one of 'symmetric', 'tf_same'"):
        ColorizerConfig(padding="same")
    path = save_checkpoint(basic, tmp_path / "m.safetensors")
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["config"]["l_input"] = "unscaled"
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match=r"m.json: .*l_input='unscaled'; expected one of 'normalized', 'raw'"):
        load_checkpoint(path)


def test_tf_same_pads_stride_2_convs_bottom_right_with_the_same_weights():
    from framecolor.models.encoder import Encoder

    torch.manual_seed(0)
    spec = ((8, 2), (8, 1))
    ours, tf = Encoder(spec), Encoder(spec, padding="tf_same")
    assert ours.state_dict().keys() == tf.state_dict().keys()  # a checkpoint fits either
    tf.load_state_dict(ours.state_dict())
    x = torch.randn(2, 1, 16, 24)
    conv = ours[0][0]
    expected = torch.relu(torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv.weight,
                                                     conv.bias, stride=2))
    with torch.no_grad():
        assert torch.equal(tf[0](x), expected)
        assert not torch.allclose(ours[0](x), expected)


def test_raw_l_input_feeds_the_encoder_unscaled_l(basic):
    raw = build_model(basic.config.replace(l_input="raw"))
    raw.load_state_dict(basic.state_dict())
    L = torch.rand(1, 1, 64, 64)
    with torch.no_grad():  # the normalised model sees L/50 - 1: give it 50 (L + 1) and it sees L
        assert torch.allclose(raw(L), basic(50 * (L + 1)), atol=1e-6)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2", "inception_resnet_v2"])
def test_folding_batch_norm_keeps_each_classifiers_output(name):
    """Inference folds the frozen classifier's batch norms into its convolutions: same embedding."""
    from framecolor.models.embedders import build_embedder

    torch.manual_seed(0)
    emb = build_embedder(name, pretrained=False)
    for m in emb.modules():  # batch norms that are not the identity, so that a wrong fold shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.2, 0.2)
    L = torch.rand(2, 1, 64, 80) * 100
    before = emb.logits(L)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in emb.modules())
    assert emb.fold_batch_norm() == n_bn > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in emb.modules())
    after = emb.logits(L)
    assert torch.allclose(after, before, rtol=1e-4, atol=1e-4 * before.abs().max().item())


def test_colorizer_folds_its_classifiers_batch_norms_and_nothing_else(basic):
    from framecolor.config import ColorizerConfig
    from framecolor.models.colorizer import Colorizer

    fusion = build_model(ColorizerConfig(embedder="mobilenet_v2"), pretrained_embedder=False)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fusion.embedder.modules())
    own = {k: v.clone() for k, v in fusion.trainable_state_dict().items()}
    assert fusion.fold_classifier_batch_norm() == n_bn > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fusion.embedder.modules())
    after = fusion.trainable_state_dict()  # the colorizer's own weights are untouched
    assert after.keys() == own.keys() and all(torch.equal(after[k], v) for k, v in own.items())
    assert basic.fold_classifier_batch_norm() == 0  # no classifier
    stand_in = Colorizer.from_config(ColorizerConfig(embedder="mobilenet_v2"), torch.nn.Identity())
    assert stand_in.fold_classifier_batch_norm() == 0  # the Keras bridge's stand-in has none


def test_cpu_micro_batches_give_the_same_result_as_one_call(basic, monkeypatch):
    """On the CPU predict_ab splits a batch so that its activations stay under glibc's mmap threshold."""
    import framecolor.inference as inference

    assert inference.cpu_micro_batch(256, 312) == 2 and inference.cpu_micro_batch(1024, 1024) == 1
    L = torch.rand(4, 1, 256, 256) * 100
    assert inference.cpu_micro_batch(256, 256) == 3  # so this batch runs as 3 + 1
    split = ImageColorizer(basic, torch.device("cpu")).predict_ab(L)
    monkeypatch.setattr(inference, "cpu_micro_batch", lambda h, w: 1 << 30)
    whole = ImageColorizer(basic, torch.device("cpu")).predict_ab(L)
    assert split.shape == (4, 2, 256, 256)
    assert torch.allclose(split, whole, atol=1e-4)


def test_classifier_reads_a_cpu_batch_in_micro_batches_with_the_same_result(monkeypatch):
    """A training batch of crops goes through the frozen classifier a few at a time on the CPU."""
    from framecolor.models.embedders import ClassifierEmbedder, build_embedder

    torch.manual_seed(0)
    emb = build_embedder("efficientnet_lite0", pretrained=False)
    assert emb.cpu_micro_batch() == 5  # 224x224 input: 96 * 224 * 224 bytes an image under 24 MiB
    L = torch.rand(7, 1, 64, 64) * 100
    calls = []
    monkeypatch.setattr(emb, "logits", lambda x, f=emb.logits: (calls.append(len(x)), f(x))[1])
    split = emb(L)
    monkeypatch.setattr(ClassifierEmbedder, "cpu_micro_batch", lambda self: 1 << 30)
    whole = emb(L)
    assert calls == [5, 2, 7]
    assert split.shape == (7, 1000) and torch.allclose(split, whole, atol=1e-6)
