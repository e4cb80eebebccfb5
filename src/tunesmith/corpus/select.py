"""Choosing which tracks of a song become training examples (``dominant``, ``all``, ``merge``)."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

from symusic import Score

from tunesmith.config import SelectConfig
from tunesmith.music import gm_name


@dataclass
class TrackInfo:
    """What the report says about one kept track."""

    program: int
    instrument: str
    name: str
    notes: int
    is_drum: bool

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def track_line(track, name: str) -> dict:
    """A track's report line under ``name``: ``TrackInfo``'s fields, in its order, as plain data."""
    program, is_drum = track.program, bool(track.is_drum)
    return {
        "program": program,
        "instrument": gm_name(program, is_drum),
        "name": name,
        "notes": track.note_num(),
        "is_drum": is_drum,
    }


@functools.lru_cache(maxsize=4096)  # a corpus repeats its track names ("Soprano", "Piano"): clean each once
def clean_track_name(name: str, program: int, is_drum: bool) -> str:
    """A printable track name; a missing or unreadable one becomes the General MIDI instrument name."""
    name = name or ""
    printable = (name if name.isprintable() else "".join(ch for ch in name if ch.isprintable())).strip()
    if not any(ch.isalnum() for ch in printable):
        return gm_name(program, is_drum)
    return printable[:64]


def _eligible(score: Score, config: SelectConfig) -> list:
    """The tracks with at least ``config.min_notes`` notes (and one) that ``config``'s drums and programs admit."""
    least, keep_drums, programs = max(1, config.min_notes), config.drums == "keep", config.programs
    eligible = []
    for track in score.tracks:
        if track.note_num() < least:
            continue
        if track.is_drum:
            if keep_drums:
                eligible.append(track)
        elif programs is None or track.program in programs:
            eligible.append(track)
    return eligible


def _with_tracks(score: Score, tracks) -> Score:
    out = Score(score.ticks_per_quarter)
    out.tempos = score.tempos.copy()
    out.time_signatures = score.time_signatures.copy()
    out.key_signatures = score.key_signatures.copy()
    for track in tracks:
        kept = track.copy()
        kept.name = clean_track_name(track.name, track.program, track.is_drum)
        out.tracks.append(kept)
    return out


def _groups(score: Score, config: SelectConfig) -> list[list]:
    """The tracks of each example ``score`` gives under ``config`` (see ``select_tracks``)."""
    eligible = _eligible(score, config)
    if config.instruments == "dominant":
        pitched = [t for t in eligible if not t.is_drum]
        if not pitched:
            return []
        # Ties go to the earlier track, so the choice is stable across runs.
        best = max(range(len(pitched)), key=lambda i: (pitched[i].note_num(), -i))
        return [[pitched[best]]]
    if config.instruments == "all":
        return [[track] for track in eligible]
    return [eligible] if eligible else []


def select_tracks(score: Score, config: SelectConfig) -> list[Score]:
    """The examples ``score`` gives under ``config``; an empty list when no track qualifies.

    ``dominant`` considers pitched tracks only (drums are never a melody); ``all`` and ``merge`` keep drum tracks
    too when ``config.drums == "keep"``. Tracks below ``min_notes`` are dropped in every mode but ``dominant``,
    whose single track must still reach ``min_notes``.
    """
    return [_with_tracks(score, group) for group in _groups(score, config)]


def select_midi(score: Score, config: SelectConfig) -> list[tuple[bytes, list[dict]]]:
    """The examples of ``select_tracks`` as standard MIDI files, each with its tracks' ``TrackInfo.to_dict()``.

    The same bytes as ``select_tracks(score, config)[k].dumps_midi()``, at half the cost: the examples are only
    written, so one score is refilled with shallow copies of the tracks (renamed) instead of building a deep copy
    per example, and each track's report line is made from the source track as it is copied. ``score`` is left as
    it was.
    """
    groups = _groups(score, config)
    if not groups:
        return []
    out = Score(score.ticks_per_quarter)
    out.tempos = score.tempos
    out.time_signatures = score.time_signatures
    out.key_signatures = score.key_signatures
    examples = []
    for group in groups:
        tracks, infos = [], []
        for track in group:
            kept = track.copy(deep=False)  # its own name, the same notes
            kept.name = name = clean_track_name(track.name, track.program, track.is_drum)
            tracks.append(kept)
            infos.append(track_line(track, name))  # track_infos' lines, without the dataclass in between
        out.tracks = tracks
        examples.append((out.dumps_midi(), infos))
    return examples


def track_infos(score: Score) -> list[TrackInfo]:
    """Report lines for the tracks of a selected example."""
    return [TrackInfo(**track_line(t, t.name)) for t in score.tracks]
