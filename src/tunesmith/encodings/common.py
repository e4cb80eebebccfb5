"""Note arrays in and out of scores: what the hand-written encodings share."""

from __future__ import annotations

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, TimeUnit, Track

DEFAULT_QPM = 120.0


def pitched_notes(score: Score) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Time, duration (quarters), pitch and velocity of every pitched note, sorted by time then pitch."""
    if score.ttype != TimeUnit.quarter:  # pieces arrive in quarters; convert only what does not
        score = score.to("quarter")
    parts = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not parts:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, np.int64), np.zeros(0, np.int64)
    time = np.concatenate([p["time"] for p in parts]).astype(np.float64)
    duration = np.concatenate([p["duration"] for p in parts]).astype(np.float64)
    pitch = np.concatenate([p["pitch"] for p in parts]).astype(np.int64)
    velocity = np.concatenate([p["velocity"] for p in parts]).astype(np.int64)
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
