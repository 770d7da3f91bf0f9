"""classifiers training: loss goes down, the same seed gives the same numbers, resume equals an
uninterrupted run, the thesis loss floors near 1.46, and the report renders. Synthetic data, CPU, seconds."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from classifiers.cli import main
from classifiers.config import TrainConfig
from classifiers.data import Dataset
from classifiers.train import (CKPT, affine_params, fit, model_input, objective, random_affine, random_shift,
                               shift_offsets)

SMALL = dict(model="resnet10", width=8, batch_size=32, eval_batch_size=64)


def _synthetic(n_train: int = 256, n_test: int = 128) -> Dataset:
    """Digit k = a bright 6x6 patch at one of ten places, on noise: learnable in an epoch or two."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            r, c = 2 + 12 * (k // 5), 2 + 5 * (k % 5)
            x[i, r:r + 6, c:c + 6] = 255
        return x, y.astype(np.int64)

    return Dataset("mnist", *make(n_train), *make(n_test), source="synthetic")


@pytest.fixture(scope="module")
def data() -> Dataset:
    torch.set_num_threads(1)
    return _synthetic()


def _fit(cfg, out, data, **kw):
    return fit(cfg, out, dataset=data, device="cpu", progress=False, log=lambda s: None, **kw)


def test_training_lowers_loss_and_beats_chance(tmp_path, data):
    hist = _fit(TrainConfig(**SMALL, epochs=3, lr=0.05), tmp_path, data)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["test_acc"] > 50  # chance is 10%
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 4
    assert {"test_loss", "test_acc", "seconds"} <= set(json.loads((tmp_path / "metrics.json").read_text())
                                                       ["history"][0])


def test_same_seed_same_accuracy_other_seed_differs(tmp_path, data):
    cfg = TrainConfig(**SMALL, epochs=1)
    a, b = _fit(cfg, tmp_path / "a", data), _fit(cfg, tmp_path / "b", data)
    c = _fit(TrainConfig(**SMALL, epochs=1, seed=2), tmp_path / "c", data)
    assert a[-1]["test_acc"] == b[-1]["test_acc"] and a[-1]["test_loss"] == b[-1]["test_loss"]
    assert c[-1]["train_loss"] != a[-1]["train_loss"]


@pytest.mark.parametrize("momentum,shift,size,ema,rotate", [(0.0, 0, 0, 0.0, 0), (0.9, 0, 0, 0.0, 0),
                                                            (0.0, 2, 0, 0.0, 0), (0.0, 1, 40, 0.0, 0),
                                                            (0.0, 0, 0, 0.9, 0), (0.0, 1, 0, 0.0, 10)])
def test_resume_reproduces_an_uninterrupted_run(tmp_path, data, momentum, shift, size, ema, rotate):
    opts = dict(momentum=momentum, augment_shift=shift, input_size=size, ema=ema, augment_rotate=rotate,
                augment_scale=rotate / 100)
    cfg = TrainConfig(**SMALL, epochs=2, **opts)
    whole = _fit(cfg, tmp_path / "whole", data)
    _fit(TrainConfig(**SMALL, epochs=1, **opts), tmp_path / "cut", data)
    resumed = _fit(cfg, tmp_path / "cut", data, resume=True)
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]
    assert strip(resumed) == strip(whole)
    w1, w2 = load_file(tmp_path / "whole" / CKPT), load_file(tmp_path / "cut" / CKPT)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_ema_is_evaluated_beside_the_live_weights_and_averages_them(tmp_path, data):
    hist = _fit(TrainConfig(**SMALL, epochs=2, lr=0.05, ema=0.9), tmp_path, data)
    assert {"ema_test_acc", "ema_test_loss", "test_acc"} <= set(hist[-1])
    assert hist[-1]["ema_test_acc"] > 50  # the average of a trained trajectory is itself a trained net
    w = load_file(tmp_path / CKPT)
    live, avg = w["model.fc.weight"], w["ema.module.fc.weight"]
    assert not torch.equal(live, avg)  # an average of the trajectory, not a copy of its end
    assert int(w["ema.n_averaged"]) == 2 * math.ceil(256 / SMALL["batch_size"])  # one update per step
    assert torch.equal(w["ema.module.stem.1.num_batches_tracked"], w["model.stem.1.num_batches_tracked"])


@pytest.mark.parametrize("bad", [-0.5, 1.0, 1.5])
def test_ema_decay_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="ema decay"):
        TrainConfig(ema=bad)


def test_shift_augmentation_translates_each_image_by_its_own_offset():
    x = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 10:14, 12:15] = torch.tensor([50, 100, 200], dtype=torch.uint8)[:, None, None]
    off = shift_offsets(3, 2, seed=1, epoch=0)
    assert torch.equal(off, shift_offsets(3, 2, seed=1, epoch=0))  # resume sees the same shifts
    assert not torch.equal(shift_offsets(64, 2, 1, 0), shift_offsets(64, 2, 1, 1))  # new shifts each epoch
    assert off.min() >= 0 and off.max() <= 4
    y = random_shift(x, off, 2)
    for i, (dy, dx) in enumerate(off.tolist()):  # content moves by (2 - offset) pixels, nothing else changes
        assert torch.equal(y[i], torch.roll(x[i], (2 - dy, 2 - dx), dims=(1, 2)))


