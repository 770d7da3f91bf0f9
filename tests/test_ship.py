"""framecolor ship and framecolor average-weights (framecolor/ship.py): a run's checkpoint saved under a
registry name with the card that says how it was made, and weighted means of checkpoints, from safetensors
checkpoints and from the training-state files `framecolor train` writes."""
import json

import pytest
import torch

from framecolor.cli import main
from framecolor.config import ColorizerConfig
from framecolor.errors import InputError
from framecolor.models.registry import build_model, load_checkpoint, read_meta, save_checkpoint
from framecolor.ship import average_checkpoints, ship_model

CFG = ColorizerConfig(name="basic-cnn", embedder=None)


def _run(folder, seed, history=None, **meta):
    """A run folder as `framecolor train` leaves it: best.safetensors with its card, and history.json."""
    folder.mkdir()
    torch.manual_seed(seed)
    model = build_model(CFG)
    save_checkpoint(model, folder / "best.safetensors", meta)
    if history is not None:
        (folder / "history.json").write_text(json.dumps(history))
    return model


def test_ship_renames_the_model_and_its_card_holds_the_whole_chain(tmp_path, capsys):
    _run(tmp_path / "stage1", 0, [{"epoch": 1}], training_command="framecolor train a", epoch=1, hardware="cpu",
         private="not repeated")
    model = _run(tmp_path / "stage2", 1, [{"epoch": 1}, {"epoch": 2}], training_command="framecolor train b",
                 init_from="stage1/best.safetensors", epoch=2, val={"psnr": 21.5})
    (tmp_path / "eval.json").write_text(json.dumps({"summary": {"psnr": 22.0}, "clips": {"x": 1}, "size": 256}))
    (tmp_path / "gain.json").write_text(json.dumps({"chosen": 0.6}))
    code = main(["ship", str(tmp_path / "stage2"), "my-model", "--chroma-gain", "0.6",
                 "--evaluation", str(tmp_path / "eval.json"), "--earlier", str(tmp_path / "stage1"),
                 "--extra", f"gain_choice={tmp_path / 'gain.json'}", "--out-dir", str(tmp_path / "weights")])
    out = tmp_path / "weights" / "my-model.safetensors"
    assert code == 0 and capsys.readouterr().out.split() == [str(out), read_meta(out)["sha256"]]
    shipped = load_checkpoint(out)
    assert shipped.config.name == "my-model" and shipped.config.chroma_gain == 0.6
    for k, v in model.trainable_state_dict().items():
        assert torch.equal(shipped.trainable_state_dict()[k], v), k
    card = read_meta(out)
    assert (card["training_command"], card["epoch"], card["val"]) == ("framecolor train b", 2, {"psnr": 21.5})
    assert card["history"] == [{"epoch": 1}, {"epoch": 2}]
    assert card["earlier_stages"] == [{"run": str(tmp_path / "stage1"), "training_command": "framecolor train a",
                                       "epoch": 1, "hardware": "cpu", "history": [{"epoch": 1}]}]
    assert card["evaluation"] == {"summary": {"psnr": 22.0}, "settings": {"size": 256}}
    assert card["gain_choice"] == {"chosen": 0.6}


def test_ship_takes_a_checkpoint_file_and_refuses_a_bad_extra(tmp_path, capsys):
    _run(tmp_path / "soup", 0, training_command="framecolor average-weights x")
    out = ship_model(tmp_path / "soup" / "best.safetensors", "soup-model", out_dir=tmp_path)
    assert read_meta(out)["training_command"] == "framecolor average-weights x"
    assert main(["ship", str(out), "n", "--extra", "no-equals-sign", "--out-dir", str(tmp_path)]) == 2
    assert "--extra takes KEY=JSONFILE" in capsys.readouterr().err
    assert main(["ship", str(tmp_path / "nothing-here"), "n", "--out-dir", str(tmp_path)]) == 2
    assert "nothing-here" in capsys.readouterr().err  # one line naming the missing run, no traceback


def test_weighted_mean_of_a_checkpoint_and_a_training_state(tmp_path):
    torch.manual_seed(0)
    a, b = build_model(CFG), build_model(CFG)
    save_checkpoint(a, tmp_path / "a.safetensors", {"training_command": "framecolor train x", "epoch": 3,
                                                    "val": {"psnr": 20.0}})
    torch.save({"model": b.trainable_state_dict(), "epoch": 3}, tmp_path / "epoch-3.pt")
    assert main(["average-weights", str(tmp_path / "a.safetensors"), str(tmp_path / "epoch-3.pt"), "--mix", "3,1",
                 "-o", str(tmp_path / "soup.safetensors")]) == 0
    got = load_checkpoint(tmp_path / "soup.safetensors").trainable_state_dict()
    for k, v in a.trainable_state_dict().items():
        assert torch.allclose(got[k], 0.75 * v + 0.25 * b.trainable_state_dict()[k], atol=1e-6), k
    meta = read_meta(tmp_path / "soup.safetensors")
    assert [s["weight"] for s in meta["averaged_from"]] == [0.75, 0.25]
    assert meta["training_command"] == "framecolor train x"
    assert "epoch" not in meta and "val" not in meta  # the first source's, not the mean's
    assert meta["averaged_from"][0]["epoch"] == 3
    with pytest.raises(InputError, match="overwrite a source"):
        average_checkpoints([tmp_path / "a.safetensors"], tmp_path / "a.safetensors")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="other.pt: not a framecolor training state"):
        average_checkpoints([tmp_path / "a.safetensors", tmp_path / "other.pt"], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="one non-negative weight per source"):
        average_checkpoints([tmp_path / "a.safetensors"], tmp_path / "x.safetensors", mix=[1, 1])
    with pytest.raises(ValueError, match="one source must be a .safetensors checkpoint"):
        average_checkpoints([tmp_path / "epoch-3.pt"], tmp_path / "x.safetensors")


def test_a_soup_of_two_runs_records_both_commands_and_drops_single_run_fields(tmp_path, capsys):
    for i, name in enumerate(("a", "b")):
        torch.manual_seed(i)
        save_checkpoint(build_model(CFG), tmp_path / f"{name}.safetensors",
                        {"training_command": f"framecolor train --run {name}", "epoch": i + 1,
                         "val": {"psnr": 20.0 + i}, "init_from": "parent.safetensors", "train_mean_ab": [1, 2]})
    out = tmp_path / "soup.safetensors"
    assert main(["average-weights", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"),
                 "-o", str(out)]) == 0
    meta = read_meta(out)
    assert meta["training_command"] == (f"framecolor train --run a && framecolor train --run b && "
                                        f"framecolor average-weights {tmp_path}/a.safetensors "
                                        f"{tmp_path}/b.safetensors -o {out}")
    assert [(s["epoch"], s["val"]["psnr"], s["weight"]) for s in meta["averaged_from"]] == [(1, 20.0, 0.5),
                                                                                         (2, 21.0, 0.5)]
    assert "epoch" not in meta and "val" not in meta and meta["train_mean_ab"] == [1, 2]
    assert "init_from" not in meta and "train_config" not in meta
    capsys.readouterr()
    assert main(["average-weights", str(tmp_path / "a.safetensors"), "--mix", "x,y", "-o", str(out)]) == 2
    assert "--mix takes comma-separated numbers" in capsys.readouterr().err
