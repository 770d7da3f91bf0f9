"""scripts/average_weights.py: a weighted mean of one run's checkpoints, with its sources recorded,
from safetensors checkpoints and from the training-state files `framecolor train` writes."""

import pytest
from conftest import script_module
import torch

from framecolor.config import ColorizerConfig
from framecolor.models.registry import build_model, load_checkpoint, read_meta, save_checkpoint


@pytest.fixture(scope="module")
def soup():
    with script_module("average_weights") as mod:
        yield mod


def test_weighted_mean_of_a_checkpoint_and_a_training_state(soup, tmp_path):
    cfg = ColorizerConfig(name="basic-cnn", embedder=None)
    torch.manual_seed(0)
    a, b = build_model(cfg), build_model(cfg)
    save_checkpoint(a, tmp_path / "a.safetensors", {"training_command": "framecolor train x", "epoch": 3,
                                                    "val": {"psnr": 20.0}})
    torch.save({"model": b.trainable_state_dict(), "epoch": 3}, tmp_path / "epoch-3.pt")
    soup.main([str(tmp_path / "a.safetensors"), str(tmp_path / "epoch-3.pt"), "--mix", "3,1",
               "-o", str(tmp_path / "soup.safetensors")])
    got = load_checkpoint(tmp_path / "soup.safetensors").trainable_state_dict()
    for k, v in a.trainable_state_dict().items():
        assert torch.allclose(got[k], 0.75 * v + 0.25 * b.trainable_state_dict()[k], atol=1e-6), k
    meta = read_meta(tmp_path / "soup.safetensors")
    assert [s["weight"] for s in meta["averaged_from"]] == [0.75, 0.25]
    assert meta["training_command"] == "framecolor train x"
    assert "epoch" not in meta and "val" not in meta  # the first source's, not the mean's
    assert meta["averaged_from"][0]["epoch"] == 3
    with pytest.raises(SystemExit, match="overwrite a source"):
        soup.main([str(tmp_path / "a.safetensors"), "-o", str(tmp_path / "a.safetensors")])
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="not a framecolor training state"):
        soup.main([str(tmp_path / "a.safetensors"), str(tmp_path / "other.pt"), "-o", str(tmp_path / "x.safetensors")])


def test_a_soup_of_two_runs_records_both_commands_and_drops_single_run_fields(soup, tmp_path):
    cfg = ColorizerConfig(name="basic-cnn", embedder=None)
    for i, name in enumerate(("a", "b")):
        torch.manual_seed(i)
        save_checkpoint(build_model(cfg), tmp_path / f"{name}.safetensors",
                        {"training_command": f"framecolor train --run {name}", "epoch": i + 1,
                         "val": {"psnr": 20.0 + i}, "init_from": "parent.safetensors", "train_mean_ab": [1, 2]})
    out = tmp_path / "soup.safetensors"
    soup.main([str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "-o", str(out)])
    meta = read_meta(out)
    assert meta["training_command"] == (f"framecolor train --run a && framecolor train --run b && "
                                        f"python scripts/average_weights.py {tmp_path}/a.safetensors "
                                        f"{tmp_path}/b.safetensors -o {out}")
    assert [(s["epoch"], s["val"]["psnr"], s["weight"]) for s in meta["averaged_from"]] == [(1, 20.0, 0.5),
                                                                                         (2, 21.0, 0.5)]
    assert "epoch" not in meta and "val" not in meta and meta["train_mean_ab"] == [1, 2]
