"""Streaming video colorization: decode -> batch -> model -> encode -> flush, in three threads.

Bounded queues join a decode thread, a colorize thread and the encoding (calling) thread, so the
CPU codecs overlap with the model and memory does not grow with the length of the film. Output is
encoded in chunks that are committed to a hidden work folder beside the output as they finish;
rerunning the same command continues after the last finished chunk. The final file is remuxed from
the chunks plus the source audio (packets copied) into a temporary file and renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from . import color_cpu
from .config import FLOW_STRENGTH
from .color import denormalize_ab, lab_to_rgb, srgb_to_linear
from .inference import ImageColorizer, autocast, cpu_micro_batch, film_colorizer, load_colorizer, working_shape
from .models.registry import VIDEO_MODEL
from .parallel import MAX_CPU_WORKERS, Stages, opencv_threads
from .temporal_flow import FlowCarry, SceneCuts
from .video.probe import VideoError, VideoInfo, probe
from .video.reader import Frame, TruncatedWarning, read_frames
from .video.writer import ChunkWriter, EncodeSettings, assemble, check_container, container_format, pick_codec

TEMPORAL_MODES = ("none", "flow", "lstm")
LSTM_MODEL = "koala-effnet-lite0-lstm"
_SRGB_LINEAR = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255).float()
_Y_ROW = torch.tensor([0.212671, 0.715160, 0.072169])


@dataclass(frozen=True)
class VideoJob:
    """Everything about a video run except the model; part of the resume key."""

    temporal: str = "none"
    start: float = 0.0
    end: float | None = None
    side_by_side: bool = False
    chunk_frames: int = 240  # rounded up to a multiple of the batch size
    cut_threshold: float = 0.4
    flow_strength: float = FLOW_STRENGTH  # weight of the carried colour where the flow is reliable
    encode: EncodeSettings = field(default_factory=EncodeSettings)


# ---------------------------------------------------------------- colorizing a stream of batches

def l_from_rgb8(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 sRGB -> (B, 1, H, W) L*: a 256-entry linearisation table and the Y row of
    the RGB->XYZ matrix, the same numbers as color.rgb_to_lab at a fraction of its cost."""
    lut = _SRGB_LINEAR.to(rgb.device)
    lin = lut[rgb.long()]
    y = (lin * _Y_ROW.to(rgb.device).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    f = torch.where(y > 0.008856, y.clamp(min=0.008856) ** (1 / 3), 7.787 * y + 16 / 116)
    return 116 * f - 16


def full_l_cpu(frames: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB or (H, W) grey frames -> (B, 1, H, W) float32 L* (OpenCV, on the CPU)."""
    L = np.empty((len(frames), 1, *frames[0].shape[:2]), np.float32)
    for f, dst in zip(frames, L[:, 0]):
        color_cpu.l_from_pixels(f, dst)
    return torch.from_numpy(L)


def working_l(L: torch.Tensor, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """(B, 1, H, W) full-resolution L* -> ((B, 1, h, w) working-size L*, (B, h, w) uint8 L* * 2.55),
    the second for the optical flow and the scene-cut detector."""
    small = F.interpolate(L, size=working_shape(*L.shape[-2:], size), mode="bilinear", antialias=True,
                          align_corners=False)
    return small, (small[:, 0] * 2.55).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


@dataclass
class Prepared:
    L: torch.Tensor  # (B, 1, H, W) full-resolution L* in [0, 100]
    small: torch.Tensor | None  # (B, 1, h, w) working-size L* (None until StreamColorizer._working)
    gray: np.ndarray | None  # (B, h, w) uint8 working-size L* * 2.55, for flow and cut detection


class StreamColorizer:
    """Colorizes batches of RGB frames in order, carrying the temporal state between batches.

    Frames are colorized from L* at the working size; a*b* are upsampled and merged with the
    full-resolution L* of each frame. `flow` carries colour along optical flow; `lstm` runs the
    model's ConvLSTM head and then the same flow carry (flow_strength=0 leaves the head alone).
    Scene cuts reset the flow carry and the LSTM state.
    On the CPU the full-resolution conversions use OpenCV (color_cpu), on a GPU torch (color).
    """

    def __init__(self, engine: ImageColorizer, temporal: str = "none", cut_threshold: float = 0.4,
                 flow_strength: float = FLOW_STRENGTH):
        if temporal not in TEMPORAL_MODES:
            raise ValueError(f"--temporal must be one of {', '.join(TEMPORAL_MODES)}, got {temporal!r}")
        if temporal == "lstm" and engine.model.temporal is None:
            raise ValueError("--temporal lstm needs a model with a temporal head (e.g. koala-effnet-lite0-lstm)")
        self.engine, self.temporal = film_colorizer(engine), temporal
        self.cuts, self.flow = SceneCuts(cut_threshold), FlowCarry(flow_strength)
        self.lstm_state = None
        self._to_rgb8 = color_cpu.LabToRGB8()  # the CPU merge's buffers; merge runs in one thread

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        """list of (H, W, 3) uint8 RGB or (H, W) grey -> (B, H, W, 3) uint8 colorized (three steps in one go)."""
        prepared = self.prepare(frames)
        return self.merge(prepared, self.predict(prepared))

    @torch.no_grad()
    def prepare(self, frames: list[np.ndarray], working: bool = True) -> "Prepared":
        """Decode-thread step: full-resolution L*, and (with ``working``) the working-size L* and its
        uint8 copy for flow and cut detection.
        frames: (H, W, 3) uint8 RGB, or (H, W) uint8 grey levels (Frame.pixels of a grey frame).

        The pipeline passes ``working=False`` on the CPU: the resize is a torch op, and a torch op in
        a second Python thread starts a second OpenMP team that fights the model's team for the same
        cores; `predict` then does it in the model's thread. On a GPU it stays here (async kernels)."""
        p = Prepared(self._full_l(frames), None, None)
        return self._working(p) if working or p.L.device.type != "cpu" else p

    def _working(self, p: "Prepared") -> "Prepared":
        if p.small is None:
            p.small, p.gray = working_l(p.L, self.engine.size)
        return p

    @torch.no_grad()
    def predict(self, p: "Prepared") -> torch.Tensor:
        """Model-thread step, in frame order: (B, 2, h, w) a*b* at working size, temporally smoothed."""
        if self.temporal == "lstm":  # the head's state needs the cuts before the model runs
            p = self._working(p)
            cuts = [self.cuts(g) for g in p.gray]
            return self._smooth(p, self.model_ab(p.small, cuts), cuts)
        return self.smooth(p, self.predict_frames(p))

    @property
    def frames_independent(self) -> bool:
        """True when the model sees each frame on its own (not `lstm`): batches may then be predicted
        out of order, in parallel, and only `smooth` must run in frame order."""
        return self.temporal != "lstm"

    @torch.no_grad()
    def predict_frames(self, p: "Prepared") -> torch.Tensor:
        """The per-frame model alone (no state): (B, 2, h, w) a*b*. Not for `lstm`."""
        return self.engine.predict_ab(self._working(p).small)

    def smooth(self, p: "Prepared", ab: torch.Tensor) -> torch.Tensor:
        """In frame order: scene cuts and the flow carry on per-frame predictions."""
        return self._smooth(p, ab, [self.cuts(g) for g in self._working(p).gray])

    def _smooth(self, p: "Prepared", ab: torch.Tensor, cuts: list[bool]) -> torch.Tensor:
        if self.temporal != "none" and self.flow.alpha > 0:  # lstm too: the head steadies features, the carry pixels
            ab = self._carry(ab, p.gray, cuts)
        return ab

    @torch.no_grad()
    def merge(self, p: "Prepared", ab: torch.Tensor) -> np.ndarray:
        """Encode-thread step: upsample a*b*, merge with full-resolution L* -> (B, H, W, 3) uint8."""
        L = p.L
        if L.device.type == "cpu":
            ab_hw = np.ascontiguousarray(ab.float().numpy().transpose(0, 2, 3, 1))  # numpy: no torch thread team
            out = np.empty((*L.shape[:1], *L.shape[-2:], 3), np.uint8)
            for i in range(len(L)):
                self._to_rgb8(L[i, 0].numpy(), ab_hw[i], out[i])
            return out
        ab = F.interpolate(ab.to(L.device), size=L.shape[-2:], mode="bilinear", align_corners=False)
        rgb = lab_to_rgb(torch.cat((L, ab), dim=1)).clamp(0, 1).mul(255).round().to(torch.uint8)
        return rgb.permute(0, 2, 3, 1).cpu().numpy()

    def _full_l(self, frames: list[np.ndarray]) -> torch.Tensor:
        dev = self.engine.device
        if dev.type == "cpu":
            return full_l_cpu(frames)
        rgbs = [f if f.ndim == 3 else np.repeat(f[..., None], 3, axis=2) for f in frames]
        x = torch.from_numpy(np.stack(rgbs))
        if dev.type == "cuda":
            x = x.pin_memory().to(dev, non_blocking=True)
        return l_from_rgb8(x.permute(0, 3, 1, 2))

    def model_ab(self, small: torch.Tensor, cuts: list[bool]) -> torch.Tensor:
        """(B, 1, h, w) working-size L* and the batch's scene cuts -> (B, 2, h, w) a*b* before the flow
        carry: the per-frame model, or for `lstm` the head with its state reset at each cut. In frame order
        for `lstm`."""
        if self.temporal != "lstm":
            return self.engine.predict_ab(small)
        outs, bounds = [], [i for i, c in enumerate(cuts) if c] + [len(cuts)]
        begin = 0
        for stop in bounds:
            if begin < stop:
                outs.append(self._predict_lstm(small[begin:stop], reset=cuts[begin]))
            begin = stop
        return torch.cat(outs)

    def _predict_lstm(self, small: torch.Tensor, reset: bool) -> torch.Tensor:
        """(T, 1, h, w) consecutive frames -> (T, 2, h, w); on the CPU in runs of `cpu_micro_batch`
        frames, the state carried from run to run (the same result as one call)."""
        eng = self.engine
        state = None if reset else self.lstm_state
        parts = small.split(cpu_micro_batch(*small.shape[-2:])) if eng.device.type == "cpu" else [small]
        outs = []
        with autocast(eng.device, eng.precision):
            for part in parts:
                ab, state = eng.model.forward_clip(part[None].to(eng.device), state=state)
                outs.append(ab[0].float())
        self.lstm_state = state
        return denormalize_ab(outs[0] if len(outs) == 1 else torch.cat(outs), eng.chroma_gain)

    def _carry(self, ab: torch.Tensor, gray: np.ndarray, cuts: list[bool]) -> torch.Tensor:
        ab_np = ab.float().cpu().numpy()
        for i, cut in enumerate(cuts):
            if cut:
                self.flow.reset()
            ab_np[i] = self.flow(gray[i], ab_np[i])
        return torch.from_numpy(ab_np)

    def state(self) -> dict[str, np.ndarray | torch.Tensor]:
        """Everything carried between frames (saved with each chunk for resume). Cheap: references."""
        out = {**self.cuts.state(), **self.flow.state()}
        if self.lstm_state is not None:
            out.update(lstm_h=self.lstm_state[0], lstm_c=self.lstm_state[1])  # tensors; saved as arrays
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.cuts.load(state)
        self.flow.load(state)
        if "lstm_h" in state:
            dev = self.engine.device
            self.lstm_state = (torch.from_numpy(state["lstm_h"]).to(dev), torch.from_numpy(state["lstm_c"]).to(dev))


def colorize_frames(frames: Iterable[np.ndarray], colorizer: StreamColorizer, batch_size: int) -> Iterator[np.ndarray]:
    """Synchronous helper: (H, W, 3) uint8 frames in, colorized frames out (evaluation, tests)."""
    batch: list[np.ndarray] = []
    for f in frames:
        batch.append(f)
        if len(batch) == batch_size:
            yield from colorizer(batch)
            batch = []
    if batch:
        yield from colorizer(batch)


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for f in frames:
        batch.append(f)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- resumable chunk store

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
        from .io import atomic_write

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
        from .io import atomic_write

        arrays = {k: v.float().cpu().numpy() if torch.is_tensor(v) else v for k, v in state.items()}
        np.savez(path.with_suffix(".npz"), **arrays)
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


# ---------------------------------------------------------------- the job

class OutputExists(VideoError):
    """The output file is there already; it is replaced only when asked (overwrite=True). `readable`:
    whether it is a video that can be read (a finished film) or something else."""

    def __init__(self, path: str | os.PathLike, readable: bool | None = None):
        if readable is None:
            try:
                probe(path)
                readable = True
            except VideoError:
                readable = False
        self.readable = readable
        super().__init__("exists already" + ("" if readable else ", and is not a video that can be read"), path)

    def __reduce__(self):
        return type(self), (self.path, self.readable)


def _check_paths(src: Path, dst: Path) -> None:
    from .io import same_file

    container_format(dst)
    if same_file(src, dst):
        raise VideoError("output path is the input itself; refusing to overwrite it", src)
    if dst.is_dir():
        raise VideoError("is a folder; give the output video's file name", dst)
    _check_folder_writable(dst)


def _check_folder_writable(dst: Path) -> None:
    """The output's folder exists and takes new files (the work folder and the film go there)."""
    import tempfile

    folder = dst.parent
    if not folder.exists():
        raise VideoError(f"the output folder {folder} does not exist; create it first", dst)
    if not folder.is_dir():
        raise VideoError(f"{folder} is not a folder", dst)
    try:
        fd, probe_file = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".check", dir=folder)
    except OSError as e:
        raise VideoError(f"cannot write into the output folder {folder} ({e.strerror or e})", dst) from None
    os.close(fd)
    os.unlink(probe_file)


def _check_range(info: VideoInfo, job: VideoJob) -> None:
    if job.start < 0 or (job.end is not None and job.end <= job.start):
        raise VideoError(f"bad time range --start {job.start} --end {job.end}", info.path)
    if info.duration and job.start >= info.duration:
        raise VideoError(f"--start {job.start} is past the end of the video ({info.duration:.2f} s)", info.path)


def _encode_chunks(stages: Iterable, store: ChunkStore, make_writer: Callable[[Path], ChunkWriter],
                   render: Callable, chunk_frames: int, bar) -> None:
    """Encoding thread: render colorized batches, write them into chunk files, commit full chunks."""
    writer, n, last = None, 0, None
    try:
        for (frames, prepared), (ab, state) in stages:
            if writer is None:
                path, writer = store.next_path(), make_writer(store.next_path())
            for f, rgb in zip(frames, render(frames, prepared, ab)):
                writer.write(rgb, f.pts, f.duration)
                n, last = n + 1, f.pts
            bar.update(len(frames))
            if n >= chunk_frames:
                writer.close()
                store.commit(path, n, last, state)
                writer, n = None, 0
        if writer is not None:
            writer.close()
            store.commit(path, n, last, {})
            writer = None
    finally:
        if writer is not None:
            writer.abort()


def _stage_fns(colorizer: StreamColorizer, side_by_side: bool) -> tuple[Callable, Callable, Callable, Callable]:
    """(prepare: decode thread, predict: model thread(s), ordered: in frame order after predict,
    render: encode thread)."""
    def prepare(batch: list[Frame]):
        return batch, colorizer.prepare([f.pixels for f in batch], working=False)

    if colorizer.frames_independent:
        def predict(item) -> torch.Tensor:
            return colorizer.predict_frames(item[1])

        def ordered(item, ab: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
            return colorizer.smooth(item[1], ab), colorizer.state()
    else:
        def predict(item) -> torch.Tensor:
            return colorizer.predict(item[1])

        def ordered(item, ab: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
            return ab, colorizer.state()

    def render(frames: list[Frame], prepared: Prepared, ab: torch.Tensor) -> np.ndarray:
        out = colorizer.merge(prepared, ab)
        return np.concatenate([np.stack([f.rgb for f in frames]), out], axis=2) if side_by_side else out
    return prepare, predict, ordered, render


def model_workers(colorizer: StreamColorizer) -> int:
    """Model threads for a job: on the CPU, one per torch thread (at most MAX_CPU_WORKERS, sharing out
    the threads; one-threaded each on 2 cores) when frames are independent; else one (a GPU, or the
    LSTM's state)."""
    if colorizer.engine.device.type != "cpu" or not colorizer.frames_independent:
        return 1
    return max(1, min(torch.get_num_threads(), MAX_CPU_WORKERS))


@dataclass(frozen=True)
class VideoProgress:
    """How far a film job is, for `colorize_video(on_progress=...)`: frames done (resumed ones
    included), the total (None when the container does not say), frames/s of this run, seconds left."""

    done: int
    total: int | None
    fps: float
    eta: float | None


class _ProgressBar:
    """The tqdm bar, plus a VideoProgress for `report` after every batch."""

    def __init__(self, bar, report: Callable[[VideoProgress], None] | None):
        import time

        self.bar, self.report, self.clock = bar, report, time.monotonic
        self.first, self.t0, self.done = bar.n, self.clock(), bar.n

    def __enter__(self) -> "_ProgressBar":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def update(self, n: int) -> None:
        self.bar.update(n)
        self.done += n
        if self.report is not None:
            fps = (self.done - self.first) / max(self.clock() - self.t0, 1e-6)
            total = self.bar.total
            eta = (total - self.done) / fps if total and fps > 0 else None
            self.report(VideoProgress(self.done, total, fps, None if eta is None else max(eta, 0.0)))


def _progress(info: VideoInfo, job: VideoJob, done: int, enabled: bool,
              report: Callable[[VideoProgress], None] | None = None) -> _ProgressBar:
    from tqdm import tqdm

    total = info.frames_between(job.start, job.end) or None
    return _ProgressBar(tqdm(total=total, initial=done, unit="frame", disable=not enabled, desc=info.path.name,
                             dynamic_ncols=True, smoothing=0.1), report)


def run_job(info: VideoInfo, dst: Path, engine: ImageColorizer, job: VideoJob, progress: bool = True,
            backend: str = "auto", queue_size: int = 4, log: Callable[[str], None] | None = None,
            on_progress: Callable[[VideoProgress], None] | None = None) -> Path:
    """Colorize `info.path` into `dst` (resuming from committed chunks) and remux the result.
    `check_output` has passed for these settings. `on_progress` gets a VideoProgress after each batch."""
    store = encode_job(info, dst, engine, job, progress, backend, queue_size, log, on_progress)
    _finish(info, dst, store, job)
    return dst


def encode_job(info: VideoInfo, dst: Path, engine: ImageColorizer, job: VideoJob, progress: bool = True,
               backend: str = "auto", queue_size: int = 4, log: Callable[[str], None] | None = None,
               on_progress: Callable[[VideoProgress], None] | None = None) -> ChunkStore:
    """Colorize `info.path` (between job.start and job.end) into the chunks of `dst`'s work folder,
    resuming after the chunks committed there; returns the store. Nothing is remuxed."""
    width = info.width * (2 if job.side_by_side else 1)
    fmt_codec = pick_codec(job.encode, container_format(dst), width, info.height)
    if log is not None and job.encode.codec is None and fmt_codec == "libvpx-vp9" and container_format(dst) != "webm":
        log(f"{info.path}: {width}x{info.height} has an odd side, which H.264 4:2:0 cannot hold; writing VP9 "
            "4:2:0 at the exact size (browsers and Android play it; --codec libx264 gives H.264 4:4:4)")
    batch = max(1, engine.batch_size)
    chunk = -(-job.chunk_frames // batch) * batch
    colorizer = StreamColorizer(engine, job.temporal, job.cut_threshold, job.flow_strength)
    store = ChunkStore(dst, resume_key(info.path, job, engine))
    if store.chunks and log is not None:
        log(f"{info.path}: " + (f"all {store.frames_done} frames are colorized already ({store.dir}); writing {dst}"
                                if store.complete else f"resuming from frame {store.frames_done} "
                                f"({len(store.chunks)} finished chunks in {store.dir})"))
    colorizer.load(store.state())
    frames = read_frames(info, job.start, job.end, store.last_pts, store.frames_done, backend)

    def make_writer(path: Path) -> ChunkWriter:
        return ChunkWriter(path, fmt_codec, job.encode, width, info.height, info.time_base, info.fps, info.sar)

    prepare, predict, ordered, render = _stage_fns(colorizer, job.side_by_side)
    stages = Stages(map(prepare, _batches(frames, batch)), predict, queue_size, model_workers(colorizer), ordered)
    with _progress(info, job, store.frames_done, progress, on_progress) as bar, opencv_threads(engine.device):
        _encode_chunks(stages, store, make_writer, render, chunk, bar)
    return store


def check_output(info: VideoInfo, dst: Path, job: VideoJob) -> None:
    """VideoError now, rather than after the film is colorized, when `dst`'s container cannot hold the
    encoded video and the source's audio (a trial remux of two frames and a few audio packets)."""
    width = info.width * (2 if job.side_by_side else 1)
    check_container(dst, pick_codec(job.encode, container_format(dst), width, info.height), info, job.encode, width)


def _warn_if_short(info: VideoInfo, store: ChunkStore, job: VideoJob) -> None:
    """The container promised more frames (or a longer duration) than could be decoded."""
    if job.end is not None:
        return
    got = job.start + float((store.last_pts or 0) * info.time_base) + 1 / float(info.fps)
    short_frames = job.start == 0 and info.frames and store.frames_done < info.frames - 1
    if short_frames or got < info.duration - 2 / float(info.fps):
        warnings.warn(f"{info.path}: the video ends at {got:.2f} s of a declared {info.duration:.2f} s; the "
                      "file looks truncated, keeping what could be read", TruncatedWarning, stacklevel=3)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finish(info: VideoInfo, dst: Path, store: ChunkStore, job: VideoJob) -> None:
    if store.frames_done == 0:
        store.remove()
        raise VideoError(f"no frames between --start {job.start} and --end {job.end}", info.path)
    _warn_if_short(info, store, job)
    store.mark_complete()
    try:
        remux_into(dst, store.paths(), info, job.start, job.end)
    except VideoError as e:  # the colorized chunks are kept: only the remux is to be redone
        other = dst.with_suffix(".mkv" if dst.suffix.lower() != ".mkv" else ".mp4").name
        raise VideoError(f"{e.reason}. The {store.frames_done} colorized frames are kept in {store.dir}: run "
                         f"the same command again to retry, or with -o {other} to write them into another "
                         "container without colorizing again", dst) from None
    store.remove()


def remux_into(dst: Path, chunks: list[Path], info: VideoInfo, start: float = 0.0, end: float | None = None,
               offsets: list[int] | None = None) -> None:
    """`assemble` the chunks (each shifted by its offset, in the source time base) and the source's
    audio into a temporary file beside `dst`, then rename it into place: `dst` is whole or absent."""
    from .io import temp_path_beside

    tmp = temp_path_beside(dst)
    try:
        assemble(tmp, chunks, info, start, end, info.rotation, offsets=offsets)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def film_model(model: str | os.PathLike, temporal: str) -> str | os.PathLike:
    """The model a film is colorized with: for `lstm`, the shipped default becomes the image model
    with its trained temporal head (LSTM_MODEL)."""
    return LSTM_MODEL if temporal == "lstm" and str(model) == VIDEO_MODEL else model


def colorize_video(src: str | os.PathLike, dst: str | os.PathLike, model: str | os.PathLike = VIDEO_MODEL, *,
                   colorizer: ImageColorizer | None = None, temporal: str = "flow", size: int = 256,
                   batch_size: int = 8, device: str = "auto", precision: str | None = None,
                   chroma_gain: float | None = None, codec: str | None = None, crf: int = 18,
                   preset: str = "medium", start: float = 0.0, end: float | None = None,
                   side_by_side: bool = False, chunk_frames: int = 240, progress: bool = True,
                   backend: str = "auto", flow_strength: float = FLOW_STRENGTH, cut_threshold: float = 0.4,
                   overwrite: bool = False, log: Callable[[str], None] | None = None,
                   on_progress: Callable[[VideoProgress], None] | None = None) -> Path:
    """Colorize a video file into `dst` (container from its extension), keeping rate, timestamps,
    size, aspect, rotation and the audio packets. Rerun after an interruption to resume.

    An existing `dst` is left alone (OutputExists) unless `overwrite`. `colorizer` (from
    load_colorizer) overrides model/size/device/precision/chroma_gain/batch_size. `log` gets notes
    (resuming from frame N); `on_progress` a VideoProgress (frames done, total, frames/s, ETA) after
    each batch, with or without the `progress` bar on stderr.
    """
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    info = probe(src)
    job = VideoJob(temporal, start, end, side_by_side, chunk_frames, cut_threshold, flow_strength,
                   EncodeSettings(codec, crf, preset))
    _check_range(info, job)
    if temporal not in TEMPORAL_MODES:
        raise ValueError(f"--temporal must be one of {', '.join(TEMPORAL_MODES)}, got {temporal!r}")
    if dst.exists() and not overwrite:
        raise OutputExists(dst)
    check_output(info, dst, job)  # before the model loads and any frame is colorized
    engine = colorizer or load_colorizer(film_model(model, temporal), device, size, precision, chroma_gain,
                                         batch_size)
    return run_job(info, dst, engine, job, progress, backend, log=log, on_progress=on_progress)