def test_affine_augmentation_rotates_and_zooms_each_image_about_its_centre():
    x = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 4:10, 6:20] = torch.tensor([50, 100, 200], dtype=torch.uint8)[:, None, None]
    x[:, 0, 10:24, 16:19] = 255
    p = affine_params(3, 10, 0.1, seed=1, epoch=0)
    assert torch.equal(p, affine_params(3, 10, 0.1, seed=1, epoch=0))  # resume sees the same draws
    assert not torch.equal(affine_params(64, 10, 0.1, 1, 0), affine_params(64, 10, 0.1, 1, 1))
    big = affine_params(10_000, 10, 0.1, 1, 0)
    assert big[:, 0].abs().max() <= math.radians(10) and big[:, 0].abs().max() > math.radians(9.9)
    assert (big[:, 1] - 1).abs().max() <= 0.1 and big[:, 1].min() < 0.91 and big[:, 1].max() > 1.09
    none = torch.tensor([[0.0, 1.0]] * 3, dtype=torch.float64)
    assert torch.equal(random_affine(x, none), x)  # identity: every pixel centre samples itself
    quarter = torch.tensor([[math.pi / 2, 1.0]] * 3, dtype=torch.float64)
    assert torch.equal(random_affine(x, quarter), torch.rot90(x, 1, dims=(2, 3)))  # counter-clockwise
    square = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    square[0, 0, 10:18, 10:18] = 255  # 8 x 8, centred
    area = lambda zoom: int((random_affine(square, torch.tensor([[0.0, zoom]], dtype=torch.float64)) > 127).sum())
    assert area(1.0) == 64 and 240 <= area(2.0) <= 272 and 12 <= area(0.5) <= 20  # a zoom > 1 enlarges
    assert random_affine(x, p).dtype == torch.uint8 and not torch.equal(random_affine(x, p), x)


@pytest.mark.parametrize("field,bad", [("augment_rotate", -1.0), ("augment_rotate", 181.0), ("augment_scale", 1.0),
                                       ("augment_scale", -0.1)])
def test_affine_augmentation_ranges_are_checked(field, bad):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: bad})


def test_input_size_resizes_what_the_network_sees():
    x = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 7:21, 7:21] = 255
    cfg = TrainConfig(**SMALL, input_size=56, channels_last=True)
    y = model_input(x, cfg, torch.device("cpu"))
    assert y.shape == (2, 1, 56, 56) and y.is_contiguous(memory_format=torch.channels_last)
    native = model_input(x, TrainConfig(**SMALL), torch.device("cpu"))
    assert native.shape == (2, 1, 28, 28)
    # bilinear x2: the bright square covers the middle half, and the background keeps its value
    assert y[0, 0, 28, 28] == native[0, 0, 14, 14] and y[0, 0, 2, 2] == native[0, 0, 1, 1]
    assert torch.allclose(y[0, 0, 14:42, 14:42].mean(), native[0, 0, 7:21, 7:21].mean(), atol=0.2)


def test_resume_with_other_settings_is_refused(tmp_path, data):
    _fit(TrainConfig(**SMALL, epochs=1), tmp_path, data)
    with pytest.raises(ValueError, match="other settings"):
        _fit(TrainConfig(**SMALL, epochs=2, lr=0.1), tmp_path, data, resume=True)


def test_thesis_loss_floors_near_1_461_and_correct_loss_does_not():
    y = torch.arange(10)
    perfect = torch.eye(10) * 50  # confident, correct logits
    assert objective(perfect, y, thesis_loss=False).item() < 1e-6
    floor = math.log(9 + math.e) - 1  # softmax output 1 on the right class, 0 elsewhere
    assert objective(perfect, y, thesis_loss=True).item() == pytest.approx(floor, abs=1e-4)
    assert floor == pytest.approx(1.4612, abs=1e-4)


def test_train_cli_and_report_make_the_figures_and_table(tmp_path, data, monkeypatch):
    import classifiers.train as train_mod

    monkeypatch.setattr(train_mod, "load_dataset", lambda name, root=None: data)
    monkeypatch.setattr("classifiers.posthoc.load_dataset", lambda name, root=None: data)
    runs = []
    for model in ("resnet10", "convnet10"):
        out = tmp_path / model
        ema = ["--ema", "0.9"] if model == "resnet10" else []
        assert main(["train", "--model", model, "--width", "8", "--epochs", "1", "--batch-size", "64",
                     "--out", str(out), "--no-progress", "--device", "cpu", *ema]) == 0
        runs.append(str(out))
    assert main(["evaluate", runs[0], "--recalibrate-bn", "100", "--device", "cpu"]) == 0
    assert main(["report", *runs, "--out", str(tmp_path / "report")]) == 0
    made = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"curves.png", "confusion_resnet10.png", "predictions_convnet10.png", "results.md"} <= made
    table = (tmp_path / "report" / "results.md").read_text()
    assert "| resnet10 |" in table and "| convnet10 |" in table
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in table.splitlines()[2:]}
    assert rows["resnet10"][9].endswith("(decay 0.9)") and rows["convnet10"][9] == "-"  # EMA column
    after = table.split("## Evaluated again")[1]  # the resnet's `classifiers evaluate` table, not the convnet's
    assert "### resnet10: evaluated again" in after and "convnet10" not in after
    assert "| ema | recalibrated on 100 training images | up to 1 px | 9 |" in after


