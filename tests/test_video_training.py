"""Training the temporal head: clip windows, a couple of steps, a checkpoint the video path loads."""
from __future__ import annotations

import numpy as np
import torch

import video_clips as vc


def _base(tmp_path):
    from framecolor.config import ColorizerConfig
    from framecolor.models.registry import build_model, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), tmp_path / "base.safetensors")


def test_clip_windows_are_consecutive_frames(tmp_path):
    from framecolor.training.video_data import ClipWindows, cache_clip

    cache = cache_clip(vc.make_clip(tmp_path / "a.mp4", n=12, h=96, w=128), tmp_path, side=64)
    arr = np.load(cache)
    assert arr.shape == (12, 64, 88, 3) and arr.dtype == np.uint8
    windows = ClipWindows([cache], length=4, crop=32, stride=2, train=False)
    assert len(windows) == 5 and windows[0].shape == (4, 32, 32, 3)


def test_train_temporal_learns_only_the_head_and_saves_a_loadable_model(tmp_path):
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import load_checkpoint
    from framecolor.training.temporal_loop import TemporalTrainConfig, train_temporal
    from framecolor.video_pipeline import StreamColorizer

    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(3):
        vc.make_clip(clips / f"c{i}.mp4", n=10, h=96, w=128, step=2 + i)
    base = _base(tmp_path)
    cfg = TemporalTrainConfig(epochs=1, batch_size=2, length=3, crop=32, side=64, hidden_channels=8,
                              max_steps_per_epoch=2, val_fraction=0.34)
    best = train_temporal(str(clips), str(base), str(tmp_path / "run"), cfg, log=lambda *_: None)
    model = load_checkpoint(best)
    image = load_checkpoint(base)
    assert model.temporal is not None and model.temporal.out.weight.abs().sum() > 0  # the head moved off zero
    frozen = image.decoder.state_dict()
    assert all(torch.equal(v, frozen[k]) for k, v in model.decoder.state_dict().items())  # image model untouched
    colorizer = StreamColorizer(ImageColorizer(model, torch.device("cpu"), size=32, batch_size=2), "lstm")
    assert colorizer(list(vc.moving_frames(3))).shape == (3, 48, 64, 3)
