"""Directories written as transactions: built in a temporary sibling, then swapped into place in one step.

``replace_directory(target)`` hands out ``.NAME.build-PID`` beside ``target``. When the block ends normally every
file in it is fsynced and it takes ``target``'s place: on Linux with one ``renameat2(RENAME_EXCHANGE)`` call, so a
reader sees the old directory or the new one, never neither; elsewhere with two renames, the old directory parked
as ``.NAME.old-PID`` in between. When the block raises (an error, Ctrl-C) the build is removed and ``target`` is left
as it was. A build or parked directory left by a killed process is cleaned up by the next transaction on the same
target; the caller must hold the target's exclusive lock (``tunesmith.locks``), so no leftover can be a live build.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from tunesmith.errors import TunesmithError

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def build_path(target: Path) -> Path:
    """The temporary sibling this process builds ``target`` in."""
    return target.parent / f".{target.name}.build-{os.getpid()}"


def _parked_path(target: Path) -> Path:
    return target.parent / f".{target.name}.old-{os.getpid()}"


def clean_leftovers(target: Path) -> list[Path]:
    """Remove the builds of killed transactions on ``target`` (and restore a parked directory whose swap died).

    Call only while holding ``target``'s exclusive lock. Returns what was removed.
    """
    target = Path(target).absolute()
    removed = []
    parked = sorted(target.parent.glob(f".{target.name}.old-*"))
    if parked and not target.exists():  # killed between the two renames of the fallback swap
        parked[-1].rename(target)
        parked = parked[:-1]
    for path in [*sorted(target.parent.glob(f".{target.name}.build-*")), *parked]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (and ``root`` itself) to disk.

    The files are flushed side by side (threads: ``fsync`` lets go of the GIL), which the file system commits
    together: three to four times faster than one after another on this machine's ext4. Folders follow.
    """
    files, folders = [], []
    for folder, _dirs, names in os.walk(root):
        folders.append(folder)
        files.extend(os.path.join(folder, name) for name in names)
    if files:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            list(pool.map(_fsync_file, files))
    for folder in folders:
        fsync_dir(Path(folder))


def _fsync_file(path: str | Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, new files) to disk."""
    _fsync_file(folder)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); ``False`` where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The program's own symbols include libc's: no ``find_library``, which runs ``ldconfig`` in a subprocess.
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28, or musl
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    # Non-zero (EINVAL) on a file system without exchange: fall back to two renames.
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def commit(build: Path, target: Path) -> None:
    """Put the finished ``build`` in ``target``'s place; the previous ``target`` is deleted afterwards."""
    fsync_tree(build)
    if target.exists():
        if _exchange(build, target):
            fsync_dir(target.parent)
            shutil.rmtree(build)  # now the previous directory
            return
        parked = _parked_path(target)
        target.rename(parked)
        build.rename(target)
        fsync_dir(target.parent)
        shutil.rmtree(parked)
        return
    build.rename(target)
    fsync_dir(target.parent)


@contextlib.contextmanager
def replace_directory(target: Path) -> Iterator[Path]:
    """Build ``target`` anew in a temporary sibling, yielded empty; swapped in only when the block succeeds.

    The caller holds ``target``'s exclusive lock. ``target`` must be a folder or absent (a file is a one-line error).
    """
    target = Path(target).absolute()
    if target.exists() and not target.is_dir():
        raise TunesmithError(f"{target} is a file, not a directory: choose a directory for the output")
    clean_leftovers(target)
    build = build_path(target)
    build.mkdir(parents=True)
    try:
        yield build
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    commit(build, target)
