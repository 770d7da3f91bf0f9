"""MNIST and Fashion-MNIST from IDX files (gz or raw), Keras's ``mnist.npz`` or the Theano-style
``mnist.pkl.gz``; every reader checks what it reads. Arrays out: images (N, 28, 28) uint8, labels (N,) int64."""
from __future__ import annotations

import gzip
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("mnist", "fashion")
IDX_NAMES = {  # split -> (images, labels), without the .gz that may follow
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt install dataset-fashion-mnist
_IDX_DTYPES = {0x08: np.uint8}


class DataError(RuntimeError):
    """A data file is missing, truncated or not what it claims to be. The message says what to do."""


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: np.ndarray  # (60000, 28, 28) uint8
    train_y: np.ndarray  # (60000,) int64 in 0..9
    test_x: np.ndarray  # (10000, 28, 28) uint8
    test_y: np.ndarray  # (10000,) int64
    source: str  # the file or folder it came from


def default_root() -> Path:
    """``$CLASSIFIERS_DATA`` or ``~/.cache/classifiers``."""
    return Path(os.environ.get("CLASSIFIERS_DATA", Path.home() / ".cache" / "classifiers"))


def fetch_command(dataset: str, root: Path | None = None) -> str:
    root_arg = "" if root is None else f" --root {root}"
    return f"classifiers fetch-data {dataset}{root_arg}"


def _open_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: broken gzip stream ({e}); delete it and fetch it again") from e
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gz or raw): magic 0x0000 0x08 ndim, big-endian dims, then the bytes."""
    path = Path(path)
    data = _open_maybe_gzip(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES or not 1 <= data[3] <= 3:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex() or 'empty'}); "
                        "delete it and fetch it again")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header; delete it and fetch it again")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{path}: IDX header promises {dims} ({expected} bytes) but the file has "
                        f"{len(data)} bytes; it is truncated or corrupt: delete it and fetch it again")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def check_split(x: np.ndarray, y: np.ndarray, where: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check images (N, 28, 28) against labels (N,) in 0..9 with every class present; return them typed."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    problems = []
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        problems.append(f"images have shape {x.shape}, expected (N, 28, 28)")
    if y.ndim != 1 or len(y) != len(x):
        problems.append(f"{len(y)} labels for {len(x)} images")
    if n is not None and len(x) != n:
        problems.append(f"{len(x)} images, expected {n}")
    if not problems and (y.min() < 0 or y.max() > 9 or len(np.unique(y)) != 10):
        problems.append(f"labels must cover 0..9, found {np.unique(y).tolist()[:12]}")
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems) + "; delete it and fetch it again")
    if x.dtype != np.uint8:
        x = np.clip(np.round(x.astype(np.float64) * (256 if x.max() <= 1 else 1)), 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)


def read_idx_folder(folder: Path, name: str = "mnist", expect: dict | None = SPLIT_SIZES) -> Dataset:
    """The four standard IDX files (each gz or raw) in one folder; ``expect`` = images per split."""
    arrays = {}
    for split, (img, lab) in IDX_NAMES.items():
        x, y = (read_idx(_find_member(folder, stem)) for stem in (img, lab))
        arrays[split] = check_split(x, y, f"{folder}/{img}", (expect or {}).get(split))
    return Dataset(name, *arrays["train"], *arrays["test"], source=str(folder))


def _find_member(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: missing {stem}[.gz]")


def read_npz(path: str | Path, name: str = "mnist", expect: dict | None = SPLIT_SIZES) -> Dataset:
    """Keras's ``mnist.npz`` (x_train, y_train, x_test, y_test), read without pickle."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as e:
        raise DataError(f"{path}: no array {e} in it; expected Keras's mnist.npz") from e
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz ({e}); delete it and fetch it again") from e
    train = check_split(arrays["x_train"], arrays["y_train"], str(path), (expect or {}).get("train"))
    test = check_split(arrays["x_test"], arrays["y_test"], str(path), (expect or {}).get("test"))
    return Dataset(name, *train, *test, source=str(path))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows numpy array reconstruction and nothing else: no code from the file ever runs."""

    def find_class(self, module: str, name: str):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np._core.multiarray._reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 pickles bytes at protocol 2
            return _latin1_encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r}: only latin1 bytes are allowed")
    return text.encode("latin1")


def read_pickle(path: str | Path, name: str = "mnist", expect: dict | None = SPLIT_SIZES) -> Dataset:
    """Theano-style ``mnist.pkl.gz``: ((train), (valid), (test)) as 50k/10k/10k. Train = train + valid."""
    path = Path(path)
    raw = _open_maybe_gzip(path)
    try:
        splits = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
        (tx, ty), (vx, vy), (sx, sy) = splits
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: not a numpy-only MNIST pickle ({e}); delete it and run "
                        f"'{fetch_command(name)}'") from e
    train = check_split(np.concatenate([tx, vx]), np.concatenate([ty, vy]), str(path), (expect or {}).get("train"))
    test = check_split(sx, sy, str(path), (expect or {}).get("test"))
    return Dataset(name, *train, *test, source=str(path))


def candidates(dataset: str, root: Path) -> list[Path]:
    """Where ``load_dataset`` looks, in order."""
    folder = root / dataset
    found = [folder, folder / "mnist.npz", folder / "mnist.pkl.gz"] if dataset == "mnist" else [folder]
    if dataset == "fashion":
        found.append(DEBIAN_FASHION_DIR)
    return found


def load_dataset(dataset: str = "mnist", root: str | Path | None = None,
                 expect: dict | None = SPLIT_SIZES) -> Dataset:
    """Load from the first of ``candidates`` that exists; a missing dataset names the command that fetches it."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    root = default_root() if root is None else Path(root)
    for path in candidates(dataset, root):
        if path.is_dir() and any(path.glob("t10k-labels-idx1-ubyte*")):
            return read_idx_folder(path, dataset, expect)
        if path.is_file():
            return (read_npz if path.suffix == ".npz" else read_pickle)(path, dataset, expect)
    looked = ", ".join(str(p) for p in candidates(dataset, root))
    raise DataError(f"no {dataset} data found (looked in {looked}). Fetch it with:\n"
                    f"    {fetch_command(dataset, root)}\n"
                    f"or, with internet access, '{fetch_command(dataset, root)} --online'")
