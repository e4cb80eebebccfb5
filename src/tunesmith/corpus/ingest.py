"""Parallel, fault-tolerant ingestion: every file is parsed in a worker process under a time limit.

A worker that runs past ``file_timeout`` on a file, or dies on it, is killed and replaced; the file is reported
and the rest go on. Workers write the selected pieces straight into ``DATA_DIR/pieces`` and send back only
their description, so the parent never copies music between processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tunesmith.config import IngestConfig, SelectConfig
from tunesmith.corpus.cache import ParseCache, cache_key
from tunesmith.corpus.readers import UnreadableFile, read_source
from tunesmith.corpus.select import select_tracks, track_infos
from tunesmith.corpus.sources import SourceFile, source_format

PIECES_DIR = "pieces"


@dataclass
class _Settings:
    out_dir: Path
    select: SelectConfig
    grid: int
    cache_root: Path | None


def process_file(source: SourceFile, settings: _Settings) -> dict[str, Any]:
    """Read, cache, select and store one file; returns its report record. Never raises for bad input."""
    record: dict[str, Any] = {"path": str(source.path), "style": source.style, "format": source.format}
    try:
        data = source.path.read_bytes()
    except OSError as exc:
        return {**record, "status": "skipped", "reason": "unreadable", "detail": exc.strerror or str(exc)}
    record["sha256"] = hashlib.sha256(data).hexdigest()
    fmt = source_format(source.path)
    cache = ParseCache(settings.cache_root) if settings.cache_root and fmt and data else None
    key = cache_key(data, fmt, settings.grid) if cache else ""
    hit = cache.get(key) if cache else None
    record["cached"] = hit is not None
    try:
        pieces, failed = hit if hit is not None else read_source(source.path, data, settings.grid)
    except UnreadableFile as exc:
        return {**record, "status": "skipped", "reason": exc.reason, "detail": exc.detail}
    except Exception as exc:  # a reader bug must cost one file, never the run
        return {**record, "status": "skipped", "reason": "corrupt", "detail": f"{type(exc).__name__}: {exc}"}
    if cache and hit is None:
        cache.put(key, pieces, failed)
    if failed:
        record["failed_pieces"] = [{"title": f.title, "reason": f.reason} for f in failed]

    if sum(p.score.note_num() for p in pieces) == 0:
        return {**record, "status": "skipped", "reason": "empty", "detail": "no notes in file"}
    kept = []
    for k, piece in enumerate(pieces):
        for j, example in enumerate(select_tracks(piece.score, settings.select)):
            piece_id = f"{record['sha256'][:16]}-{k}-{j}"
            relative = f"{PIECES_DIR}/{piece_id}.mid"
            example.dump_midi(str(settings.out_dir / relative))
            tracks = track_infos(example)
            entry = {
                "id": piece_id,
                "file": relative,
                "source": str(source.path),
                "style": source.style,
                "title": piece.title,
                "tracks": [t.to_dict() for t in tracks],
                "notes": sum(t.notes for t in tracks),
            }
            if piece.abc is not None:
                entry["abc"] = piece.abc
            kept.append(entry)
    if not kept:
        return {**record, "status": "skipped", "reason": "no notes after selection", "detail": ""}
    return {**record, "status": "kept", "pieces": kept}


def _worker_main(conn: Connection, settings: _Settings) -> None:
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if chunk is None:
            return
        for index, source in chunk:
            conn.send((index, process_file(source, settings)))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    queue: deque = field(default_factory=deque)  # indices sent and not yet answered, in order
    started: float = 0.0  # when the file at the head of the queue began


class _Pool:
    """Worker processes fed with chunks of files over one pipe each; a pipe is private, so killing is safe."""

    def __init__(self, n: int, settings: _Settings) -> None:
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        self._settings = settings
        self.workers = [self._spawn() for _ in range(n)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child, self._settings), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def replace(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self.workers[self.workers.index(worker)] = self._spawn()

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def ingest_files(
    files: list[SourceFile],
    out_dir: Path,
    ingest: IngestConfig,
    select: SelectConfig,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Process ``files`` in parallel; returns one report record per file, in the order of ``files``.

    Pieces are written to ``out_dir/pieces``. A ``KeyboardInterrupt`` stops the workers and returns the records
    finished so far with ``status == "interrupted"`` for the rest, so nothing finished is lost.
    """
    (out_dir / PIECES_DIR).mkdir(parents=True, exist_ok=True)
    settings = _Settings(out_dir, select, ingest.grid, ingest.cache_path if ingest.use_cache else None)
    records: list[dict[str, Any] | None] = [None] * len(files)
    if not files:
        return []
    pending = deque(range(len(files)))
    n_workers = min(ingest.n_workers, len(files))
    chunk = max(1, min(32, len(files) // (n_workers * 8)))
    tqdm.monitor_interval = 0  # no monitor thread: workers are forked while the bar runs
    pool = _Pool(n_workers, settings)
    bar = tqdm(total=len(files), unit="file", desc="parse", disable=not progress or None, leave=False)
    try:
        while pending or any(w.queue for w in pool.workers):
            now = time.monotonic()
            for worker in pool.workers:
                if not worker.queue and pending:
                    batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                    worker.queue.extend(batch)
                    worker.started = now
                    worker.conn.send([(i, files[i]) for i in batch])
            busy = [w for w in pool.workers if w.queue]
            deadline = min(w.started for w in busy) + ingest.file_timeout
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for worker in busy:
                if worker.conn in ready:
                    try:
                        index, record = worker.conn.recv()
                    except (EOFError, OSError):
                        _fail_head(worker, files, records, pending, pool, "crashed", _exit_detail(worker))
                        bar.update(1)
                        continue
                    records[index] = record
                    worker.queue.popleft()
                    worker.started = time.monotonic()
                    bar.update(1)
                elif time.monotonic() - worker.started > ingest.file_timeout:
                    detail = f"parsing took longer than {ingest.file_timeout:g} s"
                    _fail_head(worker, files, records, pending, pool, "timeout", detail)
                    bar.update(1)
    except KeyboardInterrupt:
        for i, record in enumerate(records):
            if record is None:
                records[i] = {"path": str(files[i].path), "style": files[i].style, "status": "interrupted"}
    finally:
        bar.close()
        for worker in pool.workers:
            if worker.queue:  # interrupted mid-chunk: do not wait for it
                worker.process.kill()
        pool.close()
    return [r for r in records if r is not None]


def _exit_detail(worker: _Worker) -> str:
    worker.process.join(timeout=1)
    code = worker.process.exitcode
    return f"the parser died (exit code {code})" if code is not None else "the parser stopped answering"


def _fail_head(worker, files, records, pending, pool, reason: str, detail: str) -> None:
    """Report the file the worker is stuck on, give back the rest of its chunk, and replace the worker."""
    index = worker.queue.popleft()
    source = files[index]
    records[index] = {
        "path": str(source.path),
        "style": source.style,
        "format": source.format,
        "status": "skipped",
        "reason": reason,
        "detail": detail,
    }
    pending.extendleft(reversed(worker.queue))
    worker.queue.clear()
    pool.replace(worker)

