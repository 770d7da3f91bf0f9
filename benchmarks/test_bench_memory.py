"""benchmarks/bench_memory.py, imported by name: the peak-memory bound for large photos (docs/photos.md,
"Large photos"), measured on a 48 MP scan made by the test. Slow (two `framecolor colorize` processes
and a 48 MP PNG), so deselected by default: `python -m pytest -m slow benchmarks/test_bench_memory.py`."""
import json

import bench_memory
import pytest


@pytest.mark.slow
def test_one_large_scan_stays_within_12_bytes_a_pixel_above_a_small_one(tmp_path):
    result = bench_memory.main(["--large", "8000x6000", "--out", str(tmp_path / "mem.json")])
    assert json.loads((tmp_path / "mem.json").read_text()) == result
    assert (tmp_path / "mem.md").exists()
    assert result["runs"]["large"]["output_bytes"] > 0
    assert result["extra_bytes_per_pixel"] <= bench_memory.BOUND_BYTES_PER_PIXEL, result
