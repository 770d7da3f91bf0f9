"""A batch job: its settings, its items, and the job folder that records what became of each.

The job folder (OUT/.framecolor-batch) holds settings.json and one small JSON file per item that
has been tried (items/<key>.json: done, or failed with its error). Each is written atomically, by
whoever did the work, so a job killed at any moment loses at most the items in progress, and a
re-run skips what is done. Torch and Ray are not imported here.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, Sequence

from ..config import FLOW_STRENGTH, PHOTO_MODEL, VIDEO_MODEL, ColorizerSettings
from ..errors import InputError
from ..images import DEFAULT_MAX_PIXELS, READ_SUFFIXES
from ..film.options import VideoJob
from ..video.writer import CONTAINERS, EncodeSettings

JOB_FOLDER = ".framecolor-batch"
FILM_SUFFIXES = frozenset(CONTAINERS)  # films are read from, and written to, the containers `video` writes
PHOTO, FILM = "photo", "film"


@dataclass(frozen=True)
class BatchSettings:
    """Everything that decides a job's outputs: `colorize`'s settings for photos, `video`'s for films."""

    photo_model: str = PHOTO_MODEL
    film_model: str = VIDEO_MODEL
    size: int | None = ColorizerSettings.size  # None: the model card's working size
    device: str = "auto"
    precision: str | None = None
    chroma_gain: float | None = None
    batch_size: int = 8  # film frames per model batch
    embedder_weights: str | None = None
    side_by_side: bool = False
    fmt: str | None = None  # photos' output format (default: the input's own)
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    temporal: str = "flow"
    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    chunk_frames: int = 240
    flow_strength: float = FLOW_STRENGTH
    cut_threshold: float = 0.4
    split_scenes: bool = False
    min_segment: float = 10.0  # seconds: the shortest scene segment of a split film

    def colorizer(self, model: str) -> ColorizerSettings:
        """The settings `model` is loaded with for this job."""
        return ColorizerSettings(model, self.size, self.device, self.precision, self.chroma_gain, self.batch_size,
                                 self.embedder_weights)

    def video_job(self) -> VideoJob:
        """The VideoJob `framecolor video` runs for these settings, over the whole film."""
        return VideoJob(self.temporal, 0.0, None, self.side_by_side, self.chunk_frames, self.cut_threshold,
                        self.flow_strength, EncodeSettings(self.codec, self.crf, self.preset))

    def changes_from(self, recorded: dict) -> list[str]:
        """'name: old -> new' for each setting that differs from a recorded asdict()."""
        now = asdict(self)
        return [f"{k}: {recorded.get(k)!r} -> {now[k]!r}" for k in now if recorded.get(k, now[k]) != now[k]
                or k not in recorded]


