"""Shared fixtures: every test makes its own tiny music; the parse cache lives in the test's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

# As tunesmith itself does, before torch loads: OpenMP threads that sleep while they wait do not thrash on a busy
# machine (test modules may import torch before tunesmith).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

from musicgen import write_song

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BOLLYWOOD = SHARED / "data" / "bollywood"
JSB = SHARED / "data" / "jsb"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def song_dir(tmp_path) -> Path:
    """Two folders of styles with three songs between them (suffixes in mixed case)."""
    root = tmp_path / "songs"
    write_song(root / "folk" / "a.mid", seed=1)
    write_song(root / "folk" / "b.MID", seed=2)
    write_song(root / "jazz" / "c.midi", seed=3, with_drums=False)
    return root
