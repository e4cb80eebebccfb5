"""Pitch names in scientific notation (``C4`` is MIDI 60), with sharps, as the note/chord tokens spell them."""

from __future__ import annotations

import re

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NAME = re.compile(r"^([A-Ga-g])([#b-]*)(-?\d+)$")


def pitch_name(pitch: int) -> str:
    """``60 -> "C4"``, ``61 -> "C#4"``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_name(name: str) -> int:
    """``"C4" -> 60``; accepts ``#`` and ``b`` (or music21's ``-``) accidentals. Raises ``ValueError``."""
    match = _NAME.match(name.strip())
    if not match:
        raise ValueError(f"not a pitch name: {name!r}")
    step, accidentals, octave = match.groups()
    shift = accidentals.count("#") - accidentals.count("b") - accidentals.count("-")
    pitch = _STEP[step.upper()] + shift + (int(octave) + 1) * 12
    if not 0 <= pitch <= 127:
        raise ValueError(f"pitch out of MIDI range: {name!r}")
    return pitch


def chord_name(pitches) -> str:
    """The note or chord of pitches sounding together: ``"C4"`` or ``"C4.E4.G4"`` (ascending, no repeats)."""
    return ".".join(pitch_name(p) for p in sorted(set(int(p) for p in pitches)))
