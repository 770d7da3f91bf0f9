"""framecolor merge-video-evals and framecolor loss-table (framecolor/reports.py): evaluate-video reports
of disjoint clip sets (cross-validation folds) merged into one table with the same summary evaluate-video
gives, plus per-clip CDC ratios; and a table of validation metrics per epoch from runs' histories."""
import json

import pytest

from framecolor.cli import main
from framecolor.errors import InputError
from framecolor.reports import loss_table, merge_video_evals
from framecolor.video_eval import summarize


def clip(none_cdc, flow_cdc, truth_cdc):
    return {"ground truth": {"cdc": truth_cdc, "colorfulness": 30.0},
            "none": {"cdc": none_cdc, "psnr": 20.0, "ssim": 0.9, "colorfulness": 25.0, "warp_error": 0.002},
            "flow": {"cdc": flow_cdc, "psnr": 20.1, "ssim": 0.9, "colorfulness": 24.0, "warp_error": 0.001}}


def report(path, clips):
    path.write_text(json.dumps({"clips": clips, "summary": summarize(clips)}))
    return str(path)


def test_folds_merge_into_one_summary_with_per_clip_ratios(tmp_path, capsys):
    a = report(tmp_path / "fold0.json", {"dir/a.mp4": clip(0.004, 0.002, 0.003)})
    b = report(tmp_path / "fold1.json", {"b.mp4": clip(0.002, 0.002, 0.001), "c.mp4": clip(0.001, 0.0005, 0.001)})
    out = tmp_path / "m.json"
    assert main(["merge-video-evals", a, b, "--json", str(out), "--markdown", str(tmp_path / "m.md")]) == 0
    assert capsys.readouterr().out == (tmp_path / "m.md").read_text() + "\n"
    merged = json.loads(out.read_text())
    assert merged["clips_scored"] == ["a", "b", "c"]
    assert merged["summary"]["flow"]["cdc"] == pytest.approx((0.002 + 0.002 + 0.0005) / 3)
    assert merged["per_clip_cdc_over_none"]["a"]["flow"] == pytest.approx(0.5)
    assert merged["median_per_clip_cdc_over_none"]["flow"] == pytest.approx(0.5)  # of 0.5, 1.0, 0.5
    assert "| b | fold1 | 0.00200 |" in (tmp_path / "m.md").read_text()
    merge_video_evals([a, b], out, only={"a", "c"})
    assert json.loads(out.read_text())["clips_scored"] == ["a", "c"]


def test_a_clip_in_two_reports_or_a_missing_clip_or_a_bad_file_is_refused(tmp_path, capsys):
    a = report(tmp_path / "x.json", {"a.mp4": clip(0.004, 0.002, 0.003)})
    b = report(tmp_path / "y.json", {"a.mp4": clip(0.004, 0.002, 0.003)})
    with pytest.raises(ValueError, match="clip a is in more than one report"):
        merge_video_evals([a, b], tmp_path / "m.json")
    with pytest.raises(ValueError, match="not in any report: zz"):
        merge_video_evals([a], tmp_path / "m.json", only={"a", "zz"})
    (tmp_path / "bad.json").write_text("[1, 2")
    assert main(["merge-video-evals", a, str(tmp_path / "bad.json"), "--json", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'bad.json'}: not a JSON evaluate-video report") and err.count("\n") == 1
    (tmp_path / "history.json").write_text(json.dumps([{"epoch": 1}]))
    with pytest.raises(InputError, match="history.json: not an evaluate-video report"):
        merge_video_evals([a, tmp_path / "history.json"], tmp_path / "m.json")


def test_loss_table_has_one_row_per_epoch_with_live_weights_for_ema_runs(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    (tmp_path / "ema").mkdir()
    row = {"epoch": 1, "val_psnr": 21.234, "val_colorfulness": 20.0, "val_colorfulness_true": 40.0, "lr": 1e-4}
    (tmp_path / "plain" / "history.json").write_text(json.dumps([row, {**row, "epoch": 2, "val_psnr": 21.5}]))
    (tmp_path / "ema" / "history.json").write_text(json.dumps([{**row, "raw_val_psnr": 20.9,
                                                                "raw_val_colorfulness": 30.0}]))
    out = tmp_path / "table.md"
    assert main(["loss-table", str(tmp_path / "plain" / "history.json"), str(tmp_path / "ema" / "history.json"),
                 "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert capsys.readouterr().out == out.read_text()
    assert lines[2:] == ["| plain | 1 | 21.23 | 20.0 | 0.50 | 0.0001 | - |",
                         "| plain | 2 | 21.50 | 20.0 | 0.50 | 0.0001 | - |",
                         "| ema | 1 | 21.23 | 20.0 | 0.50 | 0.0001 | 20.90, 0.75 |"]
    (tmp_path / "eval.json").write_text(json.dumps([{"epoch": 1}]))
    with pytest.raises(InputError, match="eval.json: not a training history.json"):
        loss_table([tmp_path / "eval.json"])
