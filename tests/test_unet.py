"""The U-Net colorizer on a pretrained backbone, its a*b* bins, and its two training stages."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from framecolor import ab_bins
from framecolor.config import ColorizerConfig, UNetConfig
from framecolor.models.registry import build_model, load_checkpoint, save_checkpoint


def unet_config(head: str = "ab") -> ColorizerConfig:
    return ColorizerConfig(name="unet-test", embedder="efficientnet_lite2", unet=UNetConfig(head=head))


@pytest.fixture(scope="module", params=["ab", "bins"])
def untrained(request):
    torch.manual_seed(0)
    return build_model(unet_config(request.param), pretrained_embedder=False).eval()


def test_bundled_lite2_recognises_the_cat(chelsea):
    """The converted EfficientNet-Lite2 (`framecolor convert-efficientnet-lite`) still classifies skimage's
    chelsea as an Egyptian cat (ImageNet class 285), with its registry entry's preprocessing."""
    from framecolor.models.embedders import build_backbone

    net, spec = build_backbone("efficientnet_lite2")
    x = torch.from_numpy(chelsea).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(spec.input_size,) * 2, mode="bilinear", antialias=True)
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        p = net.eval()(x).softmax(-1)[0]
    assert p.argmax().item() == 285 and p[285] > 0.5


def test_committed_bins_are_the_srgb_gamut():
    centres = ab_bins.bin_centres()
    assert torch.equal(ab_bins.gamut_bins(), centres)
    assert len(centres) == 261 and (centres % 10 == 0).all()


def test_soft_encoding_sums_to_one_and_matches_the_exact_distances():
    centres = ab_bins.bin_centres()
    ab = torch.empty(2, 2, 40, 50).uniform_(-60, 60, generator=torch.Generator().manual_seed(0))
    w, idx = ab_bins.soft_encode(ab, centres)
    we, idxe = ab_bins.soft_encode(ab, centres, exact=True)
    assert w.shape == (2, 5, 40, 50) and torch.allclose(w.sum(1), torch.ones(2, 40, 50))
    nearest = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), centres).argmin(1).view(2, 40, 50)
    assert (idxe[:, 0] == nearest).all()
    # the table rounds a*b* to integers first, which moves about 9% of points across a bin's edge
    assert (idx[:, 0] == nearest).float().mean() > 0.88
    assert (w[idx == idxe] - we[idx == idxe]).abs().max() < 0.1


def test_rebalancing_favours_rare_colours_and_has_unit_expectation():
    centres = ab_bins.bin_centres()
    counts = torch.ones(len(centres))
    grey = int(torch.cdist(torch.zeros(1, 2), centres).argmin())
    counts[grey] = 1000.0
    w = ab_bins.rebalance_weights(counts, centres)
    assert w[grey] == w.min() and w.max() > 1.5 * w[grey]


def test_annealed_mean_goes_from_the_mean_to_the_mode():
    centres = ab_bins.bin_centres()
    logits = torch.zeros(1, len(centres), 1, 1)
    logits[0, 10], logits[0, 20] = 3.0, 2.0
    mean = ab_bins.annealed_mean(logits, centres, 1.0)[0, :, 0, 0]
    p = logits[0, :, 0, 0].softmax(0)
    assert torch.allclose(mean, p @ centres, atol=1e-4)
    mode = ab_bins.annealed_mean(logits, centres, 0.01)[0, :, 0, 0]
    assert torch.allclose(mode, centres[10], atol=1e-3)


def test_bins_loss_is_lowest_for_the_true_colour():
    centres = ab_bins.bin_centres()
    ab = torch.full((1, 2, 4, 4), 20.0)
    right = torch.full((1, len(centres), 4, 4), -5.0)
    q = int(torch.cdist(torch.tensor([[20.0, 20.0]]), centres).argmin())
    right[:, q] = 5.0
    wrong = right.roll(37, dims=1)
    w = torch.ones(len(centres))
    assert ab_bins.bins_loss(right, ab, centres, w) < ab_bins.bins_loss(wrong, ab, centres, w)


def test_output_is_ab_in_range_at_the_input_size_for_any_multiple_of_8(untrained):
    L = torch.rand(1, 1, 72, 104) * 100  # not multiples of 32: the skips are matched by size
    with torch.no_grad():
        ab = untrained(L)
    assert ab.shape == (1, 2, 72, 104) and ab.abs().max() <= 1.0
    with pytest.raises(ValueError, match="multiples of 8"):
        untrained(torch.rand(1, 1, 70, 104))


