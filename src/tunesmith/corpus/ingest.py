"""Parallel, fault-tolerant ingestion: files are parsed in worker processes under a time limit.

A worker that runs past ``file_timeout`` on a file (on one tune, for a songbook of ABC tunes), or dies on it, is
killed and replaced; the file is reported and the rest go on. Workers send back the selected pieces as MIDI bytes;
the parent appends them to one file, ``DATA_DIR/pieces.bin``, in source order, so the result does not depend on the
number of workers and a corpus of many small pieces costs one file, not one per piece.

Workers cost time to start and to talk to, which a small corpus never wins back: with ``--workers 0`` (the default)
the parent parses MIDI files itself, and starts workers only when what is left would take it longer than
``POOL_PAYS_SECONDS`` (music21's formats always go to workers). symusic's MIDI reader runs in time linear in the
file's size, so files under ``HERE_MAX_BYTES`` cannot come near the time limit, and on corrupt bytes it raises
rather than crashes (``tests/test_ingest.py`` feeds it mutated files in a process of its own). ``--workers 1`` is
one process parsing, the parent: it parses every such MIDI file itself, never handing them to a pool, and starts
one worker only for the files a time limit must be able to stop (music21's formats, MIDI files over
``HERE_MAX_BYTES``), since only a process of its own can be killed mid-file. ``--workers N`` for N of 2 or more
starts N workers and the parent only feeds them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import math
import multiprocessing as mp
import os
import select
import signal
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from tunesmith.config import IngestConfig, SelectConfig
from tunesmith.corpus.cache import ParseCache, cache_key, worth_caching
from tunesmith.corpus.pieces import manifest_head
from tunesmith.corpus.readers import UnreadableFile, read_source
from tunesmith.corpus.select import select_midi
from tunesmith.corpus.sources import SourceFile
from tunesmith.layout import DataDir
from tunesmith.music import gm_name

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_STOPS = {signal.SIGINT, signal.SIGTERM}
_CAN_HOLD = hasattr(signal, "pthread_sigmask")


@dataclass
class _WorkerConfig:
    select: SelectConfig
    grid: int
    cache_root: Path | None


def process_file(
    source: SourceFile, settings: _WorkerConfig, on_piece: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Read, cache, select and store one file; returns its report record. Never raises for bad input."""
    record: dict[str, Any] = {"path": str(source.path), "style": source.style, "format": source.format}
    try:
        data = read_whole(source.path)
    except OSError as exc:
        return {**record, "status": "skipped", "reason": "unreadable", "detail": exc.strerror or str(exc)}
    record["sha256"] = hashlib.sha256(data).hexdigest()
    fmt = record["format"]
    cache = ParseCache(settings.cache_root) if settings.cache_root and worth_caching(fmt, len(data)) else None
    key = cache_key(record["sha256"], fmt, settings.grid) if cache else ""
    hit = cache.get(key) if cache else None
    record["cached"] = hit is not None
    try:
        pieces, failed = hit if hit is not None else read_source(source.path, data, settings.grid, on_piece, fmt)
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
        for j, (midi, tracks) in enumerate(select_midi(piece.score, settings.select)):
            entry = {
                "id": f"{record['sha256'][:16]}-{k}-{j}",
                "source": record["path"],
                "style": source.style,
                "title": piece.title,
                "tracks": tracks,
                "notes": sum(t["notes"] for t in tracks),
            }
            if piece.abc is not None:
                entry["abc"] = piece.abc
            if piece.split is not None:
                entry["split"] = piece.split
            # Its manifest line up to the offset and length, which the writer adds: made here, where a worker may
            # do it, rather than in the writer (always this process), where it was most of the writing.
            entry["manifest_head"] = manifest_head(entry)
            entry["midi"] = midi
            kept.append(entry)
    if not kept:
        return {**record, "status": "skipped", "reason": "no notes after selection", "detail": ""}
    return {**record, "status": "kept", "pieces": kept}


def read_whole(path: Path) -> bytes:
    """The bytes of the file at ``path``: ``Path.read_bytes`` without its buffered reader.

    An unbuffered file reads a whole file in one call sized by ``fstat``; on this machine 296 small MIDI files were
    read in 2.0 ms against 3.5 ms through ``read_bytes`` (5 us a file of ``prepare``'s own time).
    """
    with open(path, "rb", buffering=0) as fh:
        return fh.readall()