@dataclass(frozen=True)
class Item:
    """One input and where its result goes; `kind` is PHOTO or FILM."""

    source: Path
    output: Path
    kind: str

    @property
    def key(self) -> str:
        """Names the item's state file: the output path, which is unique within a job."""
        return hashlib.sha256(str(self.output.absolute()).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Rejected:
    """An input that cannot become an item (missing, unknown kind, output clash): reported, never run."""

    source: Path
    reason: str  # one line naming the file


@dataclass
class State:
    """What became of an item: status 'done' or 'failed', after `attempts` tries."""

    source: str
    output: str
    kind: str
    status: str
    attempts: int
    seconds: float = 0.0  # the last attempt's
    frames: int = 0  # films: frames written
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- finding the items

def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return PHOTO if suffix in READ_SUFFIXES else FILM if suffix in FILM_SUFFIXES else None


def find_items(inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
               fmt: str | None = None) -> tuple[list[Item], list[Rejected]]:
    """Files, folders (recursively, photos and films) and CSV manifests -> the job's items, with
    outputs that mirror each input folder's tree under `out` as <stem>_color<ext> (what `colorize -o`
    and `video` would be given). A manifest's `output` column, where filled, names the output
    (relative to `out`). Inputs that cannot be items are returned as Rejected."""
    from ..inference import output_clashes, plan_outputs

    out = Path(out)
    named, roots, rejected = _walk_inputs(inputs, out)
    planned = {}
    for kind, kind_fmt in ((PHOTO, fmt), (FILM, None)):
        files = [f for f, (k, _) in named.items() if k == kind and named[f][1] is None]
        planned.update(zip(files, plan_outputs(files, roots, str(out), fmt=kind_fmt)))
    planned.update({f: out / given for f, (_, given) in named.items() if given is not None})
    files = list(named)
    clashes = output_clashes(files, [planned[f] for f in files])
    rejected += [Rejected(f, why) for f, why in clashes.items()]
    return [Item(f, planned[f], named[f][0]) for f in files if f not in clashes], rejected


def _walk_inputs(inputs, out: Path) -> tuple[dict, dict[Path, Path], list[Rejected]]:
    """{file: (kind, output named by a manifest or None)}, {file: its input folder}, rejected inputs."""
    from ..images import find_images

    named: dict[Path, tuple[str, Path | None]] = {}
    roots: dict[Path, Path] = {}
    rejected: list[Rejected] = []
    seen: set[Path] = set()
    for entry, given in _expand_manifests(inputs):
        path = Path(entry)
        found, errors = find_images([path], READ_SUFFIXES | FILM_SUFFIXES)
        rejected += [Rejected(path, e) for e in errors]
        for f in found:
            if f.resolve() in seen or _inside(f, out / JOB_FOLDER) or (path.is_dir() and _inside(f, out)):
                continue  # named twice, or an earlier job's own output below an input folder
            seen.add(f.resolve())
            if (kind := kind_of(f)) is None:
                rejected.append(Rejected(f, f"{f}: not a photo ({', '.join(sorted(READ_SUFFIXES))}) or a film "
                                            f"({', '.join(sorted(FILM_SUFFIXES))})"))
                continue
            named[f] = (kind, given)
            if path.is_dir():
                roots[f] = path
    return named, roots, rejected


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _expand_manifests(inputs) -> Iterable[tuple[str | os.PathLike, Path | None]]:
    """(input, output or None) for each input; a .csv file is a manifest and stands for its rows."""
    for entry in inputs:
        if Path(entry).suffix.lower() == ".csv" and Path(entry).is_file():
            yield from read_manifest(Path(entry))
        else:
            yield entry, None


def read_manifest(path: Path) -> list[tuple[Path, Path | None]]:
    """A CSV with a header row naming an `input` column and optionally an `output` column. Relative
    inputs are relative to the manifest's folder; outputs, relative to the job's output folder."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read the manifest ({e})", path) from None
    if not rows or "input" not in rows[0]:
        raise InputError("a manifest needs a header row with an 'input' column (and optionally 'output')", path)
    items = []
    for n, row in enumerate(rows, start=2):
        if not (row.get("input") or "").strip():
            raise InputError(f"line {n} has no input", path)
        output = (row.get("output") or "").strip()
        items.append((path.parent / row["input"].strip(), Path(output) if output else None))
    return items


# ---------------------------------------------------------------- the job folder

class JobFolder:
    """OUT/.framecolor-batch: settings.json, items/<key>.json (one State each), summary.csv."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.dir = self.out / JOB_FOLDER
        self.items = self.dir / "items"
        self.summary = self.dir / "summary.csv"

    def open(self, settings: BatchSettings) -> None:
        """Create the folder with these settings, or check that an earlier run used the same ones
        (InputError naming what changed)."""
        from ..io import atomic_write

        recorded = self._recorded()
        if recorded is not None and (changed := settings.changes_from(recorded)):
            raise InputError(f"this job was started with other settings ({'; '.join(changed)}); run it with the "
                             "same settings, or give another output folder", self.dir)
        self.items.mkdir(parents=True, exist_ok=True)
        if recorded is None:
            atomic_write(self.dir / "settings.json", json.dumps(asdict(settings), indent=1, sort_keys=True).encode())

    def _recorded(self) -> dict | None:
        try:
            return json.loads((self.dir / "settings.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise InputError(f"the job's settings.json cannot be read ({e}); remove the folder to start over",
                             self.dir) from None

    def state(self, item: Item) -> State | None:
        try:
            data = json.loads((self.items / f"{item.key}.json").read_text())
        except (OSError, ValueError):
            return None  # never tried, or its state was being written when the job stopped
        return State(**{f.name: data[f.name] for f in fields(State) if f.name in data})

    def record(self, item: Item, state: State) -> None:
        from ..io import atomic_write

        atomic_write(self.items / f"{item.key}.json", json.dumps(asdict(state)).encode())

    def attempts(self, item: Item) -> int:
        state = self.state(item)
        return 0 if state is None else state.attempts

    def work_dir(self, item: Item) -> Path:
        """A folder for an item's intermediate files (a split film's segments)."""
        return self.dir / "work" / item.key
