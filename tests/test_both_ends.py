"""One list done by two processes (``FromBothEnds``): every item once, in order, and no helper outlives its parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tunesmith.corpus.both_ends import FromBothEnds

WAIT = 120  # seconds: the machine is shared and loaded


def _square_and_pid(item: int) -> tuple[int, int]:
    return item * item, os.getpid()


def _take_all(helper: FromBothEnds, started) -> list[int]:
    """This process's items, one a millisecond, once the helper has started (so that it takes some too)."""
    assert started.wait(WAIT), "the helper did not start"
    mine = []
    while (item := helper.take()) is not None:
        mine.append(item)
        time.sleep(0.001)
    return mine


def test_every_item_is_done_once_and_the_results_come_back_in_order():
    started = multiprocessing.get_context("fork").Event()
    items = list(range(200))
    helper = FromBothEnds(items, _square_and_pid, started.set)
    mine = _take_all(helper, started)
    theirs, redo = helper.finish()
    assert redo == [] and theirs, "the helper took no item"
    assert mine + [item for item, _ in theirs] == items  # this process from the front, the helper the rest
    assert all(square == item * item and pid != os.getpid() for item, (square, pid) in theirs)  # done there


def _die(item: int) -> None:
    os._exit(3)


def test_the_items_of_a_helper_that_died_are_left_to_this_process():
    started = multiprocessing.get_context("fork").Event()
    items = list(range(200))
    helper = FromBothEnds(items, _die, started.set)
    mine = _take_all(helper, started)
    theirs, redo = helper.finish()
    assert theirs == [] and redo == [199]  # it died on its first item, the last one
    assert mine + redo == items


HELD = """
import functools, os, sys, time
from tunesmith.corpus.both_ends import FromBothEnds
from tunesmith.corpus.ingest import die_with_parent

helper = FromBothEnds([600] * 10, time.sleep, functools.partial(die_with_parent, os.getpid()))
print(helper._process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_helper_ends_with_its_parent_even_on_sigkill():
    proc = subprocess.Popen([sys.executable, "-c", HELD], stdout=subprocess.PIPE, text=True)
    try:
        helper_pid = int(proc.stdout.readline())
        assert _alive(helper_pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT)
        deadline = time.monotonic() + 10
        while _alive(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(helper_pid)
    finally:
        proc.kill()


def test_close_stops_a_working_helper_at_once():
    helper = FromBothEnds([600.0], time.sleep, lambda: None)  # the helper sleeps on the one item for ten minutes
    time.sleep(0.2)
    start = time.monotonic()
    helper.close()
    assert time.monotonic() - start < 5 and not helper._process.is_alive()
