"""scripts/merge_video_evals.py: evaluate-video reports of disjoint clip sets (cross-validation folds)
merged into one table with the same summary evaluate-video gives, plus per-clip CDC ratios."""
import json

import pytest
from conftest import script_module

from framecolor.video_eval import summarize


@pytest.fixture(scope="module")
def mod():
    with script_module("merge_video_evals") as mod:
        yield mod


def clip(none_cdc, flow_cdc, truth_cdc):
    return {"ground truth": {"cdc": truth_cdc, "colorfulness": 30.0},
            "none": {"cdc": none_cdc, "psnr": 20.0, "ssim": 0.9, "colorfulness": 25.0, "warp_error": 0.002},
            "flow": {"cdc": flow_cdc, "psnr": 20.1, "ssim": 0.9, "colorfulness": 24.0, "warp_error": 0.001}}


def report(path, clips):
    path.write_text(json.dumps({"clips": clips, "summary": summarize(clips)}))
    return str(path)


def test_folds_merge_into_one_summary_with_per_clip_ratios(mod, tmp_path):
    a = report(tmp_path / "fold0.json", {"dir/a.mp4": clip(0.004, 0.002, 0.003)})
    b = report(tmp_path / "fold1.json", {"b.mp4": clip(0.002, 0.002, 0.001), "c.mp4": clip(0.001, 0.0005, 0.001)})
    out = tmp_path / "m.json"
    assert mod.main([a, b, "--json", str(out), "--markdown", str(tmp_path / "m.md")]) == 0
    merged = json.loads(out.read_text())
    assert merged["clips_scored"] == ["a", "b", "c"]
    assert merged["summary"]["flow"]["cdc"] == pytest.approx((0.002 + 0.002 + 0.0005) / 3)
    assert merged["per_clip_cdc_over_none"]["a"]["flow"] == pytest.approx(0.5)
    assert merged["median_per_clip_cdc_over_none"]["flow"] == pytest.approx(0.5)  # of 0.5, 1.0, 0.5
    assert "| b | fold1 | 0.00200 |" in (tmp_path / "m.md").read_text()
    mod.main([a, b, "--only", "a,c", "--json", str(out)])
    assert json.loads(out.read_text())["clips_scored"] == ["a", "c"]


def test_a_clip_in_two_reports_or_a_missing_clip_is_refused(mod, tmp_path):
    a = report(tmp_path / "x.json", {"a.mp4": clip(0.004, 0.002, 0.003)})
    b = report(tmp_path / "y.json", {"a.mp4": clip(0.004, 0.002, 0.003)})
    with pytest.raises(ValueError, match="clip a is in more than one report"):
        mod.main([a, b, "--json", str(tmp_path / "m.json")])
    with pytest.raises(ValueError, match="not in any report: zz"):
        mod.main([a, "--only", "a,zz", "--json", str(tmp_path / "m.json")])
