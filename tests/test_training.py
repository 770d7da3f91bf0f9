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
