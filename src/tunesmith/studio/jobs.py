"""Generation jobs off the event loop: a small thread pool, progress, cancellation and a bounded history.

A job is any function ``work(progress, cancelled) -> result``; the queue knows nothing of music. Two jobs run at
once (two users both get their result); more wait their turn. A cancelled job's function is asked to stop at its
next step (``cancelled()`` turns True) and the job is marked cancelled at once.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Work = Callable[[Callable[[int, int], None], Callable[[], bool]], dict[str, Any]]


@dataclass
class Job:
    """One generation: its state, progress and result (or the message that ended it)."""

    id: str
    settings: dict[str, Any]
    state: str = "queued"  # queued | running | done | failed | cancelled
    done_steps: int = 0
    total_steps: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    on_drop: Callable[[], None] | None = field(default=None, repr=False)  # frees the job's files when forgotten

    def public(self) -> dict[str, Any]:
        """What the page sees of the job."""
        return {
            "id": self.id,
            "state": self.state,
            "progress": {"tokens": self.done_steps, "budget": self.total_steps},
            "settings": self.settings,
            "result": self.result,
            "error": self.error,
            "seconds": round((self.finished or time.time()) - (self.started or self.created), 3),
        }


class JobQueue:
    """Runs jobs on ``workers`` threads and keeps the last ``keep`` of them."""

    def __init__(self, workers: int = 2, keep: int = 200) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="studio-job")
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.keep = keep
        self.lock = threading.Lock()
        self._serial = itertools.count(1)

    def submit(
        self,
        work: Work,
        settings: dict[str, Any],
        on_error: Callable[[BaseException], str],
        on_drop: Callable[[], None] | None = None,
    ) -> Job:
        """Queue ``work``; ``on_error`` turns an exception into the page's message; ``on_drop`` runs when forgotten."""
        job = Job(id=f"j{next(self._serial)}-{secrets.token_hex(4)}", settings=settings, on_drop=on_drop)
        with self.lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                _, old = self.jobs.popitem(last=False)
                old.cancel_event.set()
                if old.on_drop:
                    old.on_drop()
        self.pool.submit(self._run, job, work, on_error)
        return job

    def _run(self, job: Job, work: Work, on_error: Callable[[BaseException], str]) -> None:
        if job.cancel_event.is_set():
            job.state = "cancelled"
            return
        job.state, job.started = "running", time.time()

        def progress(done: int, total: int) -> None:
            job.done_steps, job.total_steps = done, total

        try:
            result = work(progress, job.cancel_event.is_set)
        except BaseException as exc:  # every failure becomes the job's message; the worker thread lives on
            job.finished = time.time()
            if job.cancel_event.is_set():
                job.state = "cancelled"
            else:
                job.state, job.error = "failed", on_error(exc)
            return
        job.finished = time.time()
        if job.cancel_event.is_set():
            job.state = "cancelled"
        else:
            job.result, job.state = result, "done"

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop; a queued one never starts, a running one stops at its next step."""
        job = self.get(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel_event.set()
            job.state, job.finished = "cancelled", time.time()
        return job

    def shutdown(self) -> None:
        """Cancel everything and let the threads finish their current step."""
        for job in list(self.jobs.values()):
            job.cancel_event.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
