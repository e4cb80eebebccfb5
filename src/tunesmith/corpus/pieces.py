"""The prepared corpus on disk (the ``Piece`` type itself is in ``tunesmith.music``).

``DATA_DIR/pieces.bin`` holds the selected pieces as standard MIDI files laid end to end; ``DATA_DIR/pieces.jsonl``
has one line per piece with its offset and length there, its source, style label, title, tracks and (ABC) tune text.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from symusic import Score

from tunesmith.errors import TunesmithError
from tunesmith.layout import DataDir
from tunesmith.music import Piece

MANIFEST, PIECES_FILE, CHECKSUMS = DataDir.MANIFEST, DataDir.PIECES, DataDir.CHECKSUMS


_OWN_FIELDS = ("id", "offset", "length", "source", "style", "title", "abc", "split")


def read_midi_blobs(data_dir: Path, entries: list[dict[str, Any]]) -> list[bytes]:
    """The standard MIDI files of manifest entries (each one a player or an editor can open)."""
    blobs = []
    path = DataDir(data_dir).pieces_file
    if not path.is_file():
        raise TunesmithError(f"{data_dir} is incomplete (no {PIECES_FILE}): prepare the corpus again")
    with open(path, "rb") as fh:
        for entry in entries:
            fh.seek(entry["offset"])
            blobs.append(fh.read(entry["length"]))
    return blobs


encode_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(entry, ensure_ascii=False), built once


def manifest_line(entry: dict[str, Any]) -> str:
    """A piece's line of ``pieces.jsonl``."""
    return f"{encode_json(entry)}\n"


_string = json.encoder.encode_basestring  # json's own escaping of a string with ensure_ascii=False (C where built)
_HEAD_KEYS = ("id", "source", "style", "title", "tracks", "notes")
_TRACK_KEYS = ("program", "instrument", "name", "notes", "is_drum")


def manifest_head(entry: dict[str, Any]) -> str:
    """``encode_json(entry)`` less its closing brace: a piece's manifest line before its offset and length are known.

    The line is ``f'{head}, "offset": {offset}, "length": {length}}}'`` (``ingest`` writes it so). A piece as
    ``ingest`` makes it (those keys, strings, ints and a boolean) is formatted directly, three to five times faster
    than ``json``'s encoder on this machine, with ``json``'s own string escaping, so the bytes are the same
    (``tests/test_prepare_pinned.py``); anything else goes through the encoder.
    """
    if tuple(entry) != _HEAD_KEYS or type(entry["notes"]) is not int:
        return encode_json(entry)[:-1]
    try:
        tracks = []
        for track in entry["tracks"]:
            program, notes, is_drum = track.get("program"), track.get("notes"), track.get("is_drum")
            if tuple(track) != _TRACK_KEYS or not (type(program) is type(notes) is int and type(is_drum) is bool):
                return encode_json(entry)[:-1]
            tracks.append(
                f'{{"program": {program}, "instrument": {_string(track["instrument"])}, '
                f'"name": {_string(track["name"])}, "notes": {notes}, "is_drum": {"true" if is_drum else "false"}}}'
            )
        return (
            f'{{"id": {_string(entry["id"])}, "source": {_string(entry["source"])}, '
            f'"style": {_string(entry["style"])}, "title": {_string(entry["title"])}, '
            f'"tracks": [{", ".join(tracks)}], "notes": {entry["notes"]}'
        )
    except TypeError:  # a value that is not a string where one is expected (json writes None as null)
        return encode_json(entry)[:-1]


def report_text(report: dict[str, Any], encoded: dict[int, list[str]]) -> str:
    """``report.json``: ``json.dumps(report, ensure_ascii=False, default=float)``, character for character.

    The pieces of a file record are most of a report, and each is already encoded as its manifest line
    (``encoded``: ``id(record)`` -> the lines of its pieces, as ``ingest_files`` wrote them): those are reused
    rather than encoded again. A record whose pieces are not there, or not its last field, is encoded whole.
    """
    dumps = json.JSONEncoder(ensure_ascii=False, default=float).encode  # json.dumps(..., the same), built once

    def record_text(record: dict[str, Any]) -> str:
        lines = encoded.get(id(record))
        if lines is None or next(reversed(record)) != "pieces" or len(lines) != len(record["pieces"]):
            return dumps(record)
        head = dumps({key: value for key, value in record.items() if key != "pieces"})
        return f'{head[:-1]}, "pieces": [{", ".join(lines)}]}}'

    fields = []
    for key, value in report.items():
        text = f"[{', '.join(map(record_text, value))}]" if key == "files" else dumps(value)
        fields.append(f"{dumps(key)}: {text}")
    return f"{{{', '.join(fields)}}}"


