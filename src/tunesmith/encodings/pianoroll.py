"""``pianoroll``: frames on a time grid (the Bollywood seed and the JSB benchmark).

Mono mode: one token per frame, the lead (highest) pitch when it starts, ``_`` while it holds, ``R`` for silence.
Poly mode: each frame is its sounding pitches in ascending order followed by the frame-end token ``|``, so a
sequence model gives each frame an exact probability (the sum of its tokens' log-probabilities). With
``mark_onsets`` a pitch that starts in the frame is written ``+C4`` and a held one ``C4``, so repeated notes survive;
the JSB data does not distinguish them, and its recipe turns the marks off.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from symusic import Score

from tunesmith.encodings.base import EncodingConfig, Reach, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, build_score, parse_pitch_name, pitch_name, pitched_notes

HOLD, REST, FRAME_END, ONSET = "_", "R", "|", "+"


@dataclass
class PianoRollConfig(EncodingConfig):
    """``grid``: frame length in quarter notes (0.25: a 16th note); ``mode``: ``mono`` or ``poly``."""

    grid: float = 0.25
    mode: str = "poly"
    mark_onsets: bool = True
    velocity: int = 80

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("mono", "poly"):
            raise TunesmithError(f"pianoroll mode is 'mono' or 'poly', not {self.mode!r}")
        if not self.grid > 0:
            raise TunesmithError("pianoroll needs grid > 0")


def frames(time, duration, pitch, grid: float) -> tuple[int, list[tuple[int, int, int]]]:
    """Notes as ``(start frame, end frame, pitch)`` on the grid, and the number of frames."""
    start = np.round(np.asarray(time) / grid).astype(np.int64)
    end = np.maximum(start + 1, np.round((np.asarray(time) + np.asarray(duration)) / grid).astype(np.int64))
    n = int(end.max()) if end.size else 0
    return n, list(zip(start.tolist(), end.tolist(), np.asarray(pitch).tolist()))


class PianoRollTokenizer(Tokenizer):
    """Frames of a piano roll, monophonic or polyphonic."""

    name = "pianoroll"
    description = "time-grid frames: mono (lead pitch, hold, rest) or poly (sounding pitches + frame end)"
    config_class = PianoRollConfig
    config: PianoRollConfig

    @property
    def frame_end_id(self) -> int | None:
        """The ``|`` that closes each poly frame (a mono frame is one token: no frame end)."""
        return self.index.get(FRAME_END) if self.config.mode == "poly" else None

    def tokens(self, piece: Piece) -> list[str]:
        time, duration, pitch, _ = pitched_notes(piece.score)
        n, notes = frames(time, duration, pitch, self.config.grid)
        return self._mono(n, notes) if self.config.mode == "mono" else self._poly(n, notes)

    def _mono(self, n: int, notes) -> list[str]:
        lead = np.full(n, -1, dtype=np.int64)
        lead_start = np.full(n, -1, dtype=np.int64)
        for start, end, p in sorted(notes, key=lambda x: (x[2], x[0])):  # higher pitches overwrite lower
            lead[start:end] = p
            lead_start[start:end] = start
        out = []
        for f in range(n):
            if lead[f] < 0:
                out.append(REST)
            elif f > 0 and lead[f] == lead[f - 1] and lead_start[f] == lead_start[f - 1]:
                out.append(HOLD)
            else:
                out.append(pitch_name(int(lead[f])))
        return out

    def _poly(self, n: int, notes) -> list[str]:
        sounding: list[dict[int, bool]] = [{} for _ in range(n)]
        for start, end, p in notes:
            for f in range(start, end):
                sounding[f][p] = sounding[f].get(p, False) or f == start
        mark = self.config.mark_onsets
        out = []
        for frame in sounding:
            for p in sorted(frame):
                out.append(f"{ONSET if mark and frame[p] else ''}{pitch_name(p)}")
            out.append(FRAME_END)
        return out

    def score(self, tokens: list[str]) -> Score:
        grid, vel = self.config.grid, self.config.velocity
        notes: list[tuple[float, float, int, int]] = []
        if self.config.mode == "mono":
            current: list | None = None
            for f, token in enumerate(tokens):
                if token == HOLD and current is not None:
                    current[1] += 1
                    continue
                current = None
                if token not in (REST, HOLD):
                    current = [f, 1, parse_pitch_name(token)]
                    notes.append(current)  # type: ignore[arg-type]
            return build_score([(s * grid, d * grid, p, vel) for s, d, p in notes])
        active: dict[int, list] = {}
        frame, seen = 0, set()
        for token in tokens:
            if token == FRAME_END:
                for p in [p for p in active if p not in seen]:
                    del active[p]
                frame, seen = frame + 1, set()
                continue
            onset = token.startswith(ONSET)
            p = parse_pitch_name(token.lstrip(ONSET))
            seen.add(p)
            if p in active and not onset:
                active[p][1] += 1
            else:
                active[p] = [frame, 1, p]
                notes.append(active[p])  # type: ignore[arg-type]
        return build_score([(s * grid, d * grid, p, vel) for s, d, p in notes])

    def reach(self) -> Reach:
        return PianoRollReach(self)

    def transpose_token(self, token: str, semitones: int) -> str | None:
        if token in (HOLD, REST, FRAME_END):
            return token
        prefix = ONSET if token.startswith(ONSET) else ""
        p = parse_pitch_name(token.lstrip(ONSET)) + semitones
        return f"{prefix}{pitch_name(p)}" if 0 <= p <= 127 else None

    def pitch_classes(self, token: str) -> tuple[int, ...]:
        """A pitch token's class (held or starting); none for hold, rest and frame end."""
        if token in (HOLD, REST, FRAME_END):
            return ()
        return (parse_pitch_name(token.lstrip(ONSET)) % 12,)

    def distance(self, a: str, b: str) -> float | None:
        specials = (HOLD, REST, FRAME_END)
        if a in specials or b in specials or a.startswith(ONSET) != b.startswith(ONSET):
            return None
        return abs(parse_pitch_name(a.lstrip(ONSET)) - parse_pitch_name(b.lstrip(ONSET)))

    def neighbour_key(self, token: str) -> tuple[Hashable, float] | None:
        if token in (HOLD, REST, FRAME_END):
            return None
        return token.startswith(ONSET), parse_pitch_name(token.lstrip(ONSET))


