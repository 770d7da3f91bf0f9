"""`framecolor train` end to end on a tiny folder of real photos: skips grey images, caches embeddings,
keeps the best checkpoint, writes curves and history, and resumes exactly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from framecolor.cli import main
from framecolor.models.registry import load_checkpoint, read_meta
from framecolor.training.data import is_gray


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for name in ("chelsea", "astronaut", "coffee", "rocket"):
        img = getattr(skimage.data, name)()
        Image.fromarray(img).resize((96, 64)).save(root / f"{name}.png")
    grey = skimage.data.camera()
    Image.fromarray(np.stack([grey] * 3, axis=2)).resize((96, 64)).save(root / "camera_rgb_but_grey.png")
    return root


def _train(photos: Path, out: Path, epochs: int, *extra: str) -> int:
    return main(["train", str(photos), "-o", str(out), "--epochs", str(epochs), "--batch-size", "2",
                 "--crop", "32", "--val-fraction", "0.3", "--seed", "3", *extra])


def test_is_gray_tells_grey_from_colour(chelsea, camera):
    assert is_gray(np.repeat(camera[..., None], 3, axis=2) / 255.0)
    assert not is_gray(chelsea / 255.0)


def test_train_skips_grey_keeps_best_and_writes_history(photos, tmp_path):
    out = tmp_path / "run"
    assert _train(photos, out, 2, "--embedder", "none") == 0
    index = json.loads(next((out / "cache").glob("shards-*.json")).read_text())
    assert index["skipped"]["gray"] == 1
    assert "camera_rgb_but_grey.png" not in index["train"] + index["val"]
    assert len(index["train"]) + len(index["val"]) == 4
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["val_psnr"]) for h in history)
    assert (out / "loss_curve.png").stat().st_size > 1000
    meta = read_meta(out / "best.safetensors")
    assert meta["epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    assert len(meta["train_mean_ab"]) == 2 and "framecolor train" in meta["training_command"]
    model = load_checkpoint(out / "best.safetensors")
    assert model.embedder is None and model.config.name == "basic-cnn"


def test_interrupted_training_resumes_exactly(photos, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(photos, straight, 3, "--embedder", "none") == 0
    assert _train(photos, resumed, 1, "--embedder", "none") == 0  # "interrupted" after epoch 1
    assert _train(photos, resumed, 3, "--embedder", "none") == 0  # the same command, longer: resumes
    a = torch.load(straight / "resume.pt", weights_only=True)
    b = torch.load(resumed / "resume.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert json.loads(a["history"])[-1]["val_loss"] == json.loads(b["history"])[-1]["val_loss"]


def test_fusion_training_caches_each_embedding_once(photos, tmp_path):
    out = tmp_path / "fusion"
    assert _train(photos, out, 1, "--max-steps-per-epoch", "1") == 0
    caches = sorted((out / "cache").glob("emb-efficientnet_lite0-*.npy"))
    assert len(caches) == 2  # train and validation
    emb = np.load(caches[0])
    assert emb.shape[1] == 1000 and np.allclose(emb.astype(np.float32).sum(1), 1, atol=1e-2)
    stamps = [c.stat().st_mtime_ns for c in caches]
    assert _train(photos, out, 2, "--max-steps-per-epoch", "1") == 0
    assert [c.stat().st_mtime_ns for c in caches] == stamps  # reused, not recomputed


def test_weight_ema_warms_up_then_tracks_the_weights():
    from framecolor.config import ColorizerConfig
    from framecolor.models.registry import build_model
    from framecolor.training.ema import WeightEma

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(embedder=None))
    ema = WeightEma(model, decay=0.999)
    assert ema.rate() == pytest.approx(0.1)  # step 0: (1 + 0) / (10 + 0)
    before = {k: v.clone() for k, v in ema.model.trainable_state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)  # step 1: decay 2 / 11
    name = next(iter(before))
    expected = before[name] + (1 - 2 / 11) * 1.0
    assert torch.allclose(ema.model.trainable_state_dict()[name], expected, atol=1e-6)
    with torch.no_grad():  # a later in-place step (as the optimiser does) is seen by the next update
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)  # step 2: decay 3 / 12
    expected = expected + (1 - 3 / 12) * (before[name] + 2.0 - expected)
    assert torch.allclose(ema.model.trainable_state_dict()[name], expected, atol=1e-5)
    ema.step = 10**6
    assert ema.rate() == 0.999  # the warm-up ends at the asked decay
    restored = WeightEma(build_model(ColorizerConfig(embedder=None)), 0.999)
    restored.load_state_dict(ema.state_dict())
    assert restored.step == ema.step
    assert torch.equal(restored.model.trainable_state_dict()[name], ema.model.trainable_state_dict()[name])


def test_train_config_rejects_unknown_schedule_and_bad_ema():
    from framecolor.config import TrainConfig

    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.5)


EMA_COSINE = ("--embedder", "none", "--ema", "0.9", "--lr-schedule", "cosine", "--weight-decay", "1e-4")


def test_ema_run_checkpoints_the_average_and_anneals_to_the_floor(photos, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "ema"
    assert _train(photos, out, 1, *EMA_COSINE) == 0  # one epoch: it is the best one
    state = torch.load(out / "resume.pt", weights_only=True)
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["lr"] == pytest.approx(1e-5)  # cosine ends at the floor
    assert "raw_val_psnr" in history[-1]  # the live weights are scored alongside
    best = load_file(out / "best.safetensors")
    assert read_meta(out / "best.safetensors")["train_config"]["ema"] == 0.9
    for k in best:
        assert torch.equal(best[k], state["ema"]["weights"][k].to(best[k].dtype)), k
    assert any(not torch.equal(state["ema"]["weights"][k], state["model"][k]) for k in state["model"])


def test_ema_cosine_run_resumes_exactly(photos, tmp_path, monkeypatch):
    import framecolor.training.loop as loop

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _train(photos, straight, 3, *EMA_COSINE) == 0
    real_plot = loop.plot_history

    def interrupt(*args):  # dies right after epoch 1's resume state is written
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "plot_history", interrupt)
    assert _train(photos, resumed, 3, *EMA_COSINE) == 130
    monkeypatch.setattr(loop, "plot_history", real_plot)
    assert [h["epoch"] for h in json.loads((resumed / "history.json").read_text())] == [1]
    assert _train(photos, resumed, 3, *EMA_COSINE) == 0
    a = torch.load(straight / "resume.pt", weights_only=True)
    b = torch.load(resumed / "resume.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3 and a["ema"]["step"] == b["ema"]["step"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"]["weights"][k], b["ema"]["weights"][k]), k
    assert json.loads(a["history"])[-1]["val_loss"] == json.loads(b["history"])[-1]["val_loss"]


def test_resuming_with_other_ema_setting_is_refused(photos, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(photos, out, 1, "--embedder", "none") == 0
    assert _train(photos, out, 2, *EMA_COSINE) == 2
    err = capsys.readouterr().err
    assert "resume.pt" in err and "--ema" in err


def test_colourful_losses_add_the_colourfulness_gap_to_their_pixel_loss():
    import torch.nn.functional as F

    from framecolor.training.loop import ab_colorfulness, make_loss

    torch.manual_seed(0)
    target = torch.rand(2, 2, 8, 8) - 0.5
    pred = 0.5 * target  # half as colourful
    gap = (ab_colorfulness(pred) - ab_colorfulness(target)).abs().mean()
    assert gap > 0.05
    assert torch.allclose(make_loss("mse_colorful", 0.3)(pred, target), F.mse_loss(pred, target) + 0.3 * gap)
    assert torch.allclose(make_loss("huber_colorful", 0.3)(pred, target),
                          F.smooth_l1_loss(pred, target, beta=0.1) + 0.3 * gap)
    assert make_loss("mse") is F.mse_loss
    with pytest.raises(ValueError, match="mse_colorful"):
        make_loss("l1")


def test_photo_psnr_loss_weighs_each_photo_by_its_own_error_and_floors_the_batch_colourfulness():
    from framecolor.training.loop import PHOTO_PSNR_EPS, ab_colorfulness, make_loss

    torch.manual_seed(0)
    loss = make_loss("photo_psnr", 1.0)
    target = torch.cat((0.02 * torch.randn(1, 2, 8, 8), 0.3 * torch.randn(1, 2, 8, 8)))  # muted, vivid
    # as colourful as the truth: no floor term, the fit is the mean per-photo log(MSE + eps)
    pred = target + 0.01 * torch.randn_like(target)
    pred = pred * (ab_colorfulness(target).sum() / ab_colorfulness(pred).sum()).clamp_min(1.0)
    mse = (pred - target).square().flatten(1).mean(1)
    assert torch.allclose(loss(pred, target), mse.add(PHOTO_PSNR_EPS).log().mean())
    # a photo's pull grows as its error shrinks: the muted photo, off by 0.01, pulls harder than the
    # vivid one, off by 0.1 (under plain MSE it is the other way round, by 10x)
    offset = torch.tensor([0.01, 0.1]).view(2, 1, 1, 1)
    for fn, muted_pulls_harder in ((loss, True), (torch.nn.functional.mse_loss, False)):
        pred = (target + offset).requires_grad_()
        fn(pred, target).backward()
        pull = pred.grad.abs().flatten(1).sum(1)
        assert (pull[0] > 2 * pull[1]) == muted_pulls_harder
    # a grey prediction pays the whole shortfall of the batch's colourfulness
    grey = torch.zeros_like(target)
    fit = (grey - target).square().flatten(1).mean(1).add(PHOTO_PSNR_EPS).log().mean()
    assert torch.allclose(loss(grey, target) - fit, torch.tensor(1.0), atol=1e-3)
    assert torch.allclose(make_loss("photo_psnr", 0.5)(grey, target) - fit, torch.tensor(0.5), atol=1e-3)


class _Recorder(torch.nn.Module):
    """Stands in for a fusion colorizer: records the embeddings it is given, predicts a learnable constant."""

    def __init__(self):
        super().__init__()
        self.fusion, self.seen = True, []
        self.ab = torch.nn.Parameter(torch.zeros(1, 2, 1, 1))

    def forward(self, L, emb):
        self.seen.append(emb.clone())
        return self.ab.expand(len(L), 2, *L.shape[-2:])


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_embed_dropout_drops_and_rescales_the_cached_embedding_in_training_only(rate):
    from framecolor.training.loop import evaluate, make_loss, train_one_epoch

    torch.manual_seed(0)
    rgb, emb = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8), torch.full((4, 1000), 0.001)
    model = _Recorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(model, [(rgb, emb)], opt, make_loss("mse"), "cpu", False, None, "t", embed_dropout=rate)
    seen = model.seen[-1]
    if rate == 0:
        assert torch.equal(seen, emb)
    else:  # about half the entries dropped, the rest scaled by 1 / (1 - rate)
        kept = seen != 0
        assert 0.4 < kept.float().mean() < 0.6
        assert torch.allclose(seen[kept], torch.full_like(seen[kept], 0.002))
    evaluate(model, [(rgb, emb)], make_loss("mse"), "cpu", False)
    assert torch.equal(model.seen[-1], emb)  # validation sees the embedding as it is


class _EmbeddingRecorder(_Recorder):
    """A _Recorder whose 'classifier' maps each image to its mean L* (in every entry)."""

    def embed(self, L):
        return L.mean(dim=(1, 2, 3))[:, None].expand(len(L), 1000).to(torch.bfloat16)


def test_embed_per_crop_feeds_the_classifiers_reading_of_each_crop_not_the_cached_one():
    from framecolor.training.data import batch_to_lab
    from framecolor.training.loop import evaluate, make_loss, train_one_epoch

    torch.manual_seed(0)
    rgb, cached = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8), torch.full((4, 1000), 0.001)
    want = batch_to_lab(rgb)[0].mean(dim=(1, 2, 3))
    model = _EmbeddingRecorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(model, [(rgb, cached)], opt, make_loss("mse"), "cpu", False, None, "t", embed_per_crop=True)
    seen = model.seen[-1]
    assert seen.dtype == torch.float32  # handed on as float, whatever the classifier computed in
    assert torch.allclose(seen[:, 0], want.to(torch.bfloat16).float()) and torch.equal(seen[:, :1].expand_as(seen), seen)
    evaluate(model, [(rgb, cached)], make_loss("mse"), "cpu", False)
    assert torch.equal(model.seen[-1], cached)  # evaluate hands on the loader's embedding as it is


def test_per_crop_validation_embeddings_are_the_classifiers_reading_of_each_fixed_crop():
    from framecolor.training.data import CropDataset, Shard, batch_to_lab
    from framecolor.training.loop import crop_embeddings

    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    val = CropDataset(Shard(images, [f"{i}.png" for i in range(5)]), None, 8, train=False)
    model = _EmbeddingRecorder()
    got = crop_embeddings(model, val, "cpu", batch=2)
    crops = torch.stack([val[i][0] for i in range(5)])
    want = batch_to_lab(crops)[0].mean(dim=(1, 2, 3))
    assert got.shape == (5, 1000) and got.dtype == np.float32
    assert torch.allclose(torch.from_numpy(got[:, 0]), want.to(torch.bfloat16).float())
    assert np.array_equal(val[3][1].numpy(), np.zeros(1000, np.float32))  # the dataset itself is untouched


def test_train_config_rejects_an_embed_dropout_of_one_or_more():
    from framecolor.config import TrainConfig

    with pytest.raises(ValueError, match="embed_dropout"):
        TrainConfig(embed_dropout=1.0)


def test_train_config_rejects_an_unknown_loss():
    from framecolor.config import TrainConfig

    with pytest.raises(ValueError, match="mse_colorful"):
        TrainConfig(loss="l1")
