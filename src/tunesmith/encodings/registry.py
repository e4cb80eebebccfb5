"""The registry of encodings: names to tokenizer classes, and loading a saved tokenizer.

A built-in encoding is one module in this package plus its class in the tuple below; an encoding of your own (a
plugin, a notebook, a test) joins with ``register(MyTokenizer)`` (or ``@register`` on its class) and is then known
to ``tunesmith prepare --encoding NAME``, training, generation and every checkpoint that names it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T", bound=type[Tokenizer])


def register(cls: T) -> T:
    """Add a ``Tokenizer`` subclass under its ``name`` (usable as a class decorator); a taken name is refused."""
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
        raise TunesmithError(f"an encoding is a Tokenizer subclass, not {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TunesmithError(f"{cls.__name__} needs a class attribute `name` to be registered")
    if ENCODINGS.get(name, cls) is not cls:
        raise TunesmithError(f"encoding name {name!r} is taken by {ENCODINGS[name].__name__}")
    ENCODINGS[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove the encoding registered as ``name`` (a plugin's teardown); unknown names are ignored."""
    ENCODINGS.pop(name, None)


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
