"""``notechord``: one token per onset, a note (``C4``) or chord (``C4.E4.G4``) with its duration (``C4:1``).

The seeds' note/chord vocabulary (bidirectional-LSTM and LSTM/GRU seeds), with the rhythm they dropped put back:
each token lasts its duration on a grid, rests are tokens (``R:0.5``), and decoding lays tokens end to end, so onsets
come back exactly on the grid. A chord lasts as long as its longest note, cut at the next onset (the format is a
sequence of events, one sounding at a time); longer events are cut at ``max_duration`` and followed by rests.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from symusic import Score

from tunesmith.encodings.base import EncodingConfig, Reach, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, build_score, parse_pitch_name, pitch_name, pitched_notes

REST = "R"


@dataclass
class NoteChordConfig(EncodingConfig):
    """``grid``: the duration step in quarter notes; ``max_duration``: the longest single token, in quarters."""

    grid: float = 0.25
    max_duration: float = 8.0
    velocity: int = 80

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.grid > 0 or self.max_duration < self.grid:
            raise TunesmithError("notechord needs grid > 0 and max_duration >= grid")


class NoteChordTokenizer(Tokenizer):
    """Notes and chords with durations, plus rests."""

    name = "notechord"
    description = "one token per onset: note or chord with its duration on a grid, rests as tokens"
    config_class = NoteChordConfig
    config: NoteChordConfig

    def _units(self, quarters) -> np.ndarray:
        return np.round(np.asarray(quarters) / self.config.grid).astype(np.int64)

    def _fmt(self, units: int) -> str:
        return f"{units * self.config.grid:g}"

    def _rests(self, units: int, out: list[str]) -> None:
        max_units = round(self.config.max_duration / self.config.grid)
        while units > 0:
            step = min(units, max_units)
            out.append(f"{REST}:{self._fmt(step)}")
            units -= step

    def tokens(self, piece: Piece) -> list[str]:
        time, duration, pitch, _ = pitched_notes(piece.score)
        if time.size == 0:
            return []
        onsets = self._units(time)
        lengths = np.maximum(1, self._units(duration))
        starts, first = np.unique(onsets, return_index=True)
        bounds = [*first[1:], onsets.size]
        max_units = round(self.config.max_duration / self.config.grid)
        out: list[str] = []
        cursor = 0
        for i, (onset, lo, hi) in enumerate(zip(starts, first, bounds)):
            self._rests(int(onset) - cursor, out)
            length = int(lengths[lo:hi].max())
            if i + 1 < starts.size:
                length = min(length, int(starts[i + 1] - onset))
            length = min(length, max_units)
            chord = ".".join(pitch_name(int(p)) for p in np.unique(pitch[lo:hi]))
            out.append(f"{chord}:{self._fmt(length)}")
            cursor = int(onset) + length
        return out

    def _parse(self, token: str) -> tuple[list[int] | None, int]:
        name, _, dur = token.rpartition(":")
        units = round(float(dur) / self.config.grid)
        if units < 1:
            raise ValueError(f"bad duration in token {token!r}")
        return (None if name == REST else [parse_pitch_name(n) for n in name.split(".")]), units

    def score(self, tokens: list[str]) -> Score:
        notes = []
        cursor = 0
        grid = self.config.grid
        for token in tokens:
            pitches, units = self._parse(token)
            for p in pitches or ():
                notes.append((cursor * grid, units * grid, p, self.config.velocity))
            cursor += units
        return build_score(notes)

    def reach(self) -> Reach:
        return NoteChordReach(self)

    def transpose_token(self, token: str, semitones: int) -> str | None:
        pitches, units = self._parse(token)
        if pitches is None:
            return token
        shifted = [p + semitones for p in pitches]
        if not all(0 <= p <= 127 for p in shifted):
            return None
        return f"{'.'.join(pitch_name(p) for p in shifted)}:{self._fmt(units)}"

    def pitches(self, token: str) -> tuple[int, ...]:
        """Every note of a note or chord token, ascending; none for a rest."""
        pitches = self._pitch_set(token)[0]
        return tuple(sorted(pitches)) if pitches else ()

    def _pitch_set(self, token: str) -> tuple[frozenset[int] | None, int, int]:
        """``(pitches, top, units)`` of a token, parsed once (the nearest-token search asks for each many times)."""
        cache = self.__dict__.setdefault("_pitch_sets", {})
        if token not in cache:
            pitches, units = self._parse(token)
            cache[token] = (None, 0, units) if pitches is None else (frozenset(pitches), max(pitches), units)
        return cache[token]

    def distance(self, a: str, b: str) -> float | None:
        (pa, ta, ua), (pb, tb, ub) = self._pitch_set(a), self._pitch_set(b)
        if ua != ub or pa is None or pb is None:
            return None
        return len(pa ^ pb) + abs(ta - tb) / 128

    def neighbour_key(self, token: str) -> tuple[Hashable, float] | None:
        # |A ^ B| >= ||A| - |B||, so distance >= | (|A| + max A / 128) - (|B| + max B / 128) |.
        pitches, top, units = self._pitch_set(token)
        return None if pitches is None else (units, len(pitches) + top / 128)


class NoteChordReach(Reach):
    """``score``'s cursor: each token lasts its duration, and its notes end where it does."""

    def __init__(self, tokenizer: NoteChordTokenizer) -> None:
        super().__init__(tokenizer)
        self._parse, self._grid = tokenizer._parse, tokenizer.config.grid
        self.notes, self.end, self._cursor = 0, 0.0, 0

    def see(self, token: str) -> None:
        pitches, units = self._parse(token)
        self._cursor += units
        if pitches:
            self.notes += len(pitches)
            self.end = self._cursor * self._grid
