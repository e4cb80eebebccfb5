"""The bottom music layer: ``Piece``, note arrays in and out of scores, pitch and General MIDI instrument names.

Corpus, encodings and evaluation all import from here, and this module imports nothing of tunesmith but ``errors``
(a test checks it), so a helper about notes never drags a tokenizer, the corpus or torch along. The on-disk format of
prepared pieces lives with the data directory, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, TimeUnit, Track

DEFAULT_QPM = 120.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# The accidentals are matched lazily and the octave tries "-1" first, so "C-1" is C in octave -1 (MIDI 0, as
# pitch_name writes it) while music21's flat stays a flat before any other octave ("D-4" = 61, "D--1" = 1).
_NAME = re.compile(r"^([A-Ga-g])([#b-]*?)(-1|\d+)$")


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


# ------------------------------------------------------------------------------------------------- note arrays
def note_arrays(score: Score, drums: bool = False) -> dict[str, np.ndarray]:
    """The note fields of the pitched tracks (``drums``: of the drum tracks) laid end to end, unsorted.

    ``time``, ``duration``, ``pitch`` and ``velocity`` in the score's own time unit; zero-length arrays when there
    are no such notes.
    """
    parts = [t.notes.numpy() for t in score.tracks if t.is_drum == drums and len(t.notes)]
    keys = ("time", "duration", "pitch", "velocity")
    if not parts:
        return {key: np.zeros(0) for key in keys}
    return {key: np.concatenate([p[key] for p in parts]) for key in keys}


def pitched_notes(score: Score) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Time, duration (quarters), pitch and velocity of every pitched note, sorted by time then pitch."""
    if score.ttype != TimeUnit.quarter:  # pieces arrive in quarters; convert only what does not
        score = score.to("quarter")
    notes = note_arrays(score)
    time, duration = notes["time"].astype(np.float64), notes["duration"].astype(np.float64)
    pitch, velocity = notes["pitch"].astype(np.int64), notes["velocity"].astype(np.int64)
    order = np.lexsort((pitch, time))
    return time[order], duration[order], pitch[order], velocity[order]


def build_score(
    notes: list[tuple[float, float, int, int]],
    program: int = 0,
    qpm: float = DEFAULT_QPM,
    time_signature: tuple[int, int] = (4, 4),
) -> Score:
    """A one-track quarter-time score from ``(time, duration, pitch, velocity)`` tuples."""
    score = Score(480, ttype="quarter")
    score.tempos.append(Tempo(0.0, qpm=qpm, ttype="quarter"))
    score.time_signatures.append(TimeSignature(0.0, *time_signature, ttype="quarter"))
    track = Track("", program, False, ttype="quarter")
    if notes:
        t, d, p, v = (np.asarray(x) for x in zip(*notes))
        track.notes = Note.from_numpy(
            t.astype(np.float32),
            d.astype(np.float32),
            np.clip(p, 0, 127).astype(np.int8),
            np.clip(v, 1, 127).astype(np.int8),
            "quarter",
        )
    score.tracks.append(track)
    return score


# ------------------------------------------------------------------------------------------------- pitch names
def pitch_name(pitch: int) -> str:
    """Scientific notation with sharps, as the note/chord tokens spell it: ``60 -> "C4"``, ``61 -> "C#4"``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_name(name: str) -> int:
    """``"C4" -> 60``, ``"C-1" -> 0``, ``"G9" -> 127``; the inverse of :func:`pitch_name`.

    Accepts ``#`` and ``b`` (or music21's ``-``) accidentals. A ``-`` right before a final ``1`` is octave -1's sign,
    the only negative octave MIDI reaches: ``"D-1"`` is MIDI 2 (music21 reads it D-flat 1; write ``"Db1"`` for that).
    Raises ``ValueError`` with a one-line message for a malformed name or a pitch outside MIDI's 0..127.
    """
    match = _NAME.match(name.strip())
    if not match:
        raise ValueError(f"not a pitch name: {name!r} (a letter A-G, accidentals # b -, an octave: C4, Eb-1, G#9)")
    step, accidentals, octave = match.groups()
    shift = accidentals.count("#") - accidentals.count("b") - accidentals.count("-")
    pitch = _STEP[step.upper()] + shift + (int(octave) + 1) * 12
    if not 0 <= pitch <= 127:
        raise ValueError(f"pitch {name!r} is {pitch}, outside MIDI's 0..127 (C-1..G9)")
    return pitch


def chord_name(pitches) -> str:
    """The note or chord of pitches sounding together: ``"C4"`` or ``"C4.E4.G4"`` (ascending, no repeats)."""
    return ".".join(pitch_name(p) for p in sorted(set(int(p) for p in pitches)))


# -------------------------------------------------------------------------------------------- instrument names
@cache
def _gm_names() -> tuple[str, ...]:
    from pretty_midi.constants import INSTRUMENT_MAP  # General MIDI names, from pretty_midi's table

    return tuple(INSTRUMENT_MAP)


def gm_name(program: int, is_drum: bool = False) -> str:
    """The General MIDI name of ``program`` (0..127), or ``"Drums"`` for a drum track."""
    if is_drum:
        return "Drums"
    names = _gm_names()
    return names[program] if 0 <= program < len(names) else f"Program {program}"
