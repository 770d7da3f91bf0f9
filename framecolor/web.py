"""The local web page (`framecolor serve`): Gradio widgets wired to library calls.

Photos go through `colorize_files`, film through `colorize_video` in a worker thread that does not
depend on the browser (closing the tab does not stop a film; reopening the page lists it). One
model is loaded per process (`Models`), and `ServeConfig.concurrency` model runs happen at once.
Everything the page writes lives in one work folder, swept by age and removed when the server stops.
Gradio is imported here only: `import framecolor` stays light.
"""
from __future__ import annotations

import dataclasses
import gc
import html
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .config import LSTM_MODEL, PHOTO_MODEL, TEMPORAL_MODES, VIDEO_MODEL
from .images import DEFAULT_MAX_PIXELS

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")  # no web fonts: nothing is fetched
MONO_FONTS = ("ui-monospace", "monospace")


@dataclass(frozen=True)
class ServeConfig:
    """How the page is served. `max_upload_mb`: the largest upload; `keep_hours`: how long results
    stay in `work_dir` (default: a temporary folder, removed when the server stops)."""

    host: str = "127.0.0.1"
    port: int = 7860
    device: str = "auto"
    model: str = PHOTO_MODEL
    concurrency: int = 1
    max_upload_mb: float = 200.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    work_dir: Path | None = None
    keep_hours: float = 24.0


class Models:
    """One loaded model per process: the last one asked for. Asking for another name drops the
    loaded one first, so a small machine never holds two."""

    def __init__(self, device: str):
        self.device, self.name, self.colorizer = device, None, None
        self.lock = threading.Lock()

    def get(self, name: str):
        from .inference import load_colorizer

        with self.lock:
            if name != self.name:
                self.name, self.colorizer = None, None
                gc.collect()
                self.colorizer, self.name = load_colorizer(name, self.device), name
            return self.colorizer


@dataclass
class Workspace:
    """The work folder, the model and the slots that bound how many model runs go at once."""

    cfg: ServeConfig
    root: Path
    models: Models
    slots: threading.BoundedSemaphore
    busy: set = field(default_factory=set)  # folders of films still running: never swept

    def new_folder(self, kind: str) -> Path:
        self.sweep(kind)
        folder = self.root / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def sweep(self, kind: str) -> None:
        """Remove `kind` folders older than keep_hours (a running film's folder is younger)."""
        cutoff = time.time() - self.cfg.keep_hours * 3600
        for old in (self.root / kind).glob("*"):
            if old not in self.busy and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- photos

@dataclass
class PhotoBatch:
    results: list[tuple[str, str, str]]  # (output name, input path, output PNG path)
    archive: str | None  # a zip of every output, keeping their names
    message: str  # done / failed, one line per failed file


def colorize_uploads(ws: Workspace, uploads: list[str], model: str, gain: float, size: int | None) -> PhotoBatch:
    """Colorize uploaded images and zips of images into PNGs, in a fresh folder of the workspace
    (`size`: the working size; None: the model card's)."""
    from .errors import InputError
    from .inference import colorize_files
    from .io import extract_zip, write_zip

    folder = ws.new_folder("photos")
    inputs, errors = [], []
    for i, up in enumerate(uploads):
        if Path(up).suffix.lower() != ".zip":
            inputs.append(up)
            continue
        try:
            inputs.append(str(extract_zip(up, folder / "in" / f"{i}-{Path(up).stem}", _upload_bytes(ws))))
        except InputError as e:
            errors.append(f"{Path(up).name}: {e.reason}")
    with ws.slots:  # loading a model counts as a model run: never two models at once
        engine = ws.models.get(model)
        engine = dataclasses.replace(engine, size=int(size or engine.model.config.working_size), chroma_gain=float(gain))
        results = colorize_files(engine, inputs, str(folder / "out"), progress=False,
                                 max_pixels=ws.cfg.max_pixels, fmt="png")
    done = [r for r in results if r.error is None]
    errors += [_short(r.error, uploads, folder / "in") for r in results if r.error]
    names = {str(r.output.relative_to(folder / "out")): r.output for r in done}
    archive = str(write_zip(names, folder / "colorized.zip")) if len(done) > 1 else None
    lines = [f"Colorized {len(done)} photo(s)" + (f"; {len(errors)} failed:" if errors else ".")]
    return PhotoBatch([(n, str(r.source), str(r.output)) for n, r in zip(names, done)], archive,
                      "\n".join(lines + [f"- {e}" for e in errors]))


def _upload_bytes(ws: Workspace) -> int:
    return int(ws.cfg.max_upload_mb * 2**20)  # MB as the page's message counts them (MiB)


def _short(error: str, uploads: list[str], unpacked: Path) -> str:
    """An error line with the server's folders cut off its file name (uploads, unpacked zips)."""
    for prefix in [str(unpacked)] + [str(Path(up).parent) for up in uploads]:  # the deeper one first
        error = error.replace(prefix + os.sep, "")
    return error


# ---------------------------------------------------------------- film