def write_manifest(data_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Write one JSON line per piece (the atomic rename keeps a reader from seeing half a file)."""
    tmp = data_dir / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(manifest_line(entry) for entry in entries)
    tmp.replace(DataDir(data_dir).manifest)


def kept_pieces(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifest entries of a prepare report's file records: every piece of every kept file, in order."""
    return [piece for record in records if record["status"] == "kept" for piece in record["pieces"]]


def read_manifest(data_dir: Path) -> list[dict[str, Any]]:
    """The manifest entries of a prepared data directory."""
    path = DataDir(data_dir).manifest
    if not path.is_file():
        raise TunesmithError(f"{data_dir} is not a prepared data directory (no {MANIFEST}): run `tunesmith prepare`")
    entries = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise TunesmithError(f"{path} is damaged at line {number}: prepare the corpus again") from None
            if not isinstance(entry, dict) or not {"id", "offset", "length", "source", "style"} <= set(entry):
                raise TunesmithError(f"{path} is damaged at line {number}: prepare the corpus again")
            entries.append(entry)
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(data_dir: Path, known: dict[str, tuple[int, str]] | None = None) -> None:
    """Record every file's size and SHA-256 in ``checksums.json``: the last file a complete corpus gets.

    ``known``: (size, SHA-256) of files hashed as they were written and not changed since (``ingest_files``), so
    they are not read again; one whose size differs is hashed anyway.
    """
    data_dir = Path(data_dir)
    known = known or {}
    sums = {}
    for folder, _dirs, files in os.walk(data_dir):
        for name in sorted(files):
            path = Path(folder) / name
            rel = path.relative_to(data_dir).as_posix()
            if rel == CHECKSUMS:
                continue
            size = path.stat().st_size
            digest = known[rel][1] if rel in known and known[rel][0] == size else _sha256(path)
            sums[rel] = {"size": size, "sha256": digest}
    DataDir(data_dir).checksums_file.write_text(json.dumps(dict(sorted(sums.items())), indent=1))


def read_checksums(data_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The recorded checksums, or ``None`` for a corpus written before they were."""
    path = DataDir(data_dir).checksums_file
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise TunesmithError(f"{path} is damaged: prepare the corpus again") from None


def verify_corpus(data_dir: Path, hashes: bool = True) -> None:
    """Check that a data directory is whole; raises a one-line ``TunesmithError`` naming the first problem.

    Every file in ``checksums.json`` must be there with its size (and, with ``hashes``, its SHA-256), and every
    piece of the manifest inside ``pieces.bin``.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        what = "is a file, not a data directory" if data_dir.exists() else "does not exist"
        raise TunesmithError(f"{data_dir} {what}: give a directory made by `tunesmith prepare`")
    sums = read_checksums(data_dir)
    for rel, expected in (sums or {}).items():
        path = data_dir / rel
        if not path.is_file() or path.stat().st_size != expected["size"]:
            raise TunesmithError(f"{data_dir} is incomplete or damaged ({rel}): prepare the corpus again")
        if hashes and _sha256(path) != expected["sha256"]:
            raise TunesmithError(f"{data_dir} is damaged ({rel} changed since prepare): prepare the corpus again")
    entries = read_manifest(data_dir)
    pieces = DataDir(data_dir).pieces_file
    size = pieces.stat().st_size if pieces.is_file() else -1
    if any(e["offset"] + e["length"] > size for e in entries):
        raise TunesmithError(f"{data_dir} is incomplete: {MANIFEST} names pieces beyond {PIECES_FILE}")


def is_data_dir(path: Path) -> bool:
    """Whether ``path`` holds a prepared corpus."""
    return DataDir(path).is_prepared()


def load_pieces(data_dir: Path, entries: list[dict[str, Any]] | None = None) -> list[Piece]:
    """Load the pieces of a prepared data directory in quarter-note time."""
    data_dir = Path(data_dir)
    entries = read_manifest(data_dir) if entries is None else entries
    pieces = []
    for entry, blob in zip(entries, read_midi_blobs(data_dir, entries)):
        try:
            score = Score.from_midi(blob, ttype="quarter")
        except Exception:  # symusic raises RuntimeError/ValueError on bytes that are not MIDI
            raise TunesmithError(
                f"{data_dir} is damaged: piece {entry['id']} in {PIECES_FILE} is not MIDI; prepare the corpus again"
            ) from None
        meta = {k: v for k, v in entry.items() if k not in _OWN_FIELDS}
        pieces.append(
            Piece(score, entry["id"], entry["source"], entry["style"], entry.get("title", ""), entry.get("abc"), meta)
        )
    return pieces
