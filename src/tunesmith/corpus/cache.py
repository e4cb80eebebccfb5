"""A content-addressed cache of parsed files, so a rerun over unchanged files parses nothing.

The key is the SHA-256 of the file's bytes plus the reader settings; the value is the parsed pieces, stored with
symusic's own binary serialisation. Loading goes through an unpickler that only admits symusic's score types and
plain data, so a planted cache file cannot run code.

What is cached (``worth_caching``): every file music21 reads (about a second a file), and MIDI files of at least
``MIDI_MIN_BYTES``. symusic parses a smaller MIDI file about as fast as its entry opens and loads (faster, under
4 KB), and writing the entry costs 5 to 15 times the parse, so such a file is parsed on every run and never stored;
from 16 KB on an entry loads 2.6 to 5 times faster than the file parses (``BENCHMARKS.md``, "The parse cache skips
small MIDI files").
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import ClassVar

from tunesmith.corpus.readers import FailedPiece, ParsedPiece

# Bump when the readers change what they produce, so old entries are never reused.
READER_VERSION = 2
MIDI_MIN_BYTES = 16 << 10  # smaller MIDI files are parsed on every run: see the module's docstring


def worth_caching(fmt: str | None, size: int) -> bool:
    """Whether a file of format ``fmt`` (``source_format``'s name) and ``size`` bytes goes through the cache."""
    return bool(fmt) and size > 0 and (fmt != "midi" or size >= MIDI_MIN_BYTES)


class _SafeUnpickler(pickle.Unpickler):
    _ALLOWED: ClassVar[set[tuple[str, str]]] = {("builtins", "list"), ("builtins", "dict"), ("builtins", "tuple")}

    def find_class(self, module: str, name: str):
        if module == "symusic.core" and (name.startswith("Score") or name.startswith("Track")):
            return super().find_class(module, name)
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name} in cache entry")


def cache_key(digest: str, fmt: str, grid: int) -> str:
    """The cache key of a file's content under the given reader settings.

    ``digest`` is the hex SHA-256 of the file's bytes, the one ingest records as the file's ``sha256``: passed in, so
    the bytes are hashed once.
    """
    return hashlib.sha256(f"{digest}:{fmt}:{grid}:v{READER_VERSION}".encode()).hexdigest()


class ParseCache:
    """Parsed pieces on disk under ``root/parsed``, one file per source content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "parsed"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> tuple[list[ParsedPiece], list[FailedPiece]] | None:
        """The cached result for ``key``, or ``None`` (a missing or damaged entry is a miss)."""
        try:
            raw = self._path(key).read_bytes()
            entry = _SafeUnpickler(io.BytesIO(raw)).load()
            pieces = [ParsedPiece(*fields) for fields in entry["pieces"]]
            failed = [FailedPiece(title, reason) for title, reason in entry["failed"]]
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError):
            return None
        return pieces, failed

    def put(self, key: str, pieces: list[ParsedPiece], failed: list[FailedPiece]) -> None:
        """Store a result atomically; a cache that cannot be written is silently skipped."""
        entry = {
            "pieces": [(p.score, p.title, p.abc, p.split) for p in pieces],
            "failed": [(f.title, f.reason) for f in failed],
        }
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(entry, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            return