@dataclass
class FilmJob:
    id: str
    name: str  # the uploaded file's name
    folder: Path
    state: str = "queued"  # queued, running, done, failed
    progress: object | None = None  # the latest film.job.VideoProgress
    output: Path | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


class FilmJobs:
    """Film jobs in worker threads of the server, not of a browser request: a closed tab does not
    stop one, and every page opened later lists it, with its result file when done."""

    def __init__(self, ws: Workspace):
        self.ws, self.jobs = ws, {}
        self.pool = ThreadPoolExecutor(max_workers=ws.cfg.concurrency, thread_name_prefix="film")

    def submit(self, upload: str, model: str, temporal: str, start: float, end: float | None) -> FilmJob:
        folder = self.ws.new_folder("films")
        src = folder / Path(upload).name
        shutil.copyfile(upload, src)  # the upload cache may be swept while the film runs
        job = FilmJob(uuid.uuid4().hex[:8], src.name, folder)
        self.jobs[job.id] = job
        self.ws.busy.add(folder)
        self.pool.submit(self._run, job, src, model, temporal, start, end)
        return job

    def _run(self, job: FilmJob, src: Path, model: str, temporal: str, start: float, end: float | None) -> None:
        from .cli import user_error
        from .film.job import colorize_video
        from .film.options import VideoJob, film_model
        from .video.writer import EncodeSettings

        try:
            with self.ws.slots:
                job.state = "running"
                engine = self.ws.models.get(str(film_model(model, temporal)))
                options = VideoJob(temporal, start, end, encode=EncodeSettings(preset="veryfast"))
                job.output = colorize_video(src, job.folder / f"{src.stem}_color.mp4", engine, options,
                                            progress=False, on_progress=lambda p: setattr(job, "progress", p))
            job.state = "done"
        except Exception as e:  # noqa: BLE001 - a user's error becomes the job's message; a bug is logged too
            message = user_error(e) or f"internal error: {type(e).__name__}: {e}"
            job.error, job.state = message.replace(str(job.folder) + os.sep, ""), "failed"
            if user_error(e) is None:
                import traceback

                traceback.print_exc()
        finally:
            src.unlink(missing_ok=True)
            self.ws.busy.discard(job.folder)

    def newest_first(self) -> list[FilmJob]:
        """The jobs whose folder is still there (a swept one is forgotten), newest first."""
        for gone in [k for k, j in self.jobs.items() if j.finished and not j.folder.exists()]:
            del self.jobs[gone]
        return sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)


def progress_html(job: FilmJob) -> str:
    """A job's state as a progress bar and one line: frames done, frames/s, ETA."""
    name = html.escape(job.name)
    if job.state == "failed":
        return f'<div class="fc-job fc-failed"><b>{name}</b>: error: {html.escape(job.error or "")}</div>'
    if job.state == "done":
        return f'<div class="fc-job fc-done"><b>{name}</b>: done: {html.escape(job.output.name)}</div>'
    p = job.progress
    if p is None:
        return f'<div class="fc-job"><b>{name}</b>: {job.state}, waiting for the first frames</div>'
    total = f"/{p.total}" if p.total else ""
    eta = f", ETA {p.eta:.0f} s" if p.eta is not None else ""
    bar = f'<progress value="{p.done}" max="{p.total}"></progress> ' if p.total else ""
    return (f'<div class="fc-job fc-running">{bar}<b>{name}</b>: {p.done}{total} frames, '
            f'{p.fps:.1f} frames/s{eta}</div>')


# ---------------------------------------------------------------- the page

def build_page(ws: Workspace, jobs: FilmJobs):
    """The Blocks app: a Photos tab and a Film tab."""
    import gradio as gr

    from .models.registry import COLORIZERS

    models = [m for m in COLORIZERS if m != LSTM_MODEL]
    with gr.Blocks(title="framecolor", analytics_enabled=False,
                   delete_cache=(600, int(ws.cfg.keep_hours * 3600))) as page:
        gr.Markdown("# framecolor\nColour for black-and-white photographs and film, on this machine.")
        with gr.Tab("Photos", id="photos"):
            _photos_tab(gr, ws, models)
        with gr.Tab("Film", id="film"):
            _film_tab(gr, ws, jobs, models)
    return page


def _photos_tab(gr, ws: Workspace, models: list[str]) -> None:
    files = gr.File(label="Photos, or a zip of photos", file_count="multiple", elem_id="photo-input")
    with gr.Row():
        model = gr.Dropdown(models, value=ws.cfg.model if ws.cfg.model in models else models[0], label="Model")
        gain = gr.Slider(0, 3, value=own_gain(model.value), step=0.05, label="Chroma gain (set to the model's own)")
        size = gr.Number(own_size(model.value), label="Working size (short side, px; set to the model's own)",
                         minimum=8, maximum=2048, precision=0)
    run = gr.Button("Colorize", variant="primary", elem_id="photo-run")
    status = gr.Markdown(elem_id="photo-status")
    archive = gr.DownloadButton("Download all (zip)", visible=False, elem_id="photo-zip")
    results = gr.State([])

    def colorize(uploads, model_name, chroma, working):
        if not uploads:
            return [], "Add one or more photos (or a zip of them) first.", gr.update(visible=False)
        try:
            batch = colorize_uploads(ws, [str(u) for u in uploads], model_name, chroma, working or None)
        except Exception as e:  # noqa: BLE001 - a user's error is shown in the page; a bug goes to the server log
            from .cli import user_error

            if user_error(e) is None:
                raise
            return [], f"Error: {user_error(e)}", gr.update(visible=False)
        return batch.results, batch.message, gr.update(value=batch.archive, visible=batch.archive is not None)

    model.change(own_gain, model, gain)
    model.change(own_size, model, size)
    run.click(colorize, [files, model, gain, size], [results, status, archive],
              concurrency_limit=ws.cfg.concurrency, concurrency_id="photos")

    @gr.render(inputs=results)
    def show(items):
        for i, (name, before, after) in enumerate(items):
            gr.ImageSlider((before, after), label=name, format="png", elem_id=f"photo-result-{i}")
            gr.DownloadButton(f"Download {name}", value=after, elem_id=f"photo-download-{i}", size="sm")


