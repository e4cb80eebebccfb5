"""One list of work done by two processes: this one takes items from the front, a forked helper from the back.

The two meet wherever their speeds make them meet, so neither waits for the other however busy the machine keeps
either core: each takes its next item under a lock, the two ends kept in a small anonymous shared mapping. The
helper sends what it did in one message when the list runs out (not one per item: a message per small MIDI file
costs as much as parsing it), and this process puts the results in place. Used by ``ingest`` for corpora of small
MIDI files too small to pay for a pool of workers but large enough to pay for one fork (a few ms of CPU).
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import struct
from collections.abc import Callable
from typing import Any

_ENDS = struct.Struct("qq")  # the next item from the front, one past the last item not taken from the back


class FromBothEnds:
    """``items`` shared with a forked helper that runs ``work(item)`` on items from the back.

    ``setup()`` runs first in the helper (``ingest.die_with_parent``). ``take()`` hands this process its next item
    from the front, ``None`` once the two ends meet; ``finish()`` then returns the helper's ``(item, result)``
    pairs, in list order, and the items this process must still do itself (all the helper took, should it have
    died). ``close()`` stops the helper wherever it is (Ctrl-C).
    """

    def __init__(self, items: list[Any], work: Callable[[Any], Any], setup: Callable[[], None]) -> None:
        ctx = mp.get_context("fork")
        self._items = items
        self._ends = mmap.mmap(-1, _ENDS.size)  # anonymous and shared: the helper sees this process's writes
        _ENDS.pack_into(self._ends, 0, 0, len(items))
        self._lock = ctx.Lock()
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=self._helper, args=(child, work, setup), daemon=True)
        self._process.start()
        child.close()

    def _take(self, front: bool) -> int | None:
        with self._lock:
            start, end = _ENDS.unpack_from(self._ends)
            if start >= end:
                return None
            position = start if front else end - 1
            _ENDS.pack_into(self._ends, 0, start + front, end - (not front))
        return position

    def take(self) -> Any | None:
        """The next item for this process, from the front; ``None`` when every item is taken."""
        position = self._take(front=True)
        return None if position is None else self._items[position]

    def _helper(self, conn, work: Callable[[Any], Any], setup: Callable[[], None]) -> None:
        setup()
        done = []
        while (position := self._take(front=False)) is not None:
            done.append((self._items[position], work(self._items[position])))
        done.reverse()
        conn.send(done)
        conn.close()

    def finish(self) -> tuple[list[tuple[Any, Any]], list[Any]]:
        """Wait for the helper: its ``(item, result)`` pairs in list order, and the items left to this process.

        Call once ``take()`` has returned ``None``.
        """
        try:
            done = self._conn.recv()
        except (EOFError, OSError):  # the helper died: everything it took is done again here
            done = None
        _start, end = _ENDS.unpack_from(self._ends)
        self.close(wait=True)
        return (done, []) if done is not None else ([], self._items[end:])

    def close(self, wait: bool = False) -> None:
        """Stop the helper (at once unless ``wait``: Ctrl-C) and let go of its pipe and mapping."""
        if self._ends.closed:
            return
        if wait:
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()
        self._ends.close()
