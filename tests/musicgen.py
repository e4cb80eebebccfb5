"""Tiny music made in code for the tests: scores, melodies and multi-track songs written as MIDI."""

from __future__ import annotations

import random
from pathlib import Path

from symusic import Note, Score, Tempo, TimeSignature, Track


def make_score(
    tracks: list[dict],
    tpq: int = 480,
    qpm: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
) -> Score:
    """A tick-time score; each track is ``{"program", "is_drum", "name", "notes": [(beat, beats, pitch, vel)]}``."""
    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=qpm, ttype="tick"))
    score.time_signatures.append(TimeSignature(0, *time_signature, ttype="tick"))
    for spec in tracks:
        track = Track(spec.get("name", ""), spec.get("program", 0), spec.get("is_drum", False), ttype="tick")
        for beat, beats, pitch, velocity in spec["notes"]:
            track.notes.append(Note(round(beat * tpq), max(1, round(beats * tpq)), pitch, velocity, "tick"))
        score.tracks.append(track)
    return score


def melody(n: int = 16, start_pitch: int = 60, seed: int = 0, step: float = 0.5) -> list[tuple]:
    """A deterministic random walk of ``n`` notes, ``step`` beats apart."""
    rng = random.Random(seed)
    pitch, notes = start_pitch, []
    for i in range(n):
        pitch = min(100, max(30, pitch + rng.choice([-2, -1, 0, 1, 2, 3])))
        notes.append((i * step, step, pitch, 64 + rng.randrange(40)))
    return notes


def write_song(path: Path, seed: int = 0, with_drums: bool = True) -> Path:
    """A small multi-track General MIDI song: melody, bass, pad chords and (optionally) drums."""
    tracks = [
        {"name": "Lead", "program": 73, "notes": melody(24, 72, seed)},
        {"name": "Bass", "program": 33, "notes": [(b * 2.0, 2.0, 40 + (b % 3), 90) for b in range(6)]},
        {"name": "", "program": 48, "notes": [(b * 4.0, 4.0, p, 70) for b in range(3) for p in (60, 64, 67)]},
    ]
    if with_drums:
        tracks.append(
            {"name": "Drums", "program": 0, "is_drum": True, "notes": [(b, 0.25, 36, 100) for b in range(12)]}
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    make_score(tracks).dump_midi(str(path))
    return path


def piece_of(notes: list[tuple], style: str = "default", program: int = 0, tpq: int = 480):
    """A ``Piece`` (quarter-time score) of one track from ``(beat, beats, pitch, velocity)`` tuples."""
    from tunesmith.music import Piece

    score = make_score([{"program": program, "notes": notes}], tpq=tpq).to("quarter")
    return Piece(score, id=f"p{len(notes)}", style=style)


def note_set(score, grid: float | None = None) -> list[tuple]:
    """Sorted ``(onset, duration, pitch)`` of the pitched notes of a quarter-time score, rounded to ``grid``."""
    out = []
    for track in score.tracks:
        if track.is_drum:
            continue
        for n in track.notes:
            t, d = (
                (round(n.time / grid), round(n.duration / grid)) if grid else (round(n.time, 4), round(n.duration, 4))
            )
            out.append((t, d, n.pitch))
    return sorted(out)


def key_song(
    path: Path, tonic: int, minor: bool, seed: int = 0, bars: int = 8, qpm: float = 120.0, with_drums: bool = True
) -> Path:
    """A song in a known key: a melody on the scale of ``tonic`` (the tonic triad likelier), a bass on the tonic and
    dominant, and (optionally) a kick on every beat; ``tonic`` is a pitch class, C major and A minor at their
    usual octave."""
    steps = [0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11]
    weights = [4, 1, 3, 1, 3, 1, 1]  # degrees 1, 3 and 5 twice as likely or more
    rng = random.Random(seed)
    base = 60 + tonic if tonic < 6 else 48 + tonic
    melody_notes = []
    for i in range(bars * 8):
        degree = rng.choices(range(7), weights)[0]
        melody_notes.append((i * 0.5, 0.5, base + 12 + steps[degree], 70 + rng.randrange(30)))
    bass = [(b * 4.0 + h * 2.0, 2.0, base - 12 + (0 if h == 0 else 7), 90) for b in range(bars) for h in (0, 1)]
    tracks = [{"name": "Lead", "program": 73, "notes": melody_notes}, {"name": "Bass", "program": 33, "notes": bass}]
    if with_drums:
        tracks.append({"program": 0, "is_drum": True, "notes": [(b, 0.25, 36, 100) for b in range(bars * 4)]})
    path.parent.mkdir(parents=True, exist_ok=True)
    make_score(tracks, qpm=qpm).dump_midi(str(path))
    return path
