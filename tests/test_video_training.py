"""Training the temporal head: clip windows, a couple of steps, a checkpoint the video path loads."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import video_clips as vc


def _base(tmp_path):
    from framecolor.config import ColorizerConfig
    from framecolor.models.registry import build_model, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), tmp_path / "base.safetensors")


def test_feature_windows_pair_features_with_their_frames(tmp_path):
    from framecolor.training.video_data import FeatureWindows, cache_clip

    cache = cache_clip(vc.make_clip(tmp_path / "a.mp4", n=12, h=96, w=128), tmp_path, side=64)
    frames = np.load(cache)
    assert frames.shape == (12, 64, 88, 3) and frames.dtype == np.uint8
    # stand-in "features": each cell holds its frame index and its pixel row/column of origin
    t, y, x = np.meshgrid(np.arange(10), np.arange(8) * 8, np.arange(11) * 8, indexing="ij")
    feats = tmp_path / "f.npy"
    np.save(feats, np.stack((t, y, x), axis=1).astype(np.float16))
    windows = FeatureWindows([(feats, cache)], length=4, crop=32, stride=2, train=True, seed=1)
    assert len(windows) == 4  # only the 10 frames that have features
    f, rgb = windows[3]
    assert f.shape == (4, 3, 4, 4) and rgb.shape == (4, 32, 32, 3)
    assert f[:, 0, 0, 0].tolist() == [6, 7, 8, 9]
    y0, x0 = int(f[0, 1, 0, 0]), int(f[0, 2, 0, 0])
    assert torch.equal(rgb, torch.from_numpy(frames[6:10, y0:y0 + 32, x0:x0 + 32]))
    again = windows[3][0]
    windows.set_epoch(1)
    assert torch.equal(again, f) and any(not torch.equal(windows[i][0], FeatureWindows(
        [(feats, cache)], length=4, crop=32, stride=2, seed=1)[i][0]) for i in range(4))  # crops follow the epoch


@pytest.mark.parametrize("anchor_weight", [0.0, 1.0])
def test_train_temporal_learns_only_the_head_and_saves_a_loadable_model(tmp_path, anchor_weight):
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import load_checkpoint
    from framecolor.training.temporal_loop import train_temporal
    from framecolor.film.stream import StreamColorizer

    clips, base = _clips(tmp_path), _base(tmp_path)
    best = train_temporal(str(clips), str(base), str(tmp_path / "run"), _small_cfg(epochs=1, anchor_weight=anchor_weight),
                          log=lambda *_: None)
    model = load_checkpoint(best)
    image = load_checkpoint(base)
    assert model.temporal is not None and model.temporal.out.weight.abs().sum() > 0  # the head moved off zero
    frozen = image.decoder.state_dict()
    assert all(torch.equal(v, frozen[k]) for k, v in model.decoder.state_dict().items())  # image model untouched
    colorizer = StreamColorizer(ImageColorizer(model, torch.device("cpu"), size=32, batch_size=2), "lstm")
    assert colorizer(list(vc.moving_frames(3))).shape == (3, 48, 64, 3)


def test_cached_features_give_what_the_whole_model_gives(tmp_path):
    from framecolor.config import ColorizerConfig, TemporalConfig
    from framecolor.models.registry import build_model
    from framecolor.training.data import batch_to_lab
    from framecolor.training.temporal_loop import cache_features, clip_batch
    from framecolor.training.video_data import FeatureWindows, cache_clip

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(embedder=None, temporal=TemporalConfig(hidden_channels=8))).eval()
    torch.nn.init.normal_(model.temporal.out.weight, std=0.1)  # a head that does something
    frames = cache_clip(vc.make_clip(tmp_path / "a.mp4", n=10, h=96, w=96), tmp_path, side=64)
    feats = cache_features(model, frames, "test", max_frames=8)
    assert np.load(feats).shape == (8, model.encoder.out_channels, 8, 8)
    assert cache_features(model, frames, "test", max_frames=8).stat().st_mtime_ns == feats.stat().st_mtime_ns
    f, rgb = FeatureWindows([(feats, frames)], length=4, crop=64, stride=4, train=False)[1]  # whole frames
    with torch.no_grad():
        pred, target = clip_batch(model, f[None], rgb[None], torch.device("cpu"))
        L, _ = batch_to_lab(rgb)
        whole, _ = model.forward_clip(L[None])
    assert pred.shape == target.shape == (1, 4, 2, 64, 64)
    assert torch.allclose(pred, whole, atol=2e-2)  # float16 features: same prediction, up to rounding
    assert not torch.allclose(pred, torch.zeros_like(pred), atol=1e-2)


def _clips(tmp_path):
    """Three short synthetic clips moving at different speeds, in tmp_path/clips."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(3):
        vc.make_clip(clips / f"c{i}.mp4", n=10, h=96, w=128, step=2 + i)
    return clips


