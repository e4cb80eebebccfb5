"""The registry of instrument presets (``--instruments``): named maps of General MIDI programs by pitch range.

An instrument map is a list of ``Part``s (GM program, name, pitch range). Presets either split by absolute pitch
ranges or by *register*: the piece's own pitches cut at quantiles into as many bands as there are parts, low to
high, so every part gets the notes of its register whatever key and octave the model wrote in. A TOML file gives
absolute ranges::

    [[part]]
    program = 33
    name = "Bass"
    low = 0
    high = 47

``postprocess.assign_instruments`` applies a map to a score. This module stays light (no numpy, no symusic): the
command line reads the preset names from it to build its help.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tunesmith.config import load_toml
from tunesmith.errors import TunesmithError

SITAR, SHEHNAI, FLUTE = 104, 111, 73


@dataclass(frozen=True)
class Part:
    """One output track: a General MIDI program for the pitches ``low..high`` (used when splitting by range)."""

    program: int
    name: str = ""
    low: int = 0
    high: int = 127


@dataclass(frozen=True)
class InstrumentMap:
    """Parts from low to high, split by absolute ``range`` or by the piece's ``register``."""

    parts: tuple[Part, ...]
    split: str = "register"  # "register" or "range"


@dataclass(frozen=True)
class Preset:
    """A named instrument choice: one map for every sample, or several of which each sample gets one at random."""

    about: str
    maps: tuple[InstrumentMap, ...]

    def pick(self, rng: random.Random) -> InstrumentMap:
        """The map for one sample (``rng`` is drawn from only when there is a choice, each map equally likely)."""
        return self.maps[0] if len(self.maps) == 1 else rng.choice(self.maps)


def _fixed(about: str, *parts: Part) -> Preset:
    return Preset(about, (InstrumentMap(parts),))


_INDIAN = (Part(SITAR, "Sitar"), Part(SHEHNAI, "Shehnai"), Part(FLUTE, "Flute"))
# The registry of ``--instruments`` presets: the command line's help, the config's check and the studio's list.
PRESETS: dict[str, Preset] = {
    "bollywood": _fixed("sitar, shehnai, flute, low to high", *_INDIAN),
    "bollywood-band": _fixed("bass, pad, sitar, shehnai, flute", Part(33, "Bass"), Part(89, "Pad"), *_INDIAN),
    "piano": _fixed("one piano", Part(0, "Piano")),
    "strings": _fixed(
        "cello, viola, two violins", Part(42, "Cello"), Part(41, "Viola"), Part(40, "Violin II"), Part(40, "Violin I")
    ),
    "band": _fixed(
        "bass, guitar, electric piano, trumpet",
        Part(33, "Bass"),
        Part(25, "Guitar"),
        Part(4, "Electric Piano"),
        Part(56, "Trumpet"),
    ),
    # The Bollywood seed's choice: one of sitar, shehnai, flute for the whole sample, drawn per sample.
    "random-indian": Preset("one of sitar, shehnai, flute per sample", tuple(InstrumentMap((p,)) for p in _INDIAN)),
}
PRESET_NAMES = tuple(PRESETS)


def load_instrument_map(spec: str, rng: random.Random | None = None) -> InstrumentMap:
    """A preset's map for one sample, or a TOML file of ``[[part]]`` tables (program, name, low, high).

    ``rng`` picks among a preset's choices (``random-indian``); without one, a draw seeded with 0.
    """
    if spec in PRESETS:
        return PRESETS[spec].pick(rng or random.Random(0))
    if spec.endswith(".toml"):
        data = load_toml(spec)
        try:
            parts = tuple(
                Part(int(p["program"]), str(p.get("name", "")), int(p.get("low", 0)), int(p.get("high", 127)))
                for p in data["part"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TunesmithError(
                f"{spec}: each [[part]] needs a program (and optional name, low, high): {exc}"
            ) from None
        if not parts or not all(0 <= p.program <= 127 and 0 <= p.low <= p.high <= 127 for p in parts):
            raise TunesmithError(f"{spec}: programs are 0..127 and ranges low <= high within 0..127")
        return InstrumentMap(parts, split=str(data.get("split", "range")))
    if Path(spec).suffix:
        raise TunesmithError(f"instrument file not found or not TOML: {spec}")
    raise TunesmithError(f"unknown instrument preset {spec!r}: one of {', '.join(PRESETS)} or a FILE.toml")