def own_gain(model: str) -> float:
    """The chroma gain a model was tuned with (its model card's config)."""
    return float(_card_config(model).get("chroma_gain", 1.0))


def own_size(model: str) -> int:
    """The working size a model runs at (its model card's config)."""
    from .config import ColorizerConfig

    return int(_card_config(model).get("working_size", ColorizerConfig.working_size))


def _card_config(model: str) -> dict:
    from .models.registry import read_meta, resolve_checkpoint

    return read_meta(resolve_checkpoint(model))["config"]


def _film_tab(gr, ws: Workspace, jobs: FilmJobs, models: list[str]) -> None:
    clip = gr.File(label="Clip", elem_id="film-input")
    with gr.Row():
        model = gr.Dropdown(models, value=VIDEO_MODEL, label="Model")
        temporal = gr.Radio(list(TEMPORAL_MODES), value="flow", label="Temporal mode")
        start = gr.Number(0, label="Start (s)", minimum=0)
        end = gr.Number(0, label="End (s; 0: to the end)", minimum=0, elem_id="film-end")
    run = gr.Button("Colorize film", variant="primary", elem_id="film-run")
    status = gr.HTML(elem_id="film-status")
    video = gr.Video(label="Result", interactive=False, elem_id="film-result")
    download = gr.DownloadButton("Download film", visible=False, elem_id="film-download")
    gr.Markdown("### Film jobs on this server\nA job keeps running when this tab is closed; "
                "reopen the page to see it here, and its file when it is done.")
    listing = gr.HTML(elem_id="film-jobs")
    finished = gr.File(label="Finished films", file_count="multiple", interactive=False, elem_id="film-files")

    def colorize(upload, model_name, mode, t0, t1):
        if not upload:
            yield "Add a clip first.", None, gr.update(visible=False)
            return
        job = jobs.submit(str(upload), model_name, mode, float(t0 or 0), float(t1) if t1 else None)
        while not job.finished:
            yield progress_html(job), gr.skip(), gr.skip()
            time.sleep(0.5)
        out = str(job.output) if job.output else None
        yield progress_html(job), out, gr.update(value=out, visible=out is not None)

    def refresh():
        listed = jobs.newest_first()
        done = [str(j.output) for j in listed if j.output is not None]
        return "".join(progress_html(j) for j in listed) or "No film jobs yet.", done or None

    run.click(colorize, [clip, model, temporal, start, end], [status, video, download], concurrency_limit=None)
    gr.Timer(2.0).tick(refresh, outputs=[listing, finished], concurrency_limit=None, show_progress="hidden")


def host_warning(host: str, port: int) -> str | None:
    """What to tell the user when the page would be reachable from other machines; None for localhost."""
    if host in LOCAL_HOSTS:
        return None
    return (f"serving on {host}: anyone who can reach this machine on port {port} can use the page and upload "
            "files; use --host 127.0.0.1 to keep it to this machine")


def serve(cfg: ServeConfig) -> None:
    """Serve the page until interrupted; the temporary work folder is removed on the way out."""
    root = Path(cfg.work_dir) if cfg.work_dir else Path(tempfile.mkdtemp(prefix="framecolor-web-"))
    os.environ["GRADIO_TEMP_DIR"] = str(root / "uploads")  # uploads and served copies live in the work folder
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if (warning := host_warning(cfg.host, cfg.port)) is not None:
        print(f"warning: {warning}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped service cleans up as Ctrl-C does
    try:
        import gradio as gr

        ws = Workspace(cfg, root, Models(cfg.device), threading.BoundedSemaphore(cfg.concurrency))
        ws.models.get(cfg.model)  # loaded once, before the first request
        page = build_page(ws, FilmJobs(ws))
        page.queue(default_concurrency_limit=cfg.concurrency)
        page.launch(server_name=cfg.host, server_port=cfg.port, max_file_size=_upload_bytes(ws),
                    allowed_paths=[str(root)], ssr_mode=False, pwa=False, mcp_server=False,
                    footer_links=[], theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS),
                    css=".fc-job{margin:.3em 0} .fc-failed{color:#b00020}")
    finally:
        if cfg.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