def test_backbone_is_frozen_and_not_in_the_checkpoint(untrained, tmp_path):
    assert not any(p.requires_grad for p in untrained.backbone.parameters())
    assert all(not k.startswith("backbone.") for k in untrained.trainable_state_dict())
    path = save_checkpoint(untrained, tmp_path / "m.safetensors")
    assert json.loads(path.with_suffix(".json").read_text())["config"]["unet"]["head"] == untrained.config.unet.head
    again = load_checkpoint(path, pretrained_embedder=False)
    again.backbone.load_state_dict(untrained.backbone.state_dict())
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.equal(untrained(L), again.eval()(L))


def test_folding_the_backbones_batch_norms_keeps_the_output(untrained):
    import copy

    folded = copy.deepcopy(untrained)
    assert folded.fold_classifier_batch_norm() > 0
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.allclose(untrained(L), folded(L), atol=1e-4)


def test_embedding_is_not_taken_from_outside(untrained):
    with pytest.raises(ValueError, match="own embedding"):
        untrained(torch.rand(1, 1, 64, 64) * 100, torch.rand(1, 1000))


# ---- training -------------------------------------------------------------------------------------

def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, astronaut, chelsea):
    """A miniature Tiny ImageNet: 64x64 crops of real photos in train-00.zip and val-00.zip."""
    folder = tmp_path_factory.mktemp("tiny")
    crops = [img[y:y + 128:2, x:x + 128:2] for img in (astronaut, chelsea) for y in (0, 100) for x in (0, 60, 120)]
    for name, part in (("train-00.zip", crops[:10]), ("val-00.zip", crops[10:])):
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_STORED) as z:
            for i, c in enumerate(part):
                z.writestr(f"n0000000{i % 2}/img_{i}.jpg", _jpeg(np.ascontiguousarray(c)))
    return folder


def _train(folder, out, head="ab", **kw):
    from framecolor.training.unet_loop import UNetTrainConfig, train_unet

    cfg = UNetTrainConfig(stage=kw.pop("stage", "tinyimagenet"), epochs=kw.pop("epochs", 2), batch_size=4,
                          checkpoint_every=1, warmup_steps=1, **kw)
    return train_unet(str(folder), str(out), unet_config(head), cfg, command="test", log=lambda m: None)


@pytest.mark.parametrize("head", ["ab", "bins"])
def test_tinyimagenet_stage_resumes_mid_epoch_exactly(tiny_folder, tmp_path, head):
    """Stopped after 3 of its 4 steps (2 epochs of 2) and run again, a run ends with the same weights,
    bit for bit, as the run that was never stopped."""
    from safetensors.torch import load_file

    whole = _train(tiny_folder, tmp_path / "whole", head)
    _train(tiny_folder, tmp_path / "cut", head, stop_after_steps=3)
    assert not (tmp_path / "cut" / "last.json").exists() or json.loads((tmp_path / "cut" / "last.json").read_text())["epoch"] == 1
    resumed = _train(tiny_folder, tmp_path / "cut", head)
    a, b = load_file(whole), load_file(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and all(np.isfinite(h["val_psnr"]) for h in history)
    if head == "bins":
        assert len(json.loads((tmp_path / "whole" / "class_weights.json").read_text())) == 261


def test_photos_stage_fine_tunes_from_stage_one_and_resumes(tiny_folder, tmp_path, astronaut, chelsea):
    from PIL import Image
    from safetensors.torch import load_file

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        img = (astronaut if i % 2 else chelsea)[i * 8:i * 8 + 256, i * 10:i * 10 + 280]
        Image.fromarray(np.ascontiguousarray(img)).save(photos / f"p{i}.jpg")
    stage1 = _train(tiny_folder, tmp_path / "s1", epochs=1)
    kw = dict(stage="photos", crop=64, init_from=str(stage1))
    whole = _train2(photos, tmp_path / "whole", epochs=2, **kw)
    _train2(photos, tmp_path / "cut", epochs=1, **kw)
    resumed = _train2(photos, tmp_path / "cut", epochs=2, **kw)
    a, b = load_file(whole), load_file(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    card = json.loads(resumed.with_suffix(".json").read_text())
    assert card["init_from"] == str(stage1) and card["stage"] == "photos"
    assert card["hardware"].startswith(("CPU ", "CUDA "))


def _train2(folder, out, epochs, stage, crop, init_from, ema=None, mix_tiny=None, calibration_fraction=0.0):
    from framecolor.training.unet_loop import UNetTrainConfig, train_unet

    cfg = UNetTrainConfig(stage=stage, epochs=epochs, batch_size=4, crop=crop, warmup_steps=1, lr_min=1e-4, ema=ema,
                          mix_tiny=mix_tiny, calibration_fraction=calibration_fraction)
    return train_unet(str(folder), str(out), unet_config(), cfg, command="test", init_from=init_from,
                      cache_dir=str(out.parent / "cache"), log=lambda m: None)


def test_photos_stage_weight_average_is_saved_scored_and_resumed_exactly(tmp_path, astronaut):
    """--ema: the checkpoint holds the averaged weights (not the live ones), both are scored each epoch,
    and a run stopped after one epoch and resumed ends bit for bit like the run that was never stopped."""
    from PIL import Image
    from safetensors.torch import load_file

    from framecolor.training.unet_loop import UNetTrainConfig

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        Image.fromarray(np.ascontiguousarray(astronaut[i * 16:i * 16 + 200, i * 20:i * 20 + 220])).save(photos / f"p{i}.png")
    kw = dict(stage="photos", crop=64, init_from=None, ema=0.9)
    whole = _train2(photos, tmp_path / "whole", epochs=2, **kw)
    plain = _train2(photos, tmp_path / "plain", epochs=2, **{**kw, "ema": None})
    _train2(photos, tmp_path / "cut", epochs=1, **kw)
    resumed = _train2(photos, tmp_path / "cut", epochs=2, **kw)
    a, b, live = load_file(whole), load_file(resumed), load_file(plain)
    assert a.keys() == b.keys() == live.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], live[k]) for k in a if k.endswith("weight"))
    history = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["val_psnr"]) and np.isfinite(h["live_val_psnr"]) for h in history)
    with pytest.raises(ValueError, match="weight average"):  # resuming with other settings is refused
        _train2(photos, tmp_path / "cut", epochs=3, **{**kw, "ema": None})
    with pytest.raises(ValueError, match="photos stage only"):
        UNetTrainConfig(stage="tinyimagenet", ema=0.99)