def die_with_parent(parent: int) -> None:
    """Make this worker end when the process that started it ends, however it ends (SIGKILL included).

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); elsewhere a thread watches the
    parent's PID. The worker ignores Ctrl-C (the parent stops it) and lets go of the caller's terminal and pipes, so a
    script waiting for the output of ``prepare`` is never held open by a worker.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            # The program's own symbols include libc's: no ``find_library``, which runs ``ldconfig`` in a subprocess.
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _CAN_HOLD:  # the parent held the stops back while it forked this worker
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def _worker_main(conn: Connection, settings: _WorkerConfig, parent: int) -> None:
    die_with_parent(parent)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if chunk is None:
            return
        # Each answer carries the worker's CPU time, where the next file's (or tune's) time limit starts from.
        for index, source in chunk:
            record = process_file(source, settings, on_piece=functools.partial(_answer, conn, "beat", index, None))
            _answer(conn, "done", index, record)


def _answer(conn: Connection, kind: str, index: int, record: dict[str, Any] | None) -> None:
    conn.send((kind, index, record, time.process_time()))


WALL_BACKSTOP = 4.0  # a file is abandoned after this many times --file-timeout of wall-clock time, CPU or not


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) process ``pid`` has used, from ``/proc``; ``None`` where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class _Worker:
    """A worker process, the files sent to it, and the clocks of the file it is on.

    ``--file-timeout`` counts the CPU time the worker spends on a file, not the wall clock: a machine that other
    work keeps busy gives a worker fewer seconds of CPU per second, and would otherwise skip files an idle machine
    keeps, making the corpus depend on the load. Where the CPU time cannot be read (no ``/proc``), and in any case
    after ``WALL_BACKSTOP`` times the limit, the wall clock decides.
    """

    process: Any
    conn: Connection
    queue: deque = field(default_factory=deque)  # indices sent and not yet answered, in order
    started: float = 0.0  # when the file at the head of the queue began (wall clock)
    cpu_started: float | None = None  # the worker's CPU time then
    check_at: float = 0.0  # when to look at its clocks again
    cpu: float | None = None  # its CPU time at its last answer

    def start_file(self, timeout: float, cpu: float | None = None) -> None:
        """The file at the head of the queue begins now, at CPU time ``cpu`` (read from ``/proc`` when not given)."""
        self.started = time.monotonic()
        self.cpu_started = cpu if cpu is not None else cpu_seconds(self.process.pid)
        self.check_at = self.started + timeout

    def over_time(self, timeout: float) -> bool:
        """Whether the head file has used up its time; if not, when to look again is set."""
        now = time.monotonic()
        wall = now - self.started
        if wall >= WALL_BACKSTOP * timeout:
            return True
        cpu_now = cpu_seconds(self.process.pid)
        if self.cpu_started is None or cpu_now is None:
            return wall > timeout
        used = cpu_now - self.cpu_started
        if used > timeout:
            return True
        self.check_at = min(now + max(timeout - used, 0.05), self.started + WALL_BACKSTOP * timeout)
        return False


class _Pool:
    """Worker processes fed with chunks of files over one pipe each; a pipe is private, so killing is safe."""

    def __init__(self, n: int, settings: _WorkerConfig) -> None:
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        self._settings = settings
        self.workers = [self._spawn() for _ in range(n)]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        args = (child, self._settings, os.getpid())
        process = self._ctx.Process(target=_worker_main, args=args, daemon=True)
        # A Ctrl-C or SIGTERM that lands during the fork would raise in the interpreter's at-fork hooks, which ignore
        # exceptions, and the stop would be lost: it waits until the worker is started and is raised here.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS) if _CAN_HOLD else None
        try:
            process.start()
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        child.close()
        return _Worker(process, parent)

    def replace(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self.workers[self.workers.index(worker)] = self._spawn()

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def mark_duplicate(record: dict[str, Any], first: dict[str, str]) -> None:
    """Skip a kept file whose bytes equal an earlier kept file's (``first``: digest -> path, added to).

    Training twice on a song biases the model. The duplicate's pieces stay in ``pieces.bin``, unreferenced.
    """
    digest = record.get("sha256")
    if not digest or record["status"] != "kept":
        return
    if digest in first:
        record.update(status="skipped", reason="duplicate", detail=f"same bytes as {first[digest]}")
        record.pop("pieces", None)
    else:
        first[digest] = record["path"]


# pieces.bin and pieces.jsonl are written a file's pieces at a time (a few KB for a chorale): through 256 KB buffers
# rather than the default 8 KB, 1,268 chorale pieces took 58 ms to prepare against 61 (fewer write calls).
WRITE_BUFFER = 1 << 18


class _OrderedWriter:
    """Writes each record's pieces to ``pieces.bin`` and its manifest lines, in source order, as records come in.

    Whatever order the workers finish in, a record is written once every record before it is; repeated files are
    marked on the way (``mark_duplicate``). Both files are hashed as they are written, so their checksums need no
    second reading (``written``: name -> (size, SHA-256)). Each kept record's manifest lines are kept too
    (``encoded``: ``id(record)`` -> its lines without their newlines), for the report to reuse (``report_text``).
    """

    def __init__(self, data_dir: Path, records: list[dict[str, Any] | None]) -> None:
        layout = DataDir(data_dir)
        names = (layout.PIECES, layout.MANIFEST)
        self._files = {name: open(data_dir / name, "wb", buffering=WRITE_BUFFER) for name in names}  # noqa: SIM115
        self._hashes = {name: hashlib.sha256() for name in self._files}
        self._records = records
        self._next = 0
        self._offset = 0  # the size of pieces.bin so far
        self._first: dict[str, str] = {}
        self.written: dict[str, tuple[int, str]] = {}
        self.encoded: dict[int, list[str]] = {}

    def _write(self, name: str, data: bytes) -> None:
        self._files[name].write(data)
        self._hashes[name].update(data)

    def flush(self) -> None:
        while self._next < len(self._records) and self._records[self._next] is not None:
            record = self._records[self._next]
            if "pieces" in record:
                blobs, lines, offset = [], [], self._offset
                for piece in record["pieces"]:
                    blob, head = piece.pop("midi"), piece.pop("manifest_head")
                    piece["offset"], piece["length"] = offset, len(blob)
                    lines.append(f'{head}, "offset": {offset}, "length": {len(blob)}}}')
                    offset += len(blob)
                    blobs.append(blob)
                self._write(DataDir.PIECES, b"".join(blobs))
                self._offset = offset
            mark_duplicate(record, self._first)
            if "pieces" in record:  # kept, and not a duplicate
                self.encoded[id(record)] = lines
                self._write(DataDir.MANIFEST, "".join(f"{line}\n" for line in lines).encode("utf-8"))
            self._next += 1

    def close(self) -> None:
        self.flush()
        for name, fh in self._files.items():
            self.written[name] = (fh.tell(), self._hashes[name].hexdigest())
            fh.close()


class Ingested(NamedTuple):
    """What ``ingest_files`` did: the report's file records, and what it wrote (see there)."""

    records: list[dict[str, Any]]
    written: dict[str, tuple[int, str]]
    manifest_lines: dict[int, list[str]]