def test_plain_net_gradients_at_init_spread_far_more_than_residual():
    from classifiers.experiments import grad_norms_at_init

    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 28, 28), torch.arange(32) % 10
    spread = {m: (lambda v: max(v) / min(v))(grad_norms_at_init(m, x, y, width=8))
              for m in ("convnet34", "resnet34")}
    assert len(grad_norms_at_init("resnet34", x, y, width=8)) == 34  # 33 convs on the main path + FC
    assert spread["convnet34"] > 5 * spread["resnet34"]


def test_thesis_style_loop_and_ours_both_time_an_epoch(tmp_path, data):
    from classifiers.experiments import our_epoch, thesis_style_epoch
    from classifiers.models import build_model
    from classifiers.train import prepare

    cfg = TrainConfig(**SMALL, subset=64, test_subset=64)
    train, test = prepare(data, cfg)
    for run in (lambda m, o: thesis_style_epoch(m, o, train, test, cfg),
                lambda m, o: our_epoch(m, o, train, test, cfg, torch.device("cpu"))):
        model = build_model(cfg.net())
        before = [p.detach().clone() for p in model.parameters()]
        assert run(model, torch.optim.SGD(model.parameters(), lr=0.01)) > 0
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it trained


def test_posthoc_evaluation_recalibrates_bn_and_averages_shifted_views(tmp_path, data, monkeypatch):
    import classifiers.train as train_mod
    from classifiers.posthoc import evaluate_shifted, load_trained, posthoc, recalibrate_bn
    from classifiers.train import evaluate, prepare

    cfg = TrainConfig(**SMALL, epochs=2, lr=0.05, ema=0.9)
    hist = _fit(cfg, tmp_path, data)
    train, test = prepare(data, cfg)
    dev = torch.device("cpu")
    _, live = load_trained(tmp_path, "live", dev)
    _, ema = load_trained(tmp_path, "ema", dev)
    # the weights come back as trained: shift 0 is the plain evaluation, for both kinds
    assert evaluate_shifted(live, test, cfg, dev, 0)[0]["test_acc"] == pytest.approx(hist[-1]["test_acc"])
    assert evaluate_shifted(ema, test, cfg, dev, 0)[0]["test_acc"] == pytest.approx(hist[-1]["ema_test_acc"])
    assert evaluate(live, test, cfg, dev)[0]["test_acc"] == pytest.approx(hist[-1]["test_acc"])
    # recalibration: the stem's BN statistics become those of the stem conv's outputs on those images
    assert recalibrate_bn(live, train, cfg, dev, 10_000) == 256  # more than there are: all 256
    with torch.no_grad():
        z = live.stem[0](train_mod.model_input(train.x, cfg, dev))
    bn = live.stem[1]
    assert torch.allclose(bn.running_mean, z.mean((0, 2, 3)), atol=1e-4)
    assert torch.allclose(bn.running_var, z.var((0, 2, 3)), rtol=1e-3)
    assert not live.training
    # views: (2N+1)^2 of them
    one = evaluate_shifted(live, test, cfg, dev, 1)
    assert one[0]["views"] == 9 and one[1].shape == (len(test.y),)

    monkeypatch.setattr("classifiers.posthoc.load_dataset", lambda name, root=None: data)
    rows = posthoc(tmp_path, device="cpu", recal=200, shift=1)
    assert [(r["weights"], r["bn"], r["shift"]) for r in rows] == [
        (w, b, s) for w in ("live", "ema") for b in ("stored", "recalibrated") for s in (0, 1)]
    assert rows[0]["test_acc"] == pytest.approx(hist[-1]["test_acc"])
    assert "| ema | recalibrated on 200 training images | up to 1 px | 9 |" in (tmp_path / "posthoc.md").read_text()
    assert json.loads((tmp_path / "posthoc.json").read_text())["rows"] == rows


def test_posthoc_names_a_missing_run_and_a_run_without_ema(tmp_path, data, capsys):
    from classifiers.posthoc import load_trained

    assert main(["evaluate", str(tmp_path / "nowhere"), "--device", "cpu"]) == 2
    assert "checkpoint.json: no such file" in capsys.readouterr().err
    _fit(TrainConfig(**SMALL, epochs=1), tmp_path, data)
    with pytest.raises(ValueError, match="without --ema"):
        load_trained(tmp_path, "ema", torch.device("cpu"))
