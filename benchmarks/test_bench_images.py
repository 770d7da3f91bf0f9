"""benchmarks/bench_images.py, imported by name (pytest puts this folder on the path of its own tests):
the thesis pipeline feeds its models what the thesis fed them, ratios name their reference, and a
machine without Keras gets a note instead of a crash."""

import bench_images
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench():
    return bench_images


def test_keras_thesis_flow_feeds_grey_299_and_raw_L(bench):
    seen = {}

    def embed(x):
        seen["x"] = x
        return np.full((1, 1000), 1e-3, np.float32)

    def colorize(L, emb):
        seen["L"], seen["emb"] = L, emb
        return np.zeros((1, 256, 256, 2), np.float32)

    img = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
    bench.keras_per_image([img], embed, colorize)()
    x, L = seen["x"], seen["L"]
    assert x.shape == (1, 299, 299, 3) and x.dtype == np.float32
    assert np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2])  # grey, 3 equal channels
    assert -1 <= x.min() and x.max() <= 1
    assert L.shape == (1, 256, 256, 1) and 0 <= L.min() and L.max() <= 100 and L.max() > 1  # L* unscaled
    assert seen["emb"].shape == (1, 1000)


def _row(label, fps):
    return {"label": label, "frames_per_s_best": fps, "frames_per_s_per_cpu_s": fps / 2}


def test_speedups_are_against_the_published_pipeline_and_targets_say_not_met(bench):
    rows = [_row(bench.KERAS_PREDICT, 2.0), _row(bench.KERAS_CALL, 1.0), _row(bench.KERAS_GRAPH, 4.0),
            _row(bench.TORCH_EMULATION, 5.0), _row(bench.OURS.format("fp32"), 8.0), _row(bench.OURS.format("bf16"), 12.0)]
    bench.add_speedups(rows)
    ours = rows[4]
    assert ours["speedup_vs_thesis_published"] == pytest.approx(4.0)
    assert ours["speedup_vs_torch_emulation"] == pytest.approx(1.6)
    model = [{"precision": "fp32", "batch": 1, "layout": "channels_last", "fraction_of_peak": 0.75,
              "fraction_of_peak_cpu_time": 0.7}]
    text = "\n".join(bench._targets({"model": model, "pipelines": rows}))
    assert "75%" in text and "at least 70%: met" in text
    assert "as published" in text and "4.00x" in text and "at least 5x: **not met**" in text


def test_without_keras_the_published_row_is_skipped_with_a_note(bench, monkeypatch):
    import framecolor.keras as fk

    def missing():
        raise ImportError(fk.INSTALL_HINT)
    monkeypatch.setattr(fk, "require_keras", missing)
    notes = []
    assert bench.keras_thesis(None, 2, None, notes) is None
    assert "not timed" in notes[0] and "pip install" in notes[0]
    rows = [_row(bench.TORCH_EMULATION, 5.0), _row(bench.OURS.format("fp32"), 8.0), _row(bench.OURS.format("bf16"), 9.0)]
    bench.add_speedups(rows)
    text = "\n".join(bench._targets({"model": [], "pipelines": rows}))
    assert "cannot be judged" in text and rows[1]["speedup_vs_thesis_published"] is None
