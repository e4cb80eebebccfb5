"""The studio's web app (Starlette): the page, its static files and a small JSON API.

Only ``engine`` touches tunesmith; this module wires requests to it. Nothing from the browser becomes a path:
runs, jobs, uploads and samples are named by ids the server made, and downloads by a format from a fixed list.
Every bad request is a 4xx with ``{"error": message}``.

API (all JSON unless a file):

- ``GET /api/runs``: the runs found, described; ``GET /api/runs/{run}``: one with its curves, evaluation table and
  samples; ``GET /api/runs/{run}/samples/{n}.{mid|wav}``: a sample file.
- ``POST /api/primers?name=FILE.mid`` (the file's bytes as the body): a checked primer's id and notes.
- ``POST /api/generate``: starts a job (``run``, ``primer`` none|random|upload with ``upload``, or ``continue`` a
  job id, and the settings); ``GET /api/jobs/{job}``: its state, progress and result; ``POST
  /api/jobs/{job}/cancel``; ``GET /api/jobs/{job}/files/{mid|wav|abc|musicxml}``: a download.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import traceback
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tunesmith.studio import engine
from tunesmith.studio.jobs import JobQueue

STATIC = Path(__file__).parent / "static"
UPLOAD_SUFFIXES = (".mid", ".midi", ".abc")
DOWNLOADS = {"mid": "audio/midi", "wav": "audio/wav", "abc": "text/plain", "musicxml": "application/xml"}


class Studio:
    """The server's state: where runs are looked for, the runs found, uploads, jobs and a scratch folder."""

    def __init__(
        self,
        roots: list[Path],
        max_upload: int = engine.MAX_UPLOAD_BYTES,
        device: str = "cpu",
        workers: int = 2,
        primer_timeout: float | None = None,
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self.max_upload = max_upload
        self.device = device
        self.primer_timeout = primer_timeout
        self.scratch = Path(tempfile.mkdtemp(prefix="tunesmith-studio-"))
        self.queue = JobQueue(workers=workers)
        self.runs: dict[str, Path] = {}
        self.descriptions: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}

    def refresh(self) -> None:
        """Look for runs again (a run trained while the studio is open appears)."""
        for path in engine.find_runs(self.roots):
            run_id = "r" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
            self.runs[run_id] = path

    def describe(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.descriptions:
            self.descriptions[run_id] = {"id": run_id, **engine.describe_run(self.runs[run_id])}
        return self.descriptions[run_id]

    def run_path(self, run_id: Any) -> Path:
        if not isinstance(run_id, str) or run_id not in self.runs:
            raise engine.NotFound(f"unknown run {str(run_id)[:40]!r}: choose one of the runs listed")
        return self.runs[run_id]

    def close(self) -> None:
        self.queue.shutdown()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def index(request: Request) -> Response:
    """The compose page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def list_runs(request: Request) -> Response:
    """Every run found under the studio's folders, described."""
    studio: Studio = request.app.state.studio
    await run_in_threadpool(studio.refresh)
    runs = [await run_in_threadpool(studio.describe, run_id) for run_id in studio.runs]
    return JSONResponse({"runs": [{k: v for k, v in r.items() if k != "path"} for r in runs]})


async def run_detail(request: Request) -> Response:
    """One run with its curves, evaluation table and samples."""
    studio: Studio = request.app.state.studio
    run_id = request.path_params["run"]
    path = studio.run_path(run_id)

    def gather() -> dict[str, Any]:
        report = engine.run_eval(path)
        return {
            **{k: v for k, v in studio.describe(run_id).items() if k != "path"},
            "curves": engine.run_curves(path),
            "eval_table": engine.eval_rows(report) if report else [],
            "samples": [str(p.relative_to(path)) for p in engine.run_samples(path)],
        }

    return JSONResponse(await run_in_threadpool(gather))


async def run_sample(request: Request) -> Response:
    """A run's sample as MIDI, or as WAV rendered on first request."""
    studio: Studio = request.app.state.studio
    path = studio.run_path(request.path_params["run"])
    index, fmt = request.path_params["index"], request.path_params["fmt"]
    samples = engine.run_samples(path)
    if fmt not in ("mid", "wav") or not 0 <= index < len(samples):
        raise engine.NotFound("no such sample")
    midi = samples[index]
    if fmt == "mid":
        return FileResponse(midi, media_type=DOWNLOADS["mid"], filename=midi.name)
    wav = studio.scratch / "samples" / request.path_params["run"] / f"{index}.wav"
    if not wav.is_file():
        wav.parent.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(engine.render_wav, midi, wav)
    return FileResponse(wav, media_type=DOWNLOADS["wav"])


async def upload_primer(request: Request) -> Response:
    """Store an uploaded primer (the body, at most ``max_upload`` bytes) once a worker has read it."""
    studio: Studio = request.app.state.studio
    name = Path(request.query_params.get("name", "")).name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise engine.StudioError(f"a primer must be a MIDI or ABC file ({', '.join(UPLOAD_SUFFIXES)}), not {name!r}")
    limit = studio.max_upload
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _error(f"the file is too large ({int(declared):,} bytes; at most {limit:,})", 413)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return _error(f"the file is too large (more than {limit:,} bytes)", 413)
    if not data:
        raise engine.StudioError("the file is empty")
    upload_id = "u" + secrets.token_hex(6)
    folder = studio.scratch / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{upload_id}{suffix}"
    path.write_bytes(bytes(data))
    notes = await run_in_threadpool(engine.check_primer, path, studio.primer_timeout, name)
    studio.uploads[upload_id] = {"path": path, "name": name}
    return JSONResponse({"id": upload_id, "name": name, **notes})


async def start_generation(request: Request) -> Response:
    """Queue a generation job; 202 with the job, or a 4xx for bad settings."""
    studio: Studio = request.app.state.studio
    try:
        body = await request.json()
    except ValueError:
        raise engine.StudioError("the request is not JSON") from None
    if not isinstance(body, dict):
        raise engine.StudioError("the request must be a JSON object")
    path = studio.run_path(body.get("run"))
    gen = engine.GenerateRequest.from_json(body)
    primer = body.get("primer", "none")
    if body.get("continue"):
        previous = studio.queue.get(str(body["continue"]))
        if previous is None or previous.result is None:
            raise engine.NotFound("there is no finished piece to continue")
        gen.continue_from = previous.result["files"]["mid"]
    elif primer == "upload":
        upload = studio.uploads.get(str(body.get("upload")))
        if upload is None:
            raise engine.NotFound("unknown upload: upload the primer file again")
        gen.primer = str(upload["path"])
    elif primer in ("none", "random"):
        gen.primer = primer
    else:
        raise engine.StudioError("primer must be none, random or upload")
    settings = {k: v for k, v in body.items() if isinstance(v, (str, int, float, bool)) or v is None}
    out_dir = studio.scratch / "jobs" / secrets.token_hex(6)

    def work(progress, cancelled):
        return engine.generate(path, gen, out_dir, progress, cancelled, device=studio.device)

    def drop() -> None:
        shutil.rmtree(out_dir, ignore_errors=True)

    job = studio.queue.submit(work, settings, on_error=_job_message, on_drop=drop)
    return JSONResponse(_job_view(job), status_code=202)


def _job_message(exc: BaseException) -> str:
    if isinstance(exc, engine.StudioError):
        return str(exc)
    lines = traceback.format_exception_only(type(exc), exc)
    return f"generation failed: {lines[-1].strip()[:300]}"


def _job_view(job) -> dict[str, Any]:
    view = job.public()
    if view["result"]:
        result = {k: v for k, v in view["result"].items() if k != "files"}
        formats = list(view["result"]["files"])
        if "abc" not in formats:
            formats.append("musicxml")
        result["downloads"] = formats
        view["result"] = result
    return view


async def job_status(request: Request) -> Response:
    """A job's state, progress and result."""
    job = request.app.state.studio.queue.get(request.path_params["job"])
    if job is None:
        raise engine.NotFound("unknown job")
    return JSONResponse(_job_view(job))


async def job_cancel(request: Request) -> Response:
    """Cancel a job."""
    job = request.app.state.studio.queue.cancel(request.path_params["job"])
    if job is None:
        raise engine.NotFound("unknown job")
    return JSONResponse(_job_view(job))


async def job_file(request: Request) -> Response:
    """A finished piece as MIDI, WAV, ABC or MusicXML (made on first request)."""
    job = request.app.state.studio.queue.get(request.path_params["job"])
    fmt = request.path_params["fmt"]
    if job is None or job.result is None:
        raise engine.NotFound("no finished piece with this id")
    if fmt not in DOWNLOADS:
        raise engine.NotFound(f"no {fmt[:20]!r} download: {', '.join(DOWNLOADS)}")
    files = job.result["files"]
    if fmt == "musicxml" and "abc" not in files:
        path = await run_in_threadpool(engine.render_musicxml, Path(files["mid"]))
    elif fmt in files:
        path = Path(files[fmt])
    else:
        raise engine.NotFound(f"this piece has no {fmt} file")
    seed = job.result.get("settings", {}).get("seed", 0)
    return FileResponse(path, media_type=DOWNLOADS[fmt], filename=f"tunesmith-{job.id}-seed{seed}.{fmt}")


async def studio_error(request: Request, exc: engine.StudioError) -> Response:
    """A bad request's message with its 4xx."""
    return _error(str(exc), exc.status)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own 404 / 405 as JSON."""
    return _error(exc.detail or "error", exc.status_code)


def create_app(studio: Studio, on_start: Callable[[], None] | None = None) -> Starlette:
    """The ASGI app serving ``studio``; ``on_start`` is called once it is ready (to print its address)."""

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if on_start:
            on_start()
        yield
        studio.close()

    routes = [
        Route("/", index),
        Route("/api/runs", list_runs),
        Route("/api/runs/{run}", run_detail),
        Route("/api/runs/{run}/samples/{index:int}.{fmt}", run_sample),
        Route("/api/primers", upload_primer, methods=["POST"]),
        Route("/api/generate", start_generation, methods=["POST"]),
        Route("/api/jobs/{job}", job_status),
        Route("/api/jobs/{job}/cancel", job_cancel, methods=["POST"]),
        Route("/api/jobs/{job}/files/{fmt}", job_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {engine.StudioError: studio_error, HTTPException: http_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.state.studio = studio
    return app
