"""Temporal consistency: scene cuts, the flow carry against flicker, the LSTM state."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import video_clips as vc
from framecolor.metrics import cdc, warp_error
from framecolor.film.carry import SceneCuts
from framecolor.film.stream import StreamColorizer, colorize_frames


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame.mean(axis=2).astype(np.uint8)


def test_scene_cut_is_found_at_the_cut_and_nowhere_else():
    cuts = SceneCuts()
    flags = [cuts(_gray(f)) for f in vc.moving_frames(20, h=96, w=128, step=2, cut_at=12)]
    assert [i for i, c in enumerate(flags) if c] == [12]


@dataclass
class FlickeringEngine:
    """Stands in for a colorizer whose per-frame guess wobbles: colour follows the content (from
    L*), plus a random global a*b* shift per frame, as per-frame colorizers do."""

    size: int = 48
    batch_size: int = 4
    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    chroma_gain: float = 1.0
    model: object = field(default_factory=lambda: type("M", (), {"temporal": None})())
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    wobble: float = 8.0

    def predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        base = torch.cat(((L - 50) * 0.6, (50 - L) * 0.4), dim=1)
        shift = torch.from_numpy(self.rng.normal(0, self.wobble, (L.shape[0], 2, 1, 1)).astype(np.float32))
        return base + shift


def _flicker(mode: str) -> tuple[float, float]:
    frames = list(vc.moving_frames(24, h=48, w=64, grey=True))
    out = [f.astype(np.float32) / 255 for f in colorize_frames(frames, StreamColorizer(FlickeringEngine(), mode), 4)]
    return cdc(out), warp_error(out, [_gray(f) for f in frames])


def test_flow_carry_reduces_flicker():
    cdc_none, warp_none = _flicker("none")
    cdc_flow, warp_flow = _flicker("flow")
    assert cdc_flow < 0.7 * cdc_none
    assert warp_flow < 0.7 * warp_none


def test_flow_carry_resets_at_a_scene_cut():
    frames = list(vc.moving_frames(8, h=96, w=128, step=2, cut_at=4))
    flow = StreamColorizer(FlickeringEngine(wobble=4.0), "flow")(frames[:5])
    none = StreamColorizer(FlickeringEngine(wobble=4.0), "none")(frames[:5])
    assert not np.array_equal(flow[3], none[3])  # colour carried within the first scene
    assert np.array_equal(flow[4], none[4])  # the new scene starts from its own prediction


def test_lstm_state_is_carried_across_batches_and_reset_at_cuts():
    from framecolor.config import ColorizerConfig, TemporalConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(embedder=None, temporal=TemporalConfig(hidden_channels=8))).eval()
    calls = []
    real = model.forward_clip
    model.forward_clip = lambda L, embedding=None, state=None: (calls.append((L.shape[1], state is None)),
                                                                 real(L, embedding, state))[1]
    colorizer = StreamColorizer(ImageColorizer(model, torch.device("cpu"), size=48, batch_size=4), "lstm")
    frames = list(vc.moving_frames(12, h=96, w=128, step=2, cut_at=6))
    out = list(colorize_frames(frames, colorizer, 4))
    assert len(out) == 12 and out[0].shape == (96, 128, 3)
    assert calls == [(4, True), (2, False), (2, True), (4, False)]
    assert "lstm_h" in colorizer.state() and "flow_ab" in colorizer.state()  # the flow carry runs after the head
    head_only = StreamColorizer(colorizer.engine, "lstm", flow_strength=0.0)
    assert len(list(colorize_frames(frames, head_only, 4))) == 12 and "flow_ab" not in head_only.state()
    with pytest.raises(ValueError, match="flow strength"):
        StreamColorizer(colorizer.engine, "lstm", flow_strength=1.5)


def test_lstm_runs_in_cpu_micro_batches_with_the_same_result(monkeypatch):
    """On the CPU the head runs a batch of frames in shorter runs, carrying its state: the same a*b*."""
    import framecolor.film.stream as vp
    from framecolor.config import ColorizerConfig, TemporalConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(embedder=None, temporal=TemporalConfig(hidden_channels=8))).eval()
    with torch.no_grad():
        for p in model.temporal.parameters():  # the head starts near pass-through; make its state matter
            p.normal_(0, 0.2)
    small = torch.rand(8, 1, 48, 64) * 100

    def run(step: int, cuts: list[bool]) -> torch.Tensor:
        monkeypatch.setattr(vp, "cpu_micro_batch", lambda h, w: step)
        colorizer = StreamColorizer(ImageColorizer(model, torch.device("cpu"), size=48), "lstm")
        return colorizer.model_ab(small, cuts)

    whole = run(100, [True] + [False] * 7)
    assert torch.allclose(run(3, [True] + [False] * 7), whole, atol=1e-4)
    assert torch.allclose(run(1, [True] + [False] * 7), whole, atol=1e-4)
    assert not torch.allclose(run(100, [True] * 8)[1:], whole[1:], atol=1e-2)  # the state does matter


def test_lstm_mode_needs_a_temporal_head():
    with pytest.raises(ValueError, match="temporal head"):
        StreamColorizer(FlickeringEngine(), "lstm")


@pytest.mark.parametrize("workers", [1, 3])
def test_stages_keep_frame_order_with_several_model_workers(workers):
    import threading
    import time

    from framecolor.parallel import Stages

    rng = np.random.default_rng(workers)
    delays = rng.uniform(0, 0.01, 40)  # workers finish out of order
    seen, threads = [], set()

    def transform(i):
        threads.add(threading.get_ident())
        time.sleep(delays[i])
        return i * i

    def ordered(i, out):  # the sequential part: must see items in order
        seen.append(i)
        return out + 1

    before = torch.get_num_threads()
    out = list(Stages(iter(range(40)), transform, maxsize=2, workers=workers, ordered=ordered))
    assert out == [(i, i * i + 1) for i in range(40)] and seen == list(range(40))
    assert workers == 1 or len(threads) > 1  # the batches really were spread over threads
    assert torch.get_num_threads() == before  # the workers' one-thread setting is undone


def test_stages_pass_a_worker_error_to_the_caller():
    from framecolor.parallel import Stages

    def transform(i):
        if i == 5:
            raise RuntimeError("model failed on batch 5")
        return i

    with pytest.raises(RuntimeError, match="batch 5"):
        list(Stages(iter(range(20)), transform, maxsize=2, workers=2))
