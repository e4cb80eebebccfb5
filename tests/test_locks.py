import subprocess
import sys

import pytest

from tunesmith.locks import LockBusy, exclusive, lock_path, shared

HOLD = """
import sys, time
from tunesmith.locks import exclusive, shared
kind = exclusive if sys.argv[2] == "ex" else shared
with kind(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(30)
"""


def _holder(directory, kind):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_fails_at_once_naming_the_holder(tmp_path):
    target = tmp_path / "data"
    proc = _holder(target, "ex")
    try:
        with pytest.raises(LockBusy, match=rf"being written by PID {proc.pid}"), exclusive(target, "prepare"):
            pass
        with pytest.raises(LockBusy, match=rf"PID {proc.pid}"), shared(target, "train"):
            pass
    finally:
        proc.kill()
        proc.wait()
    with exclusive(target, "prepare") as path:  # the kernel released it with the dead holder
        assert path == lock_path(target)
        assert not (target.exists())  # the lock lives beside the directory, never inside it


def test_readers_share_and_keep_writers_out(tmp_path):
    target = tmp_path / "data"
    proc = _holder(target, "sh")
    try:
        with shared(target, "train"):
            pass
        with pytest.raises(LockBusy, match="in use"), exclusive(target, "prepare"):
            pass
    finally:
        proc.kill()
        proc.wait()
