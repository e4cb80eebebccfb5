"""``--threads`` on generate and evaluate, as train has: the count used is set and recorded, a bad one is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tunesmith.cli import main


@pytest.fixture
def run(studio_runs, tmp_path) -> Path:
    """A copy of the tiny trained run (evaluate rewrites its report)."""
    return Path(shutil.copytree(studio_runs / "tiny", tmp_path / "tiny"))


@pytest.fixture(autouse=True)
def same_threads_after():
    """The worker's torch threads as they were: later tests compute with them."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_generate_and_evaluate_compute_with_the_threads_asked_and_record_them(run, tmp_path):
    out = tmp_path / "one"
    args = ["generate", str(run), "--num", "2", "--length", "40", "--seed", "5", "-q"]
    assert main([*args, "--threads", "1", "-o", str(out)]) == 0
    assert torch.get_num_threads() == 1
    assert json.loads((out / "generate.json").read_text())["options"]["threads"] == 1
    assert len(list(out.glob("*.mid"))) == 2

    assert main(["evaluate", str(run), "--samples", "2", "--sample-length", "48", "--threads", "1", "-q"]) == 0
    assert json.loads((run / "eval.json").read_text())["options"]["threads"] == 1

    torch.set_num_threads(1)
    assert main([*args, "-o", str(tmp_path / "cores")]) == 0  # 0: the cores of the affinity, whatever was set
    recorded = json.loads((tmp_path / "cores" / "generate.json").read_text())["options"]["threads"]
    assert recorded == torch.get_num_threads() >= 1


def test_a_negative_thread_count_is_one_line(run, tmp_path, capsys):
    for args in (
        ["generate", str(run), "-o", str(tmp_path / "o"), "--threads", "-1"],
        ["evaluate", str(run), "--threads", "-1"],
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert "--threads must be 0 (the cores) or positive" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000"}),  # a short spin, then sleep
        ({"GOMP_SPINCOUNT": "30000"}, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "30000"}),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": None}),  # the user's, alone
    ],
)
def test_importing_tunesmith_sets_a_short_spin_unless_a_wait_is_given(given, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | given
    code = "import os, tunesmith; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(expected["OMP_WAIT_POLICY"]), str(expected["GOMP_SPINCOUNT"])]
