"""The registry of encodings: names to tokenizer classes, and loading a saved tokenizer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tunesmith.encodings.abc import AbcTokenizer
from tunesmith.encodings.base import Tokenizer
from tunesmith.encodings.event import EventTokenizer
from tunesmith.encodings.notechord import NoteChordTokenizer
from tunesmith.encodings.pianoroll import PianoRollTokenizer
from tunesmith.encodings.pseudonote import PseudoNoteTokenizer
from tunesmith.errors import TunesmithError

ENCODINGS: dict[str, type[Tokenizer]] = {
    cls.name: cls for cls in (NoteChordTokenizer, PseudoNoteTokenizer, PianoRollTokenizer, AbcTokenizer, EventTokenizer)
}


def get_encoding(name: str) -> type[Tokenizer]:
    """The tokenizer class registered as ``name``."""
    if name not in ENCODINGS:
        raise TunesmithError(f"unknown encoding {name!r}: choose one of {', '.join(ENCODINGS)}")
    return ENCODINGS[name]


def make_tokenizer(name: str, **settings: Any) -> Tokenizer:
    """A new (unfitted) tokenizer; unknown settings are refused with a one-line message."""
    cls = get_encoding(name)
    known = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TunesmithError(
            f"encoding {name!r} has no setting {', '.join(unknown)}: it has {', '.join(sorted(known))}"
        )
    try:
        return cls(**settings)
    except TypeError as exc:
        raise TunesmithError(f"bad settings for encoding {name!r}: {exc}") from None


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its saved data (as found in a checkpoint)."""
    if not isinstance(data, dict) or "encoding" not in data or "vocab" not in data:
        raise TunesmithError("not a tunesmith tokenizer")
    return get_encoding(data["encoding"]).from_dict(data)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer saved with ``Tokenizer.save``."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TunesmithError(f"tokenizer file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise TunesmithError(f"tokenizer file {path} is not valid JSON: {exc}") from None
    return tokenizer_from_dict(data)
