"""The 8-note pitch n-grams of a run's training split: what *Nothing copied* (issue 14) is judged by.

A note line is one track's pitches in onset order (pitch order within a chord; drum tracks left out): per track,
because a copied tune is a melody or a bass line, which a merged stream would hide under whatever the other tracks
play at the same time. Rhythm is ignored, so a tune copied with new note lengths still counts as copied; and the
training lines are indexed at every transposition the run trained with (a model that heard a song moved by 2
semitones may play it there).

``PitchNgrams`` holds the n-grams as one sorted ``uint64`` array, each n-gram packed one byte a pitch (first pitch in
the highest byte): exact, 8 bytes an n-gram where a Python set of tuples costs about 150, and every n-gram that
starts with a given prefix lies in one contiguous run, found by two binary searches (``next_pitches``), which is
what ``generate --no-copy`` (``tunesmith.copy_guard``) asks at every step. ``tunesmith evaluate`` measures with it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from symusic import Score

from tunesmith.data import TokenData, decoded_scores, fly_transpose

NGRAM = 8
MAX_PITCH = 127  # MIDI: a shifted n-gram that leaves 0..127 can never be played, and is not kept
_BITS = 8  # one byte a pitch


def pitch_lines(score: Score) -> list[list[int]]:
    """Each pitched track's pitches in onset order (ascending within a chord); drum tracks and empty ones left out."""
    lines = []
    for track in score.tracks:
        if track.is_drum or not len(track.notes):
            continue
        notes = track.notes.numpy()
        order = np.lexsort((notes["pitch"], notes["time"]))
        lines.append(notes["pitch"][order].astype(np.int64).tolist())
    return lines


def training_shifts(meta: dict) -> range:
    """The transpositions a run trained with (``DATA_DIR`` meta): on the fly; none when prepare wrote the copies."""
    lo, hi = fly_transpose(meta)
    return range(lo, hi + 1)


def pack(pitches: Sequence[int]) -> int:
    """Pitches as one integer, one byte each, the first in the highest byte (the order ``PitchNgrams`` sorts by)."""
    value = 0
    for pitch in pitches:
        value = (value << _BITS) | int(pitch)
    return value


def unpack(value: int, n: int) -> tuple[int, ...]:
    """The ``n`` pitches ``pack`` made ``value`` of."""
    return tuple((int(value) >> (_BITS * (n - 1 - i))) & 0xFF for i in range(n))


def _packed_windows(line: np.ndarray, n: int) -> np.ndarray:
    """Each n-gram of a line, packed: (k,)."""
    windows = np.lib.stride_tricks.sliding_window_view(line, n)
    weights = np.left_shift(np.uint64(1), np.arange(n - 1, -1, -1, dtype=np.uint64) * np.uint64(_BITS))
    return (windows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _lowest_highest(packed: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest pitch of each packed n-gram."""
    shifts = np.arange(n - 1, -1, -1, dtype=np.uint64) * np.uint64(_BITS)
    pitches = ((packed[:, None] >> shifts) & np.uint64(0xFF)).astype(np.int64)
    return pitches.min(axis=1), pitches.max(axis=1)


class PitchNgrams:
    """The ``n``-note pitch n-grams of the training split's note lines, at each transposition training used."""

    def __init__(self, scores: Iterable[Score], shifts: Iterable[int] = (0,), n: int = NGRAM) -> None:
        if not 1 <= n <= 64 // _BITS:
            raise ValueError(f"pitch n-grams are packed one byte a pitch into 64 bits: n is 1 to 8, not {n}")
        self.n = n
        shifts = sorted({0, *shifts})
        ones = np.uint64(pack([1] * n))  # adding s to every pitch adds s * ones (no byte overflows: checked below)
        windows = [
            _packed_windows(np.asarray(line, dtype=np.int64), n)
            for score in scores
            for line in pitch_lines(score)
            if len(line) >= n
        ]
        parts = []
        if windows:
            packed = np.unique(np.concatenate(windows))  # before shifting: a repeated n-gram is shifted once
            low, high = _lowest_highest(packed, n)
            for s in shifts:
                ok = (low + s >= 0) & (high + s <= MAX_PITCH)
                step = ones * np.uint64(abs(s))
                parts.append(packed[ok] + step if s >= 0 else packed[ok] - step)
        self.grams = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)  # sorted

    @classmethod
    def of_split(cls, tokenizer, data: TokenData, limit: int, n: int = NGRAM) -> PitchNgrams:
        """The n-grams of a split's first ``limit`` pieces as the tokenizer decodes them, at the run's shifts."""
        return cls(decoded_scores(tokenizer, data, limit), training_shifts(data.meta), n)

    def __len__(self) -> int:
        return int(self.grams.size)

    @property
    def nbytes(self) -> int:
        """The index's memory."""
        return int(self.grams.nbytes)

    def __contains__(self, gram: Sequence[int]) -> bool:
        return len(gram) == self.n and bool(self.found(np.asarray([pack(gram)], dtype=np.uint64))[0])

    def found(self, packed: np.ndarray) -> np.ndarray:
        """(k,) True where a packed n-gram is in the index."""
        at = np.searchsorted(self.grams, packed)
        hit = at < self.grams.size
        hit[hit] = self.grams[at[hit]] == packed[hit]
        return hit

    def next_pitches(self, prefixes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """For each prefix of ``n - 1`` pitches, the pitches that end an indexed n-gram after it, ascending.

        The n-grams that start with a prefix are one contiguous run of the sorted array: two binary searches each,
        all prefixes in one ``searchsorted`` call.
        """
        if not prefixes:
            return []
        low = np.asarray([pack(p) << _BITS for p in prefixes], dtype=np.uint64)
        bounds = np.searchsorted(self.grams, np.concatenate([low, low + np.uint64(1 << _BITS)]))
        k = len(prefixes)
        return [(self.grams[bounds[i] : bounds[k + i]] & np.uint64(0xFF)).astype(np.int64) for i in range(k)]

    def count(self, score: Score) -> tuple[int, int]:
        """``(found, total)``: how many of the score's pitch n-grams are in the training split, of how many."""
        found = total = 0
        for line in pitch_lines(score):
            if len(line) < self.n:
                continue
            packed = _packed_windows(np.asarray(line, dtype=np.int64), self.n)
            total += int(packed.size)
            found += int(self.found(packed).sum())
        return found, total

    def share(self, scores: Iterable[Score]) -> dict[str, float | int]:
        """The pooled share of the scores' pitch n-grams found in training: ``found / total`` (0 when none)."""
        found = total = 0
        for score in scores:
            f, t = self.count(score)
            found, total = found + f, total + t
        return {"found": found, "ngrams": total, "share": found / total if total else 0.0}
