"""Shared fixtures: every test makes its own tiny music; the parse cache lives in the test's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import tunesmith  # noqa: F401  # isort: skip  (first: its OpenMP wait, set before a test module loads torch)
import pytest

from musicgen import write_song


def pytest_configure(config) -> None:
    """Under pytest-xdist (``make test`` runs one worker per core), each worker keeps to a core of its own.

    Torch in each worker then computes with one thread (tunesmith takes the cores of its affinity), so two workers
    never fight for the same two cores, and every run a test compares is computed with the same count.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if 1 < workers <= len(cores):
            os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BOLLYWOOD = SHARED / "data" / "bollywood"
JSB = SHARED / "data" / "jsb"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def music21_scratch(tmp_path, monkeypatch) -> Path:
    """A new, empty scratch folder for music21 (where it keeps pickles of what it parses), watched by the test.

    music21 takes ``tempfile.gettempdir()/music21`` and keeps it for the process once used: both are reset here.
    """
    import tempfile

    from music21 import environment

    if environment.Environment()["directoryScratch"] is not None:
        pytest.skip("music21's settings name a scratch folder of their own")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(environment.envSingleton(), "defaultRootTempDir", None)
    scratch = Path(environment.Environment().getRootTempDir())
    assert scratch == tmp_path / "music21"
    return scratch


@pytest.fixture
def song_dir(tmp_path) -> Path:
    """Two folders of styles with three songs between them (suffixes in mixed case)."""
    root = tmp_path / "songs"
    write_song(root / "folk" / "a.mid", seed=1)
    write_song(root / "folk" / "b.MID", seed=2)
    write_song(root / "jazz" / "c.midi", seed=3, with_drums=False)
    return root


@pytest.fixture(scope="session")
def studio_runs(tmp_path_factory) -> Path:
    """A folder holding one tiny trained and evaluated run (notechord LSTM, three epochs on eight made tunes)."""
    import random

    from musicgen import make_score
    from tunesmith.cli import main

    root = tmp_path_factory.mktemp("studio")
    rng = random.Random(0)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    (root / "songs").mkdir()
    for i in range(8):
        k, notes = 0, []
        for j in range(120):
            k = (k + rng.choices([1, -1, 0], [0.7, 0.2, 0.1])[0]) % len(scale)
            notes.append((j * 0.5, 0.5, scale[k], 80))
        make_score([{"program": 0, "notes": notes}]).dump_midi(str(root / "songs" / f"s{i}.mid"))
    data, run = root / "data", root / "runs" / "tiny"
    assert main(["prepare", str(root / "songs"), "-o", str(data), "--encoding", "notechord", "--no-cache", "-q"]) == 0
    args = ["train", str(data), "-o", str(run), "-q", "--epochs", "3", "--seq-len", "16", "--batch-size", "8"]
    assert main([*args, "--model-option", "hidden=32", "--model-option", "embed_dim=16", "--lr", "1e-2"]) == 0
    assert main(["evaluate", str(run), "--samples", "2", "--sample-length", "48"]) == 0
    return root / "runs"
