"""The resumable chunk store: a hidden work folder beside the output, keyed by the input and the settings."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..inference import ImageColorizer, film_colorizer
from ..io import atomic_output, atomic_write
from .options import VideoJob


class ChunkStore:
    """Hidden work folder beside the output: chunk_NNNNN.mkv (+ .json packet index, + .npz temporal
    state) and manifest.json, keyed by the input and the settings. Commits are atomic."""

    def __init__(self, dst: Path, key: str):
        self.dir, self.key = self.folder_of(dst), key
        self.manifest = self.dir / "manifest.json"
        self.chunks: list[dict] = self._load()

    def _load(self) -> list[dict]:
        if self._key_of(self.dir) != self.key and (done := self._finished_sibling()) is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            os.replace(done, self.dir)  # the same film, colorized for another container: reuse it
        if self._key_of(self.dir) == self.key:
            return json.loads(self.manifest.read_text())["chunks"]
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        return []

    @staticmethod
    def _key_of(folder: Path, finished: bool = False) -> str | None:
        try:
            data = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        return data.get("key") if data.get("complete") or not finished else None

    def _finished_sibling(self) -> Path | None:
        """A work folder beside this one (`.<stem>.<other extension>.framecolor`) whose film is
        colorized to the end with this key: a run whose container failed at the remux."""
        stem = self.dir.name[1:-len(".framecolor")].rsplit(".", 1)[0]
        return next((d for d in self.dir.parent.glob(f".{stem}.*.framecolor")
                     if d != self.dir and self._key_of(d, finished=True) == self.key), None)

    def mark_complete(self) -> None:
        """Every frame is in the chunks: only the remux is left."""
        atomic_write(self.manifest, json.dumps({"key": self.key, "chunks": self.chunks, "complete": True}).encode())

    @staticmethod
    def folder_of(dst: Path) -> Path:
        return dst.parent / f".{dst.name}.framecolor"

    @classmethod
    def finished_chunks(cls, dst: Path) -> list[tuple[Path, int]] | None:
        """(chunk file, frames) of `dst`'s work folder when every frame is in it (mark_complete),
        else None; read without the resume key, and nothing is removed."""
        folder = cls.folder_of(dst)
        try:
            data = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        return [(folder / c["file"], c["frames"]) for c in data["chunks"]] if data.get("complete") else None

    @property
    def complete(self) -> bool:
        """Every frame is in the chunks (mark_complete): only the remux is left."""
        return self._key_of(self.dir, finished=True) == self.key

    @property
    def frames_done(self) -> int:
        return sum(c["frames"] for c in self.chunks)

    @property
    def last_pts(self) -> int | None:
        return self.chunks[-1]["last_pts"] if self.chunks else None

    def next_path(self) -> Path:
        return self.dir / f"chunk_{len(self.chunks):05d}.mkv"

    def state(self) -> dict[str, np.ndarray]:
        if not self.chunks:
            return {}
        with np.load(self.dir / self.chunks[-1]["state"], allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def commit(self, path: Path, frames: int, last_pts: int, state: dict[str, np.ndarray]) -> None:
        arrays = {k: v.float().cpu().numpy() if torch.is_tensor(v) else v for k, v in state.items()}
        with atomic_output(path.with_suffix(".npz")) as tmp:
            np.savez(tmp, **arrays)
        self.chunks.append({"file": path.name, "frames": frames, "last_pts": last_pts,
                            "state": path.with_suffix(".npz").name})
        atomic_write(self.manifest, json.dumps({"key": self.key, "chunks": self.chunks}).encode())

    def paths(self) -> list[Path]:
        return [self.dir / c["file"] for c in self.chunks]

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _file_fingerprint(path: Path, span: int = 1 << 20) -> str:
    """sha256 of the size and the first and last MiB: cheap, and changes when the file does."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(span))
        f.seek(max(0, path.stat().st_size - span))
        h.update(f.read(span))
    return h.hexdigest()


def _model_fingerprint(engine: ImageColorizer) -> str:
    engine = film_colorizer(engine)
    h = hashlib.sha256(json.dumps(engine.model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, t in engine.model.trainable_state_dict().items():
        h.update(f"{name}:{float(t.float().sum()):.6e}".encode())
    h.update(f"{engine.size}:{engine.precision}:{engine.chroma_gain}".encode())
    return h.hexdigest()


def resume_key(src: Path, job: VideoJob, engine: ImageColorizer) -> str:
    parts = [_file_fingerprint(src), json.dumps(asdict(job), sort_keys=True), _model_fingerprint(engine)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