def _small_cfg(**kw):
    from framecolor.config import TemporalTrainConfig

    return TemporalTrainConfig(batch_size=2, length=3, crop=32, side=64, hidden_channels=8, max_frames=8,
                               max_steps_per_epoch=2, val_fraction=0.34, **kw)


def _train(clips, base, out, epochs):
    from framecolor.training.temporal_loop import train_temporal

    train_temporal(str(clips), str(base), str(out), _small_cfg(epochs=epochs, lr=1e-2), log=lambda *_: None)
    return torch.load(out / "resume.pt", weights_only=True)


def test_temporal_training_resumes_exactly(tmp_path):
    clips, base = _clips(tmp_path), _base(tmp_path)
    straight = _train(clips, base, tmp_path / "a", epochs=2)
    _train(clips, base, tmp_path / "b", epochs=1)
    resumed = _train(clips, base, tmp_path / "b", epochs=2)
    assert resumed["epoch"] == straight["epoch"] == 2
    assert all(torch.equal(v, resumed["model"][k]) for k, v in straight["model"].items())
    untimed = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in json.loads(h)]  # noqa: E731
    assert untimed(resumed["history"]) == untimed(straight["history"])


def test_train_temporal_command_has_one_flag_per_config_field_and_records_itself(tmp_path, capsys):
    import dataclasses

    from framecolor.cli import main
    from framecolor.models.registry import read_meta

    clips, base = _clips(tmp_path), _base(tmp_path)
    argv = ["train-temporal", str(clips), "--base", str(base), "-o", str(tmp_path / "run"), "--epochs", "1",
            "--lr", "1e-2", "--batch-size", "2", "--length", "3", "--crop", "32", "--side", "64",
            "--hidden-channels", "8", "--max-frames", "8", "--max-steps-per-epoch", "2", "--val-fraction", "0.34"]
    assert main(argv) == 0
    best = capsys.readouterr().out.strip().splitlines()[-1]
    card = read_meta(best)
    assert card["temporal_train_config"] == dataclasses.asdict(_small_cfg(epochs=1, lr=1e-2))
    assert card["training_command"] == "framecolor " + " ".join(argv)


def test_held_out_clips_are_never_read_and_validation_comes_from_the_rest(tmp_path):
    from framecolor.training.video_data import in_split, split_caches

    clips, names = tmp_path / "clips", [f"c{i}" for i in range(6)]
    clips.mkdir()
    held = [n for n in names if in_split(n, 0.3)]
    assert held and len(held) < 4  # the test needs both kinds
    for n in names:  # a held-out clip is not even a video: reading it would fail
        path = clips / f"{n}.mp4"
        path.write_bytes(b"not a video") if n in held else vc.make_clip(path, n=4, h=32, w=32)
    train, val, held_out = split_caches(clips, tmp_path / "cache", side=32, val_fraction=0.5,
                                        holdout_fraction=0.3, log=lambda *_: None)
    stems = lambda caches: {p.stem.removesuffix("-32") for p in caches}  # noqa: E731
    assert held_out == held and val and train
    assert stems(train) | stems(val) == set(names) - set(held) and not stems(train) & stems(val)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(f"{n}-32.npy" for n in set(names) - set(held))
    again = split_caches(clips, tmp_path / "cache", side=32, val_fraction=0.5, holdout_fraction=0.3,
                         log=lambda *_: None)
    assert again == (train, val, held_out)  # stable: the split depends on the names only