def test_calibration_photos_are_held_out_of_training_the_same_on_every_run(tmp_path, astronaut):
    """--calibration-fraction: a stable share of the training photos is left out of training and listed
    in calibration_split.txt, apart from the validation split, for the chroma gain to be chosen on."""
    from PIL import Image

    from framecolor.training.unet_loop import UNetTrainConfig

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):
        Image.fromarray(np.ascontiguousarray(astronaut[i * 8:i * 8 + 200, i * 10:i * 10 + 220])).save(photos / f"p{i:02d}.png")
    kw = dict(stage="photos", crop=64, init_from=None)
    plain = _train2(photos, tmp_path / "plain", epochs=1, **kw)
    held = _train2(photos, tmp_path / "held", epochs=1, **kw, calibration_fraction=0.3)
    again = _train2(photos, tmp_path / "again", epochs=1, **kw, calibration_fraction=0.3)
    names = (tmp_path / "held" / "calibration_split.txt").read_text().split()
    val = (tmp_path / "held" / "val_split.txt").read_text().split()
    assert names and not set(names) & set(val)
    assert names == (tmp_path / "again" / "calibration_split.txt").read_text().split()
    assert not (tmp_path / "plain" / "calibration_split.txt").exists()
    card, base = (json.loads(p.with_suffix(".json").read_text()) for p in (held, plain))
    assert card["train_images"] + card["calibration_images"] == base["train_images"]
    assert card["calibration_images"] == len(names) and json.loads(again.with_suffix(".json").read_text())["train_images"] == card["train_images"]
    with pytest.raises(ValueError, match="photos stage only"):
        UNetTrainConfig(stage="tinyimagenet", calibration_fraction=0.1)
    with pytest.raises(ValueError, match="calibration_fraction"):
        UNetTrainConfig(stage="photos", calibration_fraction=0.6)


