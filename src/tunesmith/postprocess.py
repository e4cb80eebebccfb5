"""Post-processing: instruments by pitch range, tempo and time signature, one track per instrument.

Instrument maps, their presets and TOML files are in ``tunesmith.instruments``; here they are applied.
"""

from __future__ import annotations

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, Track

from tunesmith.errors import TunesmithError
from tunesmith.instruments import InstrumentMap
from tunesmith.music import gm_name


def _pitched_notes(score: Score) -> list[Note]:
    return [note for track in score.tracks if not track.is_drum for note in track.notes]


def _bands(pitches: np.ndarray, mapping: InstrumentMap) -> np.ndarray:
    """The part index of every pitch."""
    parts = mapping.parts
    if mapping.split == "range":
        band = np.full(len(pitches), -1)
        for i, part in enumerate(parts):
            band[(pitches >= part.low) & (pitches <= part.high) & (band < 0)] = i
        return band
    distinct = np.unique(pitches)
    if len(distinct) < len(parts):  # fewer pitches than parts: the top parts share the highest pitches
        return np.searchsorted(distinct, pitches)
    cuts = np.quantile(pitches, np.arange(1, len(parts)) / len(parts))
    return np.searchsorted(cuts, pitches, side="right")


def assign_instruments(score: Score, mapping: InstrumentMap) -> Score:
    """A copy of ``score`` with one track per part holding the pitched notes of its range; drums stay as they are.

    Notes outside every range (``split = "range"``) are dropped.
    """
    out = Score(score.ticks_per_quarter, ttype=score.ttype)
    out.tempos = score.tempos.copy()
    out.time_signatures = score.time_signatures.copy()
    out.key_signatures = score.key_signatures.copy()
    notes = _pitched_notes(score)
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)
    bands = _bands(pitches, mapping) if len(notes) else np.zeros(0, dtype=np.int64)
    for i, part in enumerate(mapping.parts):
        chosen = [notes[k] for k in np.flatnonzero(bands == i)]
        if not chosen:
            continue
        track = Track(part.name or gm_name(part.program), part.program, False, ttype=score.ttype)
        for note in sorted(chosen, key=lambda n: (n.time, n.pitch)):
            track.notes.append(note.copy())
        out.tracks.append(track)
    for track in score.tracks:
        if track.is_drum:
            out.tracks.append(track.copy())
    return out


def set_meter(score: Score, qpm: float | None, time_signature: tuple[int, int] | None) -> Score:
    """Replace the tempo and time signature events (``None`` keeps what the score has, 120 / 4/4 if nothing)."""
    out = score.copy()
    if qpm is not None or not len(out.tempos):
        out.tempos = [Tempo(0, qpm=qpm or 120.0, ttype=out.ttype)]
    if time_signature is not None or not len(out.time_signatures):
        out.time_signatures = [TimeSignature(0, *(time_signature or (4, 4)), ttype=out.ttype)]
    return out


def parse_time_signature(text: str) -> tuple[int, int]:
    """``"3/4"`` -> (3, 4)."""
    try:
        num, den = (int(x) for x in text.split("/"))
    except ValueError:
        raise TunesmithError(f"bad time signature {text!r}: expected N/D like 4/4 or 6/8") from None
    if num < 1 or den not in (1, 2, 4, 8, 16, 32):
        raise TunesmithError(f"bad time signature {text!r}: N >= 1 and D a power of two up to 32")
    return num, den


MELODIC_CHANNELS = 15  # 16 MIDI channels less channel 10, which General MIDI keeps for drums


def fit_channels(score: Score) -> tuple[Score, list[str]]:
    """A copy every General MIDI player sounds as written: one track per program, at most 15 plus one drum track.

    Tracks of the same program are merged (each MIDI channel holds one program for the whole file), named after
    their General MIDI instrument; all drum tracks become one, last, so that it lands on channel 10. With more
    programs than melodic channels the 15 with most notes are kept; the returned notes say what was dropped.
    """
    melodic: dict[int, list[Note]] = {}
    drums: list[Note] = []
    for track in score.tracks:
        if track.is_drum:
            drums.extend(track.notes)
        else:
            melodic.setdefault(int(track.program), []).extend(track.notes)
    melodic = {p: notes for p, notes in melodic.items() if notes}
    notes: list[str] = []
    if len(melodic) > MELODIC_CHANNELS:
        ranked = sorted(melodic, key=lambda p: (-len(melodic[p]), p))
        dropped = ranked[MELODIC_CHANNELS:]
        lost = sum(len(melodic[p]) for p in dropped)
        notes.append(
            f"{len(melodic)} programs for {MELODIC_CHANNELS} melodic MIDI channels: kept the {MELODIC_CHANNELS} with "
            f"most notes, dropped {len(dropped)} ({', '.join(gm_name(p) for p in sorted(dropped))}; {lost} notes)"
        )
        melodic = {p: melodic[p] for p in ranked[:MELODIC_CHANNELS]}
    out = Score(score.ticks_per_quarter, ttype=score.ttype)
    out.tempos = score.tempos.copy()
    out.time_signatures = score.time_signatures.copy()
    out.key_signatures = score.key_signatures.copy()
    groups = [(gm_name(p), p, False, melodic[p]) for p in sorted(melodic)]
    if drums:
        groups.append((gm_name(0, is_drum=True), 0, True, drums))
    for name, program, is_drum, group in groups:
        track = Track(name, program, is_drum, ttype=score.ttype)
        for note in sorted(group, key=lambda n: (n.time, n.pitch, n.duration)):
            track.notes.append(note.copy())
        out.tracks.append(track)
    return out, notes
