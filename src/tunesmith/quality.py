"""Is a generated sample music? The checks a sample passes before it is written.

A sample is refused when it is *empty* (no note), *degenerate* (silent over most of the piece, fewer notes than
bars, or one pitch over most of its notes: a rest or single-pitch loop) or *broken* (a note lasting longer than
``MAX_NOTE_BARS`` bars, or fewer than half the asked length reached). The reason comes back as one line.
"""

from __future__ import annotations

from collections import Counter

from symusic import Score

MIN_SOUNDING = 0.5  # share of the piece during which some note sounds
MAX_PITCH_SHARE = 0.8  # share of the pitched notes one pitch may take
MIN_NOTES_FOR_PITCH_CHECK = 6
MAX_NOTE_BARS = 16


def sounding_share(score: Score, start: float, end: float) -> float:
    """The share of ``[start, end)`` during which at least one note sounds (the union of note intervals)."""
    if end <= start:
        return 0.0
    spans = sorted(
        (max(float(n.time), start), min(float(n.time + n.duration), end))
        for t in score.tracks
        for n in t.notes
        if n.time < end and n.time + n.duration > start
    )
    covered, reach = 0.0, start
    for a, b in spans:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    return covered / (end - start)


def absurd_note(score: Score, bar: float) -> str | None:
    """A reason when a note lasts longer than ``MAX_NOTE_BARS`` bars (a broken duration), else None."""
    longest = max((float(n.duration) for t in score.tracks for n in t.notes), default=0.0)
    if longest > MAX_NOTE_BARS * bar:
        return f"broken: a note lasts {longest / bar:,.0f} bars"
    return None


def check_new_music(score: Score, start: float, end: float, bar: float) -> str | None:
    """Why the music of ``score`` in ``[start, end)`` (quarter notes) is not a sample worth writing, or None."""
    notes = [n for t in score.tracks for n in t.notes if start <= n.time < end]
    if not notes:
        return "empty: no note"
    share = sounding_share(score, start, end)
    if share < MIN_SOUNDING:
        return f"degenerate: silent over {1 - share:.0%} of the piece (a rest loop)"
    bars = (end - start) / bar
    if len(notes) < bars:
        return f"degenerate: {len(notes)} notes in {bars:.1f} bars"
    pitched = [n.pitch for t in score.tracks if not t.is_drum for n in t.notes if start <= n.time < end]
    if len(pitched) >= MIN_NOTES_FOR_PITCH_CHECK:
        pitch, count = Counter(pitched).most_common(1)[0]
        if count / len(pitched) > MAX_PITCH_SHARE:
            return f"degenerate: {count / len(pitched):.0%} of the notes are pitch {pitch} (a single-pitch loop)"
    return None
