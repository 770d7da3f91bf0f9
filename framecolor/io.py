"""Atomic file writes and safe output naming. Never overwrite an input; never leave partial files."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """The one way a file is written: yields a fresh hidden path beside `path`, ending in the same
    extension (for writers that pick the format from it); when the block ends without an error the
    file is fsynced, given the usual permissions and renamed over `path`, else removed. `path` is whole
    or untouched."""
    path = Path(path)
    tmp = temp_path_beside(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (atomic_output)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path_beside(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """A fresh hidden path in the same folder (same file system, so a later os.replace is atomic)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name the same file (or would: resolved paths are equal)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def extract_zip(src: str | os.PathLike, folder: str | os.PathLike, max_bytes: int) -> Path:
    """Unpack the files of zip `src` into `folder` (created), keeping their folders; refuses members
    that would land outside it and archives that unpack to more than `max_bytes`. Returns the folder.
    Raises InputError naming `src` for a file that is no zip, or is too big unpacked."""
    import zipfile

    from .errors import InputError

    folder = Path(folder)
    try:
        with zipfile.ZipFile(src) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > max_bytes:
                raise InputError(f"unpacks to more than {max_bytes / 2**20:.1f} MB; send fewer photos at once", src)
            for m in members:
                dst = (folder / m.filename).resolve()
                if not dst.is_relative_to(folder.resolve()):
                    raise InputError(f"member {m.filename!r} would be written outside its folder; refusing the zip", src)
                dst.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as f:
                    atomic_write(dst, f.read())
    except (zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"not a readable zip file ({e})", src) from None
    return folder


def write_zip(files: dict[str, Path], dst: str | os.PathLike) -> Path:
    """Write a zip of `files` (name inside the zip -> file) to `dst`, atomically. Returns `dst`."""
    import zipfile

    dst = Path(dst)
    tmp = temp_path_beside(dst)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:  # PNG and JPEG are compressed already
            for name, path in files.items():
                z.write(path, name)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
