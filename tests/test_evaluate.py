"""`framecolor evaluate` on a tiny generated folder: the reports a user reads, and the baselines' meaning."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from framecolor.cli import main
from framecolor.config import ColorizerConfig
from framecolor.evaluate import (GREY, MEAN_AB, TRUTH, constant_ab_rgb, list_training_images, mean_ab_of,
                                 read_mean_ab)
from framecolor.metrics import colorfulness
from framecolor.models.registry import build_model, save_checkpoint


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    basic = save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), d / "basic.safetensors",
                            {"train_mean_ab": [2.0, 12.0]})
    plain = save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), d / "plain.safetensors")
    fusion = save_checkpoint(build_model(ColorizerConfig(), pretrained_embedder=True), d / "fusion.safetensors")
    return str(basic), str(fusion), str(plain)


@pytest.fixture(scope="module")
def data(tmp_path_factory, chelsea, astronaut, camera):
    d = tmp_path_factory.mktemp("photos")
    (d / "sub").mkdir()
    Image.fromarray(chelsea[::2, ::2]).save(d / "cat.jpg", quality=95)
    Image.fromarray(astronaut[::4, ::4]).save(d / "sub" / "astro.png")
    Image.fromarray(np.ascontiguousarray(astronaut[::4, ::4, ::-1])).save(d / "swapped.png")
    Image.fromarray(camera[::4, ::4]).save(d / "grey.png")  # no colour truth: skipped
    (d / "broken.jpg").write_bytes(b"not a jpeg")  # unreadable: skipped, reported
    return d


def _evaluate(data, out, *args) -> int:
    return main(["evaluate", "--data", str(data), "-o", str(out), "--size", "64", "--no-progress", *map(str, args)])


def test_reports_for_models_and_baselines(data, models, tmp_path, capsys):
    basic, fusion, _ = models
    assert _evaluate(data, tmp_path / "out", "--model", f"{basic},{fusion}") == 0
    doc = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    summary = doc["summary"]
    assert list(summary) == ["basic", "fusion", GREY, MEAN_AB, TRUTH]
    assert summary[TRUTH]["images"] == 3 and len(doc["skipped"]) == 2
    assert any("broken.jpg" in s for s in doc["skipped"]) and any("grey.png" in s for s in doc["skipped"])
    for m in ("basic", "fusion", GREY, MEAN_AB):
        s = summary[m]
        assert s["images"] == 3 and 5 < s["psnr"] < 60 and 0 < s["ssim"] <= 1
        assert s["colorfulness_diff"] == pytest.approx(s["colorfulness"] - summary[TRUTH]["colorfulness"])
    assert summary[GREY]["colorfulness"] < 1  # grey has no colour
    assert doc["settings"]["chroma_gain"] == "each model's own"
    assert doc["mean_ab"] == [2.0, 12.0] and "basic" in doc["mean_ab_source"]  # from the sidecar
    assert len(doc["per_image"]) == 3 * 4
    table = (tmp_path / "out" / "evaluation.md").read_text()
    assert table == capsys.readouterr().out
    assert all(f"| {m} |" in table for m in ("basic", "fusion", GREY, MEAN_AB, TRUTH))


def test_a_chroma_gain_given_is_recorded_and_applied(data, models, tmp_path):
    basic = models[0]
    assert _evaluate(data, tmp_path / "g1", "--model", basic) == 0
    assert _evaluate(data, tmp_path / "g2", "--model", basic, "--chroma-gain", "2") == 0
    one, two = (json.loads((tmp_path / g / "evaluation.json").read_text()) for g in ("g1", "g2"))
    assert two["settings"]["chroma_gain"] == 2.0
    assert two["summary"]["basic"]["colorfulness"] > 1.5 * one["summary"]["basic"]["colorfulness"]


def test_grid_shows_grey_predictions_and_truth(data, models, tmp_path):
    basic = models[0]
    assert _evaluate(data, tmp_path, "--model", basic, "--grid", "2") == 0
    grid = cv2.imread(str(tmp_path / "evaluation_grid.png"))
    # header + 2 rows of 164 px; columns: grey | basic | train-mean-ab | truth, 244 px each
    assert grid.shape == (24 + 2 * 164, 4 * 244, 3)


def test_val_list_and_limit(data, models, tmp_path):
    basic = models[0]
    (tmp_path / "val.txt").write_text("# held out\nsub/astro.png\ncat.jpg\nswapped.png\n")
    assert _evaluate(data, tmp_path / "out", "--model", basic, "--val-list", tmp_path / "val.txt", "--limit", 2) == 0
    doc = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert sorted({r["image"] for r in doc["per_image"]}) == sorted([str(data / "sub/astro.png"), str(data / "cat.jpg")])


def test_training_images_are_those_the_val_list_leaves_sorted(data, tmp_path):
    (tmp_path / "val.txt").write_text("# held out\nsub/astro.png\ncat.jpg\n")
    rest = [data / n for n in ("broken.jpg", "grey.png", "swapped.png")]  # sorted; the readers skip bad ones
    assert list_training_images(data, tmp_path / "val.txt") == rest
    assert list_training_images(str(data), str(tmp_path / "val.txt"), limit=2) == rest[:2]


def test_mean_ab_from_file_or_training_images(data, models, tmp_path, capsys):
    plain = models[2]
    (tmp_path / "mean.json").write_text('{"train_mean_ab": [1.5, -4.0]}')
    assert read_mean_ab(tmp_path / "mean.json") == (1.5, -4.0)
    (tmp_path / "train.txt").write_text("cat.jpg\n")
    # this checkpoint has no train_mean_ab: without a source the user is told what to give
    assert _evaluate(data, tmp_path / "a", "--model", plain) == 2
    assert "--mean-ab" in capsys.readouterr().err
    assert _evaluate(data, tmp_path / "b", "--model", plain, "--train-list", tmp_path / "train.txt") == 0
    doc = json.loads((tmp_path / "b" / "evaluation.json").read_text())
    assert doc["mean_ab"] == pytest.approx(list(mean_ab_of([data / "cat.jpg"])))


def test_mean_ab_baseline_is_the_best_constant_colour(chelsea):
    """Sanity of the baselines: with the image's own mean a*b*, the constant baseline beats grey in PSNR."""
    from framecolor.metrics import psnr
    truth = chelsea / 255.0
    own = mean_ab_of_array(truth)
    assert psnr(constant_ab_rgb(truth, own), truth) > psnr(constant_ab_rgb(truth, (0.0, 0.0)), truth)
    assert colorfulness(constant_ab_rgb(truth, (0.0, 0.0))) < 0.5


def mean_ab_of_array(rgb: np.ndarray) -> tuple[float, float]:
    from skimage.color import rgb2lab
    lab = rgb2lab(rgb)
    return float(lab[..., 1].mean()), float(lab[..., 2].mean())


def test_prediction_matches_colorize_output(data, models, tmp_path):
    """Evaluation scores exactly what `framecolor colorize` writes (working size, full-resolution L* merge)."""
    from framecolor.evaluate import predictions
    from framecolor.images import read_image
    from framecolor.inference import load_colorizer
    basic = models[0]
    src = data / "sub" / "astro.png"
    assert main(["colorize", str(src), "-o", str(tmp_path / "c.png"), "--model", basic, "--size", "64",
                 "--no-progress"]) == 0
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "c.png")), cv2.COLOR_BGR2RGB) / 255.0
    pred = predictions({"basic": load_colorizer(basic, "cpu", 64)}, read_image(src), (0.0, 0.0))["basic"]
    assert np.abs(pred - written).max() < 1e-6


def test_missing_data_folder_is_one_line(tmp_path, models, capsys):
    assert _evaluate(tmp_path / "nope", tmp_path / "out", "--model", models[0]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