def test_unfrozen_stages_are_trained_saved_and_loaded(tmp_path, astronaut):
    """--unfreeze-blocks 1: the backbone's last stage learns, goes into the checkpoint, and a loaded
    checkpoint gives the same output as the model that was trained."""
    from PIL import Image

    from framecolor.training.unet_loop import UNetTrainConfig, train_unet

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(np.ascontiguousarray(astronaut[i * 20:i * 20 + 256, i * 20:i * 20 + 256])).save(photos / f"p{i}.png")
    cfg = UNetTrainConfig(stage="photos", epochs=1, batch_size=4, crop=64, warmup_steps=1, unfreeze_blocks=1)
    ckpt = train_unet(str(photos), str(tmp_path / "run"), unet_config(), cfg, log=lambda m: None)
    from safetensors.torch import load_file

    saved = load_file(ckpt)
    last = len(build_model(unet_config(), pretrained_embedder=False).backbone.blocks) - 1
    tuned = [k for k in saved if k.startswith("backbone.")]
    assert tuned and all(k.startswith(f"backbone.blocks.{last}.") for k in tuned)
    fresh = build_model(unet_config()).backbone.state_dict()
    assert any(not torch.equal(saved[k], fresh[k.removeprefix("backbone.")]) for k in tuned if "weight" in k)
    model = load_checkpoint(ckpt).eval()
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        before = model(L)
        model.fold_classifier_batch_norm()
        assert torch.allclose(before, model(L), atol=1e-3)


def test_a_frozen_fine_tune_keeps_the_stages_its_starting_point_tuned(tmp_path, astronaut):
    """From a checkpoint whose last backbone stage was fine-tuned, a run with the backbone frozen trains on
    that stage, so its checkpoint must hold it, unchanged; and a run that unfreezes another stage keeps it
    too. (Before the fix, the frozen run's checkpoint dropped it, and loaded with the pristine stage.)"""
    from PIL import Image
    from safetensors.torch import load_file

    from framecolor.training.unet_loop import UNetTrainConfig, train_unet

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(np.ascontiguousarray(astronaut[i * 20:i * 20 + 256, i * 20:i * 20 + 256])).save(photos / f"p{i}.png")

    def run(name, init_from, blocks):
        cfg = UNetTrainConfig(stage="photos", epochs=1, batch_size=4, crop=64, warmup_steps=1, unfreeze_blocks=blocks)
        return load_file(train_unet(str(photos), str(tmp_path / name), unet_config(), cfg, init_from=init_from,
                                    cache_dir=str(tmp_path / "cache"), log=lambda m: None))

    first = run("first", None, 1)
    parent = tmp_path / "first" / "last.safetensors"
    tuned = sorted(k for k in first if k.startswith("backbone."))
    frozen = run("frozen", str(parent), 0)
    assert sorted(k for k in frozen if k.startswith("backbone.")) == tuned
    assert all(torch.equal(frozen[k], first[k]) for k in tuned)
    assert any(not torch.equal(frozen[k], first[k]) for k in frozen if k.startswith("decoder.") and "weight" in k)
    load_checkpoint(tmp_path / "frozen" / "last.safetensors")  # in the form a fresh model loads
    blocks = build_model(unet_config(), pretrained_embedder=False).backbone.blocks
    wider = run("wider", str(parent), 2)
    stages = {int(k.split(".")[2]) for k in wider if k.startswith("backbone.")}
    assert stages == {len(blocks) - 2, len(blocks) - 1}


def test_photos_stage_with_tiny_imagenet_mixed_in_learns_from_it_and_resumes_exactly(tiny_folder, tmp_path, astronaut):
    """--mix-tiny: each step adds a batch of Tiny ImageNet photos (so the weights differ from the photos-only
    run's), the card says how many were mixed in, and a run stopped after one epoch resumes bit for bit."""
    from PIL import Image
    from safetensors.torch import load_file

    from framecolor.training.unet_loop import UNetTrainConfig

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        Image.fromarray(np.ascontiguousarray(astronaut[i * 16:i * 16 + 200, i * 20:i * 20 + 220])).save(photos / f"p{i}.png")
    kw = dict(stage="photos", crop=64, init_from=None, mix_tiny=str(tiny_folder))
    whole = _train2(photos, tmp_path / "whole", epochs=2, **kw)
    plain = _train2(photos, tmp_path / "plain", epochs=2, **{**kw, "mix_tiny": None})
    _train2(photos, tmp_path / "cut", epochs=1, **kw)
    resumed = _train2(photos, tmp_path / "cut", epochs=2, **kw)
    a, b, p = load_file(whole), load_file(resumed), load_file(plain)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], p[k]) for k in a if k.endswith("weight"))
    card = json.loads(whole.with_suffix(".json").read_text())
    assert card["mixed_tiny_images"] > 0 and card["train_config"]["mix_tiny"] == str(tiny_folder)
    with pytest.raises(ValueError, match="photos stage only"):
        UNetTrainConfig(stage="tinyimagenet", mix_tiny=str(tiny_folder))
