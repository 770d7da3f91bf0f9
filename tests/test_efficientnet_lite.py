"""framecolor's timm-free EfficientNet-Lite is timm's tf_efficientnet_lite*: same state-dict keys and
shapes, same feature_info, and bit-equal features and logits on a real photo (timm is the source of
truth for the architecture; it is a dev dependency, and these tests skip only where it is absent)."""
from __future__ import annotations

import pytest
import torch

from framecolor.models.efficientnet_lite import VARIANTS, efficientnet_lite
from framecolor.models.embedders import EMBEDDERS, build_backbone, fold_batch_norm

timm = pytest.importorskip("timm")


def pair(name: str, pretrained: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(timm's model, ours) with the same weights: the bundled ones, or timm's random init copied over."""
    theirs = timm.create_model(name, pretrained=False).eval()
    if pretrained:
        ours, _ = build_backbone(f"efficientnet_{name.removeprefix('tf_efficientnet_')}")
        theirs.load_state_dict(ours.state_dict())
    else:
        ours = efficientnet_lite(name)
        ours.load_state_dict(theirs.state_dict())
    return theirs, ours.eval()


def photo(chelsea, size: tuple[int, int] | None = None) -> torch.Tensor:
    """skimage's chelsea (300 x 451: odd width, so the stride-2 'same' pads are asymmetric), normalised."""
    x = torch.from_numpy(chelsea).permute(2, 0, 1)[None].float() / 255
    if size is not None:
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)
    return (x - 0.5) / 0.5


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_same_keys_shapes_and_feature_info_as_timm(name):
    theirs, ours = timm.create_model(name, pretrained=False), efficientnet_lite(name)
    t, o = theirs.state_dict(), ours.state_dict()
    assert list(o) == list(t)
    assert all(o[k].shape == t[k].shape for k in t)
    assert ours.feature_info == [dict(f) for f in theirs.feature_info]
    assert ours.num_features == theirs.num_features


def test_bundled_weights_load_unchanged_by_name():
    """The shipped safetensors hold timm's keys; ours takes every one of them (load='by_name' is strict)."""
    for key in ("efficientnet_lite0", "efficientnet_lite2"):
        assert EMBEDDERS[key].arch.startswith("framecolor:")
        theirs, ours = pair(EMBEDDERS[key].arch.split(":")[1], pretrained=True)
        assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in ours.state_dict().items())


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0", "tf_efficientnet_lite2"])
def test_bit_equal_features_and_logits_on_a_photo(name, chelsea):
    theirs, ours = pair(name, pretrained=True)
    for x in (photo(chelsea), photo(chelsea, (260, 260)).contiguous(memory_format=torch.channels_last)):
        with torch.no_grad():
            t_final, t_inter = theirs.forward_intermediates(x)
            o_final, o_inter = ours.forward_intermediates(x)
            assert len(o_inter) == len(t_inter) == 5
            assert all(torch.equal(o, t) for o, t in zip(o_inter, t_inter))
            assert torch.equal(o_final, t_final)
            assert torch.equal(ours.forward_features(x), theirs.forward_features(x))
            t_logits, o_logits = theirs(x), ours(x)
            assert torch.equal(o_logits, t_logits)
            assert torch.equal(ours.forward_head(o_final, pre_logits=True), theirs.forward_head(t_final, pre_logits=True))
    assert t_logits.argmax().item() == 285  # still an Egyptian cat: the weights are the real ones


def test_folded_batch_norm_matches_timm_folded(chelsea):
    """load_colorizer folds the frozen batch norms: folded, ours and timm's still agree bit for bit."""
    theirs, ours = pair("tf_efficientnet_lite2", pretrained=True)
    assert fold_batch_norm(theirs) == fold_batch_norm(ours) > 0
    x = photo(chelsea)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_bundled_weights_sit_in_aligned_memory_of_their_own():
    """The meta-built network must not keep safetensors' tensors at the file's byte offsets: on AVX-512
    CPUs the BLAS kernels round differently on unaligned weights, which broke the bit-equal tests there."""
    ours, _ = build_backbone("efficientnet_lite2")
    assert all(t.data_ptr() % 64 == 0 for t in ours.state_dict().values())


def test_random_init_keeps_timm_s_recipe():
    """Built without weights (tests, shape checks), the init follows timm's: BN at identity, the
    classifier's weights within 1/sqrt(1000), conv weights N(0, 2/fan_out)."""
    torch.manual_seed(0)
    net = efficientnet_lite("tf_efficientnet_lite0")
    assert torch.equal(net.bn1.weight, torch.ones(32)) and not net.classifier.bias.any()
    assert net.classifier.weight.abs().max() <= 1000 ** -0.5
    w = net.conv_head.weight  # 1x1, 1280 outputs: fan_out 1280
    assert abs(w.std().item() - (2 / 1280) ** 0.5) < 0.002


def test_a_weights_file_missing_a_tensor_is_refused_not_left_on_meta(tmp_path):
    """Pretrained networks are built on the meta device and take the file's tensors: a file that lacks
    one is a WeightsError naming it (no meta tensor survives), and a half-precision one is cast to fp32."""
    from safetensors.torch import save_file

    from framecolor.models.embedders import WeightsError

    sd = efficientnet_lite("tf_efficientnet_lite0").state_dict()
    half = tmp_path / "half.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, str(half))
    net, _ = build_backbone("efficientnet_lite0", weights=half)
    assert {p.device.type for p in net.state_dict().values()} == {"cpu"}
    assert net.classifier.weight.dtype == torch.float32
    del sd["classifier.bias"]
    short = tmp_path / "short.safetensors"
    save_file(sd, str(short))
    with pytest.raises(WeightsError, match="short.safetensors.*missing.*classifier.bias"):
        build_backbone("efficientnet_lite0", weights=short)
