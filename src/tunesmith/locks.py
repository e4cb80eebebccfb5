"""Advisory locks on the directories tunesmith writes: one writer at a time, readers beside each other.

A directory's lock is a sibling file, ``.NAME.lock`` next to ``NAME``, not a file inside it: a corpus is built in a
temporary sibling and renamed into place, and a lock inside the directory would be swapped away with it. The lock is
``flock`` on that file, so the kernel releases it when the holder dies (even on SIGKILL); the file itself may stay
and means nothing on its own. A writer records its PID in the file so that the one who is refused can be told who
holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tunesmith.errors import TunesmithError

_HELD: set[int] = set()  # descriptors of the locks this process holds


def _forget_in_child() -> None:
    """A forked child (a parse worker) closes its copies of the parent's lock descriptors.

    ``flock`` belongs to the open file, which a fork shares: a child that outlived its parent would otherwise keep
    the parent's directory locked. Closing the child's copy leaves the parent's lock as it is.
    """
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class LockBusy(TunesmithError):
    """Another process writes (or reads) the directory; the message names it and what to do."""


def lock_path(directory: Path) -> Path:
    """The lock file of ``directory``: ``.NAME.lock`` beside it."""
    directory = Path(directory).absolute()
    return directory.parent / f".{directory.name}.lock"


def _holder_pid(path: Path) -> str:
    """The PID a writer recorded in the lock file, or ``""`` (readers record none)."""
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return pid if pid.isdigit() else ""


@contextlib.contextmanager
def _locked(directory: Path, what: str, exclusive: bool) -> Iterator[Path]:
    path = lock_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(path)
            who = f"is being written by PID {pid}" if pid else "is in use by another process"
            raise LockBusy(f"{directory} {who}; wait for it to finish or choose another directory ({what})") from None
        if exclusive:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        _HELD.add(fd)
        try:
            yield path
        finally:
            if exclusive:  # a later refusal must not name a finished writer
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
    finally:
        _HELD.discard(fd)
        os.close(fd)  # closing the descriptor releases the flock


def exclusive(directory: Path, what: str) -> contextlib.AbstractContextManager[Path]:
    """Hold ``directory`` for writing; a second writer or a reader fails at once with one line naming the holder.

    ``what`` names the operation for the message (``"prepare"``, ``"train"``, ...).
    """
    return _locked(Path(directory), what, exclusive=True)


def shared(directory: Path, what: str) -> contextlib.AbstractContextManager[Path]:
    """Hold ``directory`` for reading: other readers may share it; a writer holding it makes this fail at once."""
    return _locked(Path(directory), what, exclusive=False)
