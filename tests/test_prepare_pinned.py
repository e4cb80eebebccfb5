"""The prepared corpus is pinned byte for byte: a change to how ``prepare`` works inside (workers, writing, encoding)
must not change what it writes for the same inputs and seed.

The fixture corpus is made in code (two style folders, songs with and without drums, a corrupt file, a repeated
file, one file whose only track is drums); the digests below were taken from the code before ``prepare`` was made
faster (issue 18). Should a deliberate change of the output format move them, rerun with ``TUNESMITH_PRINT_PINS=1``
and say in the commit why the bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from musicgen import make_score, write_song
from tunesmith.cli import main

# Digest of every file of the data directory (report.json without its seconds, checksums.json without report.json's
# line), per case.
PINS = {
    "all": "64ddf2410a933c5b5ef030379d12374e3502569f8931e13f1dac36613e2ab2c1",
    "dominant-1-worker": "1678e3c273a12b1cc7db3b764530982d7c70511f9c4d72615cc4d245cc717bbf",
    "notechord": "882d276d8b016b1bc45f0fad126fa265031d7c5deb36e44924711b4d403f6643",
    "pseudonote": "58cc5087371dff76fcff3130a4d77c238f0637732da4dd281720ca0fc5d4fc65",
}

CASES = {
    "all": ["--instruments", "all", "--min-notes", "1"],
    "dominant-1-worker": ["--workers", "1"],
    "notechord": ["--encoding", "notechord", "--transpose=-2..2", "--augment-at", "prepare", "--split", "0.6,0.2,0.2"],
    "pseudonote": ["--instruments", "merge", "--encoding", "pseudonote", "--condition", "key", "--seed", "3"],
}


def _corpus(root: Path) -> None:
    for i in range(10):
        write_song(root / ("folk" if i % 2 else "jazz") / f"s{i}.mid", seed=i, with_drums=i % 3 == 0)
    (root / "folk" / "broken.mid").write_bytes(b"MThd not a midi file")
    shutil.copy(root / "folk" / "s1.mid", root / "jazz" / "z-copy.mid")
    drums = [{"program": 0, "is_drum": True, "notes": [(b, 0.25, 36, 100) for b in range(8)]}]
    make_score(drums).dump_midi(str(root / "jazz" / "drums-only.mid"))


def _digest(data: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = path.relative_to(data).as_posix()
        content = path.read_bytes()
        if rel == "report.json":
            report = json.loads(content)
            report["summary"]["seconds"] = 0
            content = json.dumps(report, sort_keys=True).encode()
        elif rel == "checksums.json":
            sums = json.loads(content)
            sums.pop("report.json")
            content = json.dumps(sums, sort_keys=True).encode()
        digest.update(f"{rel}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_prepare_output_is_pinned(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in the report and settings
    _corpus(Path("songs"))
    assert main(["prepare", "songs", "-o", "data", "--no-cache", "-q", *CASES[case]]) == 0
    text = Path("data", "report.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False)  # what json.dumps writes, character for character
    digest = _digest(Path("data"))
    if os.environ.get("TUNESMITH_PRINT_PINS"):
        print(f"PIN {case} {digest}")
    assert digest == PINS[case]
