"""framecolor.parallel: CPU workers share out torch's threads, and their number is bounded."""
from __future__ import annotations

import torch

from framecolor.parallel import MAX_CPU_WORKERS, Stages


def test_workers_share_out_the_torch_threads_and_the_setting_is_restored():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        seen = list(Stages(iter(range(6)), lambda i: torch.get_num_threads(), maxsize=2, workers=2))
        assert [out for _, out in seen] == [2] * 6  # 4 threads, 2 workers: 2 each
        assert torch.get_num_threads() == 4
        one = list(Stages(iter(range(3)), lambda i: torch.get_num_threads(), maxsize=2, workers=1))
        assert [out for _, out in one] == [4] * 3  # a single worker keeps the caller's setting
    finally:
        torch.set_num_threads(before)


def test_cpu_workers_are_bounded_for_files_and_video():
    from framecolor.config import ColorizerConfig
    from framecolor.inference import ImageColorizer, file_workers
    from framecolor.models.registry import build_model
    from framecolor.film.job import model_workers
    from framecolor.film.stream import StreamColorizer

    engine = ImageColorizer(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), torch.device("cpu"))
    before = torch.get_num_threads()
    torch.set_num_threads(MAX_CPU_WORKERS + 4)
    try:
        assert file_workers(engine, 100) == MAX_CPU_WORKERS and file_workers(engine, 3) == 3
        assert model_workers(StreamColorizer(engine, "flow")) == MAX_CPU_WORKERS
        torch.set_num_threads(2)
        assert file_workers(engine, 100) == 2 and model_workers(StreamColorizer(engine, "none")) == 2
    finally:
        torch.set_num_threads(before)