HERE_SECONDS = 0.02  # with --workers 0, the CPU time the parent parses MIDI files alone before it looks ahead
POOL_PAYS_SECONDS = 0.4  # workers start only when the files left would take the parent longer than this
HERE_MAX_BYTES = 4 << 20  # MIDI files larger than this always go to a worker


def ingest_files(
    files: list[SourceFile],
    out_dir: Path,
    ingest: IngestConfig,
    select: SelectConfig,
    progress: bool = True,
) -> Ingested:
    """Process ``files``; returns one report record per file, in the order of ``files``, and what was written.

    Pieces are written to ``out_dir/pieces.bin`` and listed in ``out_dir/pieces.jsonl`` (repeated files marked as
    duplicates and left out); ``written`` gives both files' sizes and SHA-256 for ``write_checksums``, and
    ``manifest_lines`` each kept record's lines for ``report_text``. A
    ``KeyboardInterrupt`` stops the workers and returns the records finished so far with ``status ==
    "interrupted"`` for the rest, so nothing finished is lost.
    """
    settings = _WorkerConfig(select, ingest.grid, ingest.cache_path if ingest.use_cache else None)
    records: list[dict[str, Any] | None] = [None] * len(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _OrderedWriter(out_dir, records)
    if not files:
        writer.close()
        return Ingested([], writer.written, writer.encoded)
    tqdm.monitor_interval = 0  # no monitor thread: workers may be forked while the bar runs
    bar = tqdm(total=len(files), unit="file", desc="parse", disable=not progress or None, leave=False)
    here = ingest.workers <= 1  # --workers 0 and 1: the parent parses MIDI files too
    try:
        pending = deque(range(len(files)))
        if here:  # with --workers 1 the parent keeps every file it may parse: the one worker is for the others
            pending = _ingest_here(files, settings, records, writer, bar, pending, look_ahead=not ingest.workers)
        if pending:
            _ingest_in_workers(files, settings, ingest, records, writer, bar, pending, here)
    except KeyboardInterrupt:
        for i, record in enumerate(records):
            if record is None:
                records[i] = {"path": str(files[i].path), "style": files[i].style, "status": "interrupted"}
    finally:
        writer.close()
        bar.close()
    return Ingested([r for r in records if r is not None], writer.written, writer.encoded)


def _here(source: SourceFile) -> bool:
    """Whether the parent may parse ``source`` itself: a regular MIDI file small enough to be quick."""
    if source.format != "midi":
        return False
    try:
        info = source.path.stat()
    except OSError:
        return True  # process_file reports it as unreadable
    return stat.S_ISREG(info.st_mode) and info.st_size <= HERE_MAX_BYTES


def _ingest_here(files, settings, records, writer, bar, pending: deque, look_ahead: bool = True) -> deque:
    """Parse MIDI files in this process; returns the indices left for the workers.

    With ``look_ahead`` (``--workers 0``), after ``HERE_SECONDS`` of CPU time the parent estimates, at its own pace
    so far, how long the files left would take it: beyond ``POOL_PAYS_SECONDS`` the rest goes to workers (which the
    parent then helps), else it finishes alone. Starting workers costs about 6 ms of CPU each and every file's
    pieces then cross a pipe, which a small corpus never wins back. CPU time, not the wall clock, so that other work
    on the machine does not change it. Without it (``--workers 1``) the parent parses every file it may.
    """
    left: deque = deque()
    start, done, looked = None, 0, False  # the pace is taken after the first file, which pays one-time costs
    while pending:
        if look_ahead and start is not None and not looked and (used := time.process_time() - start) > HERE_SECONDS:
            looked = True
            if used / max(done, 1) * len(pending) > POOL_PAYS_SECONDS:
                left.extend(pending)
                break
        index = pending.popleft()
        if not _here(files[index]):
            left.append(index)
            continue
        records[index] = process_file(files[index], settings)
        writer.flush()
        bar.update(1)
        if start is None:
            start = time.process_time()
        else:
            done += 1
    return left


def _ingest_in_workers(files, settings, ingest: IngestConfig, records, writer, bar, pending: deque, here: bool) -> None:
    """Process the files at ``pending`` in worker processes, each file under the time limit.

    With ``here``, the parent takes the next MIDI file itself whenever no worker has an answer ready.
    """
    gm_name(0)  # load the instrument table once, before the workers are forked
    n_workers = min(ingest.n_workers, len(pending))
    chunk = max(1, min(32, len(pending) // (n_workers * 8)))
    pool = _Pool(n_workers, settings)
    try:
        while pending or any(w.queue for w in pool.workers):
            for worker in pool.workers:
                if not worker.queue and pending:
                    batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                    worker.queue.extend(batch)
                    worker.start_file(ingest.file_timeout, worker.cpu)
                    worker.conn.send([(i, files[i]) for i in batch])
            busy = [w for w in pool.workers if w.queue]
            turn = here and pending and _here(files[pending[0]])  # the parent could parse the next file
            deadline = time.monotonic() if turn else min(w.check_at for w in busy)
            ready = _ready([w.conn for w in busy], max(0.0, deadline - time.monotonic()))
            if turn and not ready:
                index = pending.popleft()
                records[index] = process_file(files[index], settings)
                writer.flush()
                bar.update(1)
                continue
            for worker in busy:
                if worker.conn in ready:
                    try:
                        kind, index, record, worker.cpu = worker.conn.recv()
                    except (EOFError, OSError):
                        _fail_head(worker, files, records, pending, pool, "crashed", _exit_detail(worker))
                        writer.flush()
                        bar.update(1)
                        continue
                    if kind == "beat":  # a multi-tune file finished a tune: its time limit starts again
                        worker.start_file(ingest.file_timeout, worker.cpu)
                        continue
                    records[index] = record
                    writer.flush()
                    worker.queue.popleft()
                    worker.start_file(ingest.file_timeout, worker.cpu)
                    bar.update(1)
                elif time.monotonic() >= worker.check_at and worker.over_time(ingest.file_timeout):
                    detail = f"parsing took longer than {ingest.file_timeout:g} s of CPU time"
                    _fail_head(worker, files, records, pending, pool, "timeout", detail)
                    writer.flush()
                    bar.update(1)
    finally:
        for worker in pool.workers:
            if worker.queue:  # interrupted mid-chunk: do not wait for it
                worker.process.kill()
        pool.close()


def _ready(conns: list[Connection], timeout: float) -> list[Connection]:
    """The connections with something to read (or closed) within ``timeout`` seconds.

    ``multiprocessing.connection.wait`` builds a selector on every call, which costs more than parsing a small MIDI
    file; one ``poll`` call does the same where there is one.
    """
    if not hasattr(select, "poll"):
        return wait(conns, timeout)
    poller = select.poll()
    for conn in conns:
        poller.register(conn.fileno(), select.POLLIN)
    fds = {fd for fd, _event in poller.poll(math.ceil(timeout * 1000))}
    return [conn for conn in conns if conn.fileno() in fds]


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