def test_named_clips_are_held_out_too_and_a_wrong_name_is_refused(tmp_path):
    from framecolor.config import TemporalTrainConfig
    from framecolor.training.video_data import split_caches

    clips = tmp_path / "clips"
    clips.mkdir()
    vc.make_clip(clips / "a.mp4", n=4, h=32, w=32)
    vc.make_clip(clips / "b.mp4", n=4, h=32, w=32)
    (clips / "fold.mp4").write_bytes(b"not a video")  # held out by name: never opened
    names = TemporalTrainConfig(holdout_clips=" fold, ").holdout_names
    assert names == ["fold"] == TemporalTrainConfig(holdout_clips="fold.mp4").holdout_names
    train, val, held_out = split_caches(clips, tmp_path / "cache", side=32, val_fraction=0.0,
                                        log=lambda *_: None, holdout_names=names)
    assert held_out == ["fold"] and len(train) + len(val) == 2
    with pytest.raises(ValueError, match="no clip named typo"):
        split_caches(clips, tmp_path / "cache", side=32, log=lambda *_: None, holdout_names=["typo"])


def test_saturation_term_punishes_grey_colour_but_not_a_different_hue():
    from framecolor.training.temporal_loop import clip_loss

    torch.manual_seed(0)
    target = 0.3 * torch.randn(2, 3, 2, 16, 16)
    grey, rotated = 0.5 * target, torch.stack((-target[:, :, 1], target[:, :, 0]), dim=2)  # same chroma
    for pred in (grey, rotated):
        assert clip_loss(pred, target, 1.0, 0.0) == clip_loss(pred, target, 1.0, 0.0)
    assert clip_loss(grey, target, 1.0, 2.0) > clip_loss(grey, target, 1.0, 0.0) + 1e-3
    assert torch.allclose(clip_loss(rotated, target, 1.0, 2.0), clip_loss(rotated, target, 1.0, 0.0), atol=1e-6)
    scale = torch.tensor(0.5, requires_grad=True)  # from grey, the term pulls towards the truth's chroma
    (clip_loss(scale * target, target, 1.0, 2.0) - clip_loss(scale * target, target, 1.0, 0.0)).backward()
    assert scale.grad < 0


def test_anchored_loss_takes_colour_from_the_image_model_and_change_from_the_truth():
    from framecolor.config import TemporalTrainConfig
    from framecolor.training.temporal_loop import clip_loss

    torch.manual_seed(0)
    target, anchor = 0.3 * torch.randn(2, 4, 2, 8, 8), 0.3 * torch.randn(2, 4, 2, 8, 8)
    shifted = target + 0.2  # other colours, the same frame-to-frame change
    steady = anchor[:, :1].expand_as(anchor)  # the anchor's first frame held: no change at all
    assert clip_loss(anchor, target, 1.0, anchor=anchor, anchor_weight=1.0) == \
        clip_loss(anchor, shifted, 1.0, anchor=anchor, anchor_weight=1.0)  # truth's colours ignored
    assert clip_loss(anchor, target, 1.0, anchor=anchor, anchor_weight=0.0) < \
        clip_loss(anchor, shifted, 1.0, anchor=anchor, anchor_weight=0.0)
    no_change = torch.zeros(()) + clip_loss(steady, steady, 1.0, anchor=steady, anchor_weight=1.0)
    assert no_change == 0 and clip_loss(steady, target, 1.0, anchor=steady, anchor_weight=1.0) > 0.01
    saturated = lambda pred, w: clip_loss(pred, 2 * target, 1.0, w, anchor=anchor, anchor_weight=1.0)  # noqa: E731
    assert saturated(anchor, 5.0) == saturated(anchor, 0.0)  # the chroma to keep is the anchor's, not the truth's
    assert saturated(0.5 * anchor, 5.0) > saturated(0.5 * anchor, 0.0) + 1e-3
    with pytest.raises(ValueError, match="anchor_weight"):
        TemporalTrainConfig(anchor_weight=1.5)
    with pytest.raises(ValueError, match="decoder"):
        TemporalTrainConfig(anchor_weight=0.5, train_decoder=True)
