"""Lengths of generated music: ``--length`` parsed, bounded, measured on a score and cut to, after a primer.

A length counts the music generated *after* the primer: a kept primer (a user's file) is measured alone first, and
the new music is what follows its end (bars, seconds) or its notes (notes). ``LengthCheck`` tells generation when a
row has enough, decoding it only when its encoding's bound (``Tokenizer.reach``) says it may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunesmith.errors import TunesmithError

if TYPE_CHECKING:  # for the annotations only: generate's options parse --length without symusic
    from symusic import Score

    from tunesmith.encodings.base import Reach, Tokenizer

UNITS = {"": "tokens", "tokens": "tokens", "notes": "notes", "bars": "bars", "s": "seconds", "seconds": "seconds"}
# A generous token budget per unit asked for: the 71 Bollywood songs as REMI events with programs (every track in one
# stream) take a median of 191 tokens a bar, 393 at the 90th percentile, 625 at the 99th (1,430 at most), so 256 a
# bar stopped songs as dense as the real ones short; a second is half a bar at 120 BPM.
TOKENS_PER_UNIT = {"notes": 24, "bars": 1024, "seconds": 512}
MIN_TOKENS_PER_UNIT = {"notes": 2, "bars": 16, "seconds": 8}  # no encoding writes a unit in fewer tokens than this
DEFAULT_LENGTH = "512"  # --length when none is given
MAX_TOKENS = 50_000  # per sample: the output tensor, the checks and the files stay small at this size


def parse_length(text: str) -> tuple[int, str]:
    """``"512"`` -> (512, "tokens"); ``"200notes"``, ``"32bars"``, ``"60s"`` likewise; bounded by ``MAX_TOKENS``."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in UNITS or int(match.group(1)) < 1:
        raise TunesmithError(f"bad --length {text!r}: a positive number of tokens, or like 200notes, 32bars, 60s")
    amount, unit = int(match.group(1)), UNITS[match.group(2)]
    if amount * MIN_TOKENS_PER_UNIT.get(unit, 1) > MAX_TOKENS:
        most = ", ".join(f"{MAX_TOKENS // n:,} {u}" for u, n in MIN_TOKENS_PER_UNIT.items())
        raise TunesmithError(
            f"--length {text} is more than one sample can hold: at most {MAX_TOKENS:,} tokens ({most}); "
            "generate several samples instead"
        )
    return amount, unit


def token_budget(amount: int, unit: str) -> int:
    """The most tokens sampled for a length (a length in notes, bars or seconds usually stops earlier)."""
    return amount if unit == "tokens" else min(amount * TOKENS_PER_UNIT[unit], MAX_TOKENS)


def note_end(score: Score) -> float:
    """The time the last note ends (0 for a score without notes)."""
    return max((float(n.time + n.duration) for t in score.tracks for n in t.notes), default=0.0)


def note_count(score: Score) -> int:
    """All notes of all tracks."""
    return sum(len(t.notes) for t in score.tracks)


@dataclass(frozen=True)
class Meter:
    """Tempo and bar length of the output, to turn bars and seconds into quarter notes."""

    qpm: float = 120.0
    bar: float = 4.0  # quarter notes per bar

    def quarters(self, amount: float, unit: str) -> float:
        """``amount`` bars or seconds in quarter notes."""
        return amount * self.bar if unit == "bars" else amount * self.qpm / 60.0

    def measure(self, quarters: float, unit: str) -> float:
        """A span of quarter notes in bars or seconds."""
        return quarters / self.bar if unit == "bars" else quarters * 60.0 / self.qpm


@dataclass(frozen=True)
class Start:
    """Where new music begins in a decoded sequence: after the kept primer's notes and end."""

    notes: int = 0
    time: float = 0.0

    @classmethod
    def of(cls, primer: Score | None) -> Start:
        """The start after ``primer`` (None: no primer in the output)."""
        return cls() if primer is None else cls(note_count(primer), note_end(primer))


def bar_start(score: Score, bar: int) -> float:
    """The time bar number ``bar`` (from 0) starts, in quarter notes, by ``score``'s time signatures (4/4 before any).

    A bar is as long as the time signature in force where it starts, as MidiTok's REMI decodes its bar tokens.
    """
    signatures = sorted((float(ts.time), ts.numerator * 4 / ts.denominator) for ts in score.time_signatures)
    time, length = 0.0, 4.0
    for _ in range(bar):
        while signatures and signatures[0][0] <= time + 1e-9:
            length = signatures.pop(0)[1]
        time += length
    return time


def new_length(score: Score, unit: str, start: Start, meter: Meter) -> float:
    """How much new music ``score`` holds after ``start``, in ``unit`` (notes, bars or seconds)."""
    if unit == "notes":
        return note_count(score) - start.notes
    return meter.measure(max(note_end(score) - start.time, 0.0), unit)


@dataclass(frozen=True)
class Target:
    """The length asked for: ``amount`` of ``unit`` of new music, bars and seconds measured with ``meter``."""

    amount: int
    unit: str
    meter: Meter


# A decoded score holds its times as float32, so its last note may end a few parts in 10^8 later than the exact time
# a bound computes; this much more keeps the bound above it.
FLOAT32_SLACK = 1e-6


