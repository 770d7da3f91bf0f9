"""The report logic of experiments/where_it_loses.py and experiments/posthoc_maps.py, on made-up
inputs (the scripts are run by file path, as the docs run them)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluation(tmp_path):
    rows = []
    # 8 photos in two folders; truth colourfulness 10..80; the model gains (truth colourfulness - 30) / 10 dB
    for i, tc in enumerate(range(10, 90, 10)):
        image = f"data/{'dull' if i < 4 else 'vivid'}/p{i}.jpg"
        rows.append({"image": image, "method": "grey", "psnr": 20.0, "truth_colorfulness": float(tc)})
        rows.append({"image": image, "method": "m", "psnr": 20.0 + (tc - 30) / 10, "truth_colorfulness": float(tc)})
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"per_image": rows}))
    return path


def test_where_it_loses_splits_by_truth_colourfulness_and_folder(tmp_path):
    out = tmp_path / "w.md"
    _load("where_it_loses").main([str(_evaluation(tmp_path)), "--method", "m", "-o", str(out)])
    text = out.read_text()
    assert "mean +1.50 dB" in text and "62% of the photos gain" in text  # 5 of 8 gain more than 0
    # quarters of 2 photos each: gains (-2, -1), (0, 1), (2, 3), (4, 5)
    for mean in ("-1.50", "+0.50", "+2.50", "+4.50"):
        assert f"| 2 | {mean} |" in text
    assert text.index("| dull | 4 | -0.50 |") < text.index("| vivid | 4 | +3.50 |")  # worst folder first
    assert "where_it_loses.py" in text.splitlines()[-1] and "--method m" in text.splitlines()[-1]


def test_where_it_loses_refuses_an_unknown_method(tmp_path):
    with pytest.raises(SystemExit, match="no method 'nope'"):
        _load("where_it_loses").main([str(_evaluation(tmp_path)), "--method", "nope", "-o", str(tmp_path / "w.md")])


def test_gain_line_interpolates_and_extends_the_global_gain():
    line = _load("posthoc_maps").gain_line
    points = [(24.0, 0.8), (23.0, 0.9), (21.0, 1.1)]  # (psnr, colourfulness ratio)
    assert line(points, 0.85) == pytest.approx(23.5)
    assert line(points, 1.0) == pytest.approx(22.0)
    assert line(points, 0.7) == pytest.approx(25.0)  # before the first gain: the first segment extended
    assert line(points, 1.2) == pytest.approx(20.0)  # after the last: the last segment extended


def test_posthoc_score_of_zero_chroma_is_the_grey_photo():
    posthoc = _load("posthoc_maps")
    from framecolor.color_cpu import l_from_pixels
    from framecolor.metrics import psnr

    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    item = {"levels": levels, "L": l_from_pixels(levels), "ab": np.zeros((2, 8, 12), np.float32), "tc": 1.0}
    grey = posthoc.score([item], None)
    assert grey == posthoc.score([item], lambda it: it["ab"] * 1.2)
    assert grey[1] < 0.01  # a grey picture has next to no colourfulness
    strong = dict(item, ab=np.full((2, 8, 12), 40.0, np.float32))
    assert posthoc.score([strong], lambda it: it["ab"])[1] > 10
    merged = posthoc.LabToRGB8()(item["L"], np.zeros((8, 12, 2), np.float32)).astype(np.float32) / 255
    assert grey[0] == pytest.approx(psnr(merged, levels.astype(np.float32) / 255))


def test_bar_noise_reports_the_bar_and_a_bootstrap_that_follows_the_spread(tmp_path):
    bar = _load("bar_noise")
    rows = []
    for i in range(40):  # margins alternate +0.2 and +0.8 dB (mean 0.5); the model paints 0.9x every truth
        image, tc = f"p{i}.jpg", 10.0 + i
        rows.append({"image": image, "method": "grey", "psnr": 20.0, "colorfulness": 0.0, "truth_colorfulness": tc})
        rows.append({"image": image, "method": "m", "psnr": 20.2 + 0.6 * (i % 2), "colorfulness": 0.9 * tc,
                     "truth_colorfulness": tc})
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"per_image": rows}))
    out = tmp_path / "noise.md"
    bar.main([str(path), "--method", "m", "--draws", "4000", "-o", str(out)])
    text = out.read_text()
    assert "| +0.50 |" in text and "| 0.90 |" in text and "| 1.00 |" in text  # margin, ratio, min(1.06, 1.0)
    # a constant ratio has no sampling error; the margins' error is sd / sqrt(n) = 0.3 / sqrt(40)
    assert "| 0.000 |" in text
    b = bar.bootstrap(np.array([0.2, 0.8] * 20), np.full(40, 9.0), np.full(40, 10.0), 4000, 0)
    assert b[:, 0].std() == pytest.approx(0.3 / 40 ** 0.5, rel=0.1)
    assert 0.35 < np.mean(b[:, 0] >= 0.5) < 0.65  # the bar sits at the mean: about half the draws meet it
    assert "below the ratio's: 0%" in text  # 0.9x in every draw: only the margin misses
    assert "bar_noise.py" in text.splitlines()[-1]


def test_calibrate_gain_rules_pick_the_target_gain_or_the_best_rule_score():
    choose = _load("calibrate_gain").choose_gain
    # grey 22.0 dB; each step of gain adds 0.04 to the ratio and takes 0.1 dB off the PSNR
    rows = {g: {"colorfulness_ratio": 0.79 + 0.04 * i, "psnr": 22.8 - 0.1 * i}
            for i, g in enumerate((1.0, 1.05, 1.1, 1.15, 1.2))}
    # ratios 0.79, 0.83, 0.87, 0.91, 0.95; margins 0.8, 0.7, 0.6, 0.5, 0.4 dB
    assert choose(rows, 22.0, "target", 0.9) == 1.15
    assert choose(rows, 22.0, "target", 0.99) == 1.2  # none reaches it: the largest gain
    # rule scores min(r / 0.85, m / 0.5): 0.93, 0.98, 1.02, 1.0, 0.8
    assert choose(rows, 22.0, "score", 0.9) == 1.1
    tied = {1.0: {"colorfulness_ratio": 0.85, "psnr": 22.6}, 1.1: {"colorfulness_ratio": 0.85, "psnr": 22.6}}
    assert choose(tied, 22.0, "score", 0.9) == 1.0  # a tie goes to the smaller gain
