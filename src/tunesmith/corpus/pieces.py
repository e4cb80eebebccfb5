"""The prepared corpus on disk and the ``Piece`` type.

``DATA_DIR/pieces.bin`` holds the selected pieces as standard MIDI files laid end to end; ``DATA_DIR/pieces.jsonl``
has one line per piece with its offset and length there, its source, style label, title, tracks and (ABC) tune text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symusic import Score

from tunesmith.errors import TunesmithError

MANIFEST = "pieces.jsonl"
PIECES_FILE = "pieces.bin"
REPORT = "report.json"


@dataclass
class Piece:
    """A score in quarter-note time with where it came from and its style label (artist, genre: its folder)."""

    score: Score
    id: str = ""
    source: str = ""
    style: str = "default"
    title: str = ""
    abc: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


_OWN_FIELDS = ("id", "offset", "length", "source", "style", "title", "abc", "split")


def read_midi_blobs(data_dir: Path, entries: list[dict[str, Any]]) -> list[bytes]:
    """The standard MIDI files of manifest entries (each one a player or an editor can open)."""
    blobs = []
    with open(Path(data_dir) / PIECES_FILE, "rb") as fh:
        for entry in entries:
            fh.seek(entry["offset"])
            blobs.append(fh.read(entry["length"]))
    return blobs


def write_manifest(data_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Write one JSON line per piece (the atomic rename keeps a reader from seeing half a file)."""
    tmp = data_dir / f"{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    tmp.replace(data_dir / MANIFEST)


def read_manifest(data_dir: Path) -> list[dict[str, Any]]:
    """The manifest entries of a prepared data directory."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise TunesmithError(f"{data_dir} is not a prepared data directory (no {MANIFEST}): run `tunesmith prepare`")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def is_data_dir(path: Path) -> bool:
    """Whether ``path`` holds a prepared corpus."""
    return (Path(path) / MANIFEST).is_file()


def load_pieces(data_dir: Path, entries: list[dict[str, Any]] | None = None) -> list[Piece]:
    """Load the pieces of a prepared data directory in quarter-note time."""
    data_dir = Path(data_dir)
    entries = read_manifest(data_dir) if entries is None else entries
    pieces = []
    for entry, blob in zip(entries, read_midi_blobs(data_dir, entries)):
        score = Score.from_midi(blob, ttype="quarter")
        meta = {k: v for k, v in entry.items() if k not in _OWN_FIELDS}
        pieces.append(
            Piece(score, entry["id"], entry["source"], entry["style"], entry.get("title", ""), entry.get("abc"), meta)
        )
    return pieces