class LengthCheck:
    """``sample``'s ``until`` for a length in notes, bars or seconds: which rows hold more new music than asked.

    The exact test decodes a row's whole sequence and measures it (``new_length``); done at every check (every 64
    tokens), that is O(n^2) decoding for a sample of n tokens. Each row here keeps its encoding's ``Reach`` instead,
    fed only the ids drawn since the last check, and is decoded only once the bound says it may have passed the
    length. The bound is never below what decoding measures, so the answer is the exact test's at every check (every
    row stops at the same token) and a row is decoded about once, at its end. A row that has drawn nothing decoded
    since its last decode (a finished row's padding) keeps that decode's answer. An encoding without a bound is
    decoded at every check.
    """

    def __init__(self, tokenizer: Tokenizer, prefixes: list[list[int]], target: Target, starts: list[Start]) -> None:
        """``prefixes``: the ids each row's decoded sequence starts with, before what ``sample`` draws after it."""
        self.tokenizer, self.target, self.starts = tokenizer, target, starts
        self.rows = [list(prefix) for prefix in prefixes]
        self.reaches = [tokenizer.reach() for _ in prefixes]
        for reach, prefix in zip(self.reaches, prefixes):
            reach.add(prefix)
        self.drawn = 0  # how many ids of each row the rows and bounds hold after the prefix
        self.decodes = 0
        self._last: list[tuple[int, bool]] = [(-1, False)] * len(prefixes)  # (tokens decoded, answer) of each row

    def __call__(self, out) -> list[bool]:
        """``out``: (B, T) ids drawn so far after the prefixes (a tensor); T only grows from one call to the next."""
        new = out[:, self.drawn :].tolist()
        self.drawn = out.shape[1]
        done = []
        for i, (row, reach, start, ids) in enumerate(zip(self.rows, self.reaches, self.starts, new)):
            row.extend(ids)
            reach.add(ids)
            if self._most(reach, start) <= self.target.amount:
                done.append(False)
                continue
            if self._last[i][0] != reach.tokens:  # else it decodes to what it did last time
                self._last[i] = (reach.tokens, self._exact(row, start))
            done.append(self._last[i][1])
        return done

    def _most(self, reach: Reach, start: Start) -> float:
        """The most new music the row can hold, by its bound."""
        unit, meter = self.target.unit, self.target.meter
        if unit == "notes":
            return reach.notes - start.notes
        return meter.measure(max(reach.end * (1 + FLOAT32_SLACK) - start.time, 0.0), unit)

    def _exact(self, ids: list[int], start: Start) -> bool:
        self.decodes += 1
        result = self.tokenizer.try_decode(ids)
        target = self.target
        return result.ok and new_length(result.score, target.unit, start, target.meter) > target.amount


def end_of(score: Score, amount: int, unit: str, start: Start, meter: Meter) -> float:
    """The time where ``amount`` new notes, bars or seconds after ``start`` end (``inf`` if the score is shorter).

    In notes: the next onset after the last asked note, so a chord is never cut in two.
    """
    if unit == "notes":
        onsets = sorted(float(n.time) for t in score.tracks for n in t.notes)
        last = start.notes + amount - 1
        later = [t for t in onsets[last + 1 :] if t > onsets[last]] if len(onsets) > last >= 0 else []
        return later[0] if later else float("inf")
    return start.time + meter.quarters(amount, unit)


def clip(score: Score, end: float) -> Score:
    """A copy without anything that starts at or after ``end``; notes still sounding there are shortened."""
    out = score.copy()
    for track in out.tracks:
        kept = [n for n in track.notes if n.time < end]
        for n in kept:
            n.duration = min(n.duration, end - n.time)
        track.notes = type(track.notes)(kept)
        for name in ("controls", "pitch_bends", "pedals", "lyrics"):
            events = getattr(track, name, None)
            if events is not None and len(events):
                setattr(track, name, type(events)([e for e in events if e.time < end]))
    for name in ("tempos", "time_signatures", "key_signatures", "markers"):
        events = getattr(out, name)
        if len(events):
            setattr(out, name, type(events)([e for e in events if e.time < end or e.time == 0]))
    return out


def drop_before(score: Score, start: Start, unit: str) -> Score:
    """The score without the primer's notes, moved to begin at time 0 (``--no-primer-in-output``)."""
    out = score.copy()
    if unit == "notes":
        order = sorted((float(n.time), ti, ni) for ti, t in enumerate(score.tracks) for ni, n in enumerate(t.notes))
        gone = {(ti, ni) for _, ti, ni in order[: start.notes]}
        shift = order[start.notes][0] if len(order) > start.notes else start.time
    else:
        gone = {(ti, ni) for ti, t in enumerate(score.tracks) for ni, n in enumerate(t.notes) if n.time < start.time}
        shift = start.time
    for ti, track in enumerate(out.tracks):
        kept = [n for ni, n in enumerate(track.notes) if (ti, ni) not in gone]
        for n in kept:
            n.time = max(n.time - shift, 0.0)
        track.notes = type(track.notes)(kept)
    return out