class PianoRollReach(Reach):
    """``score``'s frames: the notes a token starts, and the frame each sounding note lasts to."""

    def __init__(self, tokenizer: PianoRollTokenizer) -> None:
        super().__init__(tokenizer)
        self._grid, self._mono = tokenizer.config.grid, tokenizer.config.mode == "mono"
        self.notes, self.end = 0, 0.0
        self._frame = 0
        self._holding = False  # mono: a note sounds that a hold extends
        self._ends: dict[int, int] = {}  # poly: the frame each sounding pitch ends at
        self._seen: set[int] = set()  # poly: the pitches of the open frame

    def see(self, token: str) -> None:
        if self._mono:
            self._frame += 1
            if token == HOLD and self._holding:
                self.end = self._frame * self._grid
                return
            self._holding = token not in (REST, HOLD)
            if self._holding:
                parse_pitch_name(token)  # a token that is no pitch does not decode
                self.notes += 1
                self.end = self._frame * self._grid
            return
        if token == FRAME_END:
            self._ends = {p: end for p, end in self._ends.items() if p in self._seen}
            self._frame, self._seen = self._frame + 1, set()
            return
        p = parse_pitch_name(token.lstrip(ONSET))
        self._seen.add(p)
        if p in self._ends and not token.startswith(ONSET):
            self._ends[p] += 1
        else:
            self._ends[p] = self._frame + 1
            self.notes += 1
        self.end = max(self.end, self._ends[p] * self._grid)
