"""Bands: the set of instruments a piece is played by, from what a user types (``sitar,shehnai,flute,bass,drums``).

A band is a sorted tuple of General MIDI programs (0..127) with ``DRUMS`` (-1, MidiTok's number) for the drum kit.
Names are General MIDI names in any letter case (``"Acoustic Grand Piano"``, ``"sitar"``), a few short names
(``bass``, ``piano``, ``guitar``, ``strings``, ``pad``, ``drums``: see ``ALIASES``), program numbers, or the presets
``tunesmith generate --instruments`` knows (``bollywood``, ``bollywood-band``, ``band``; an instrument name comes
first, so ``strings`` is the string ensemble and ``piano`` the grand piano).
"""

from __future__ import annotations

import difflib
import re

from tunesmith.errors import TunesmithError
from tunesmith.instruments import PRESETS
from tunesmith.music import gm_name

DRUMS = -1
# Short names people type, each to the General MIDI program a band usually means by it.
ALIASES = {
    "drums": DRUMS,
    "drum": DRUMS,
    "drum kit": DRUMS,
    "percussion": DRUMS,
    "piano": 0,
    "electric piano": 4,
    "organ": 16,
    "guitar": 24,
    "electric guitar": 27,
    "bass": 33,
    "violin": 40,
    "strings": 48,
    "choir": 52,
    "trumpet": 56,
    "brass": 61,
    "sax": 65,
    "saxophone": 65,
    "synth": 80,
    "lead": 80,
    "pad": 89,
    "shehnai": 111,  # General MIDI spells it Shanai
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()]+", " ", name.strip().lower()).strip()


def _names() -> dict[str, int]:
    names = {_key(gm_name(p)): p for p in range(128)}
    names.update({_key(a): p for a, p in ALIASES.items()})
    return names


def parse_band(text: str) -> tuple[int, ...]:
    """The programs of a comma-separated band (names, numbers, presets), drums as ``DRUMS``, sorted.

    Raises a one-line ``TunesmithError`` for a name it does not know, with the nearest names it does.
    """
    names = _names()
    band: set[int] = set()
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise TunesmithError("--band is empty: name instruments, e.g. --band sitar,flute,bass,drums")
    for item in items:
        if re.fullmatch(r"\d+", item):
            if not 0 <= int(item) <= 127:
                raise TunesmithError(f"--band: program {item} is not a General MIDI program (0..127)")
            band.add(int(item))
        elif _key(item) in names:  # before the presets: "strings" in a band is the string ensemble
            band.add(names[_key(item)])
        elif item in PRESETS:
            band.update(part.program for chosen in PRESETS[item].maps for part in chosen.parts)
        else:
            close = difflib.get_close_matches(_key(item), [*names, *PRESETS], n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise TunesmithError(
                f"--band: unknown instrument {item!r}{hint}: use General MIDI names or numbers, drums, "
                f"or a preset ({', '.join(PRESETS)})"
            )
    return tuple(sorted(band))


def band_names(band: tuple[int, ...]) -> list[str]:
    """The General MIDI names of a band, drums as ``"Drums"``."""
    return [gm_name(p, p == DRUMS) for p in band]
