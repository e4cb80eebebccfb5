"""Did the model copy its training data? Longest verbatim run and shared 8-note n-grams, per sample and pooled.

A piece becomes a sequence of note symbols in onset order (pitch order within a chord): each symbol is the pitch
and the gap since the previous onset on a grid of 1/12 quarter, so a copy must match in pitch *and* rhythm. For a
sample, the *longest copied run* is the longest stretch of consecutive symbols that appears somewhere in one
training piece (found with a suffix automaton of the training split in linear time), and the *8-gram share* is the
fraction of its 8-symbol n-grams that occur in the training split. The same figures for held-out real pieces show
how much overlap the style itself produces.

*Nothing copied* (issue 14) is the pooled, pitch-only figure of ``PitchNgrams`` (``tunesmith.pitch_ngrams``, where
``generate --no-copy`` finds it too): of all the 8-note pitch n-grams the samples hold, the share found in the
training split, each track's pitch line on its own, at every transposition the run trained with.

The suffix automaton is written here: it is about thirty lines and no maintained Python package offers one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.evaluate.metrics import Notes
from tunesmith.pitch_ngrams import PitchNgrams as PitchNgrams  # here for evaluate's readers
from tunesmith.pitch_ngrams import pitch_lines as pitch_lines

GAP_STEPS = 12  # onset gaps on a grid of 1/12 quarter note
MAX_GAP = 999
NGRAM = 8
COPY_SHARE = 0.5  # a sample with at least this share of training 8-grams looks copied
COPY_RUN = 64  # ... or with a copied run of at least this many notes


def note_symbols(notes: Notes) -> list[int]:
    """One integer per note: ``pitch * 1000 + gap``, the gap since the previous onset in 1/12 quarters."""
    gaps = np.diff(np.concatenate([[0.0], notes.onset])) if len(notes) else np.zeros(0)
    steps = np.minimum(np.round(gaps * GAP_STEPS), MAX_GAP).astype(np.int64)
    steps[:1] = 0  # where a piece starts does not matter
    return (notes.pitch.astype(np.int64) * 1000 + steps).tolist()


class SuffixAutomaton:
    """Every substring of a set of sequences; ``longest_match`` runs a query through it in linear time."""

    def __init__(self) -> None:
        self.next: list[dict[int, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        self.last = 0
        self._separator = -1

    def add_sequence(self, seq: Iterable[int]) -> None:
        """Add one sequence; a unique separator after it keeps matches from spanning two pieces."""
        for symbol in seq:
            self._extend(int(symbol))
        self._extend(self._separator)
        self._separator -= 1

    def _extend(self, symbol: int) -> None:
        cur = len(self.length)
        self.next.append({})
        self.length.append(self.length[self.last] + 1)
        self.link.append(0)
        p = self.last
        while p != -1 and symbol not in self.next[p]:
            self.next[p][symbol] = cur
            p = self.link[p]
        if p != -1:
            q = self.next[p][symbol]
            if self.length[p] + 1 == self.length[q]:
                self.link[cur] = q
            else:
                clone = len(self.length)
                self.next.append(dict(self.next[q]))
                self.length.append(self.length[p] + 1)
                self.link.append(self.link[q])
                while p != -1 and self.next[p].get(symbol) == q:
                    self.next[p][symbol] = clone
                    p = self.link[p]
                self.link[q] = self.link[cur] = clone
        self.last = cur

    def longest_match(self, query: Sequence[int]) -> int:
        """The length of the longest contiguous part of ``query`` that occurs in the added sequences."""
        state, length, best = 0, 0, 0
        for symbol in query:
            while state and symbol not in self.next[state]:
                state = self.link[state]
                length = self.length[state]
            if symbol in self.next[state]:
                state, length = self.next[state][symbol], length + 1
            best = max(best, length)
        return best


@dataclass
class TrainingIndex:
    """What the memorisation check compares against: the training split's note symbols."""

    automaton: SuffixAutomaton
    ngrams: set[tuple[int, ...]]

    @classmethod
    def build(cls, pieces: Iterable[Notes], n: int = NGRAM) -> TrainingIndex:
        """Index the training pieces."""
        automaton, grams = SuffixAutomaton(), set()
        for notes in pieces:
            symbols = note_symbols(notes)
            automaton.add_sequence(symbols)
            grams.update(tuple(symbols[i : i + n]) for i in range(len(symbols) - n + 1))
        return cls(automaton, grams)

    def check(self, notes: Notes, n: int = NGRAM) -> dict[str, float]:
        """``longest_run`` (notes), ``ngram_share`` (of the piece's n-grams found in training) and ``notes``."""
        symbols = note_symbols(notes)
        grams = [tuple(symbols[i : i + n]) for i in range(len(symbols) - n + 1)]
        share = sum(g in self.ngrams for g in grams) / len(grams) if grams else 0.0
        return {"longest_run": self.automaton.longest_match(symbols), "ngram_share": share, "notes": len(symbols)}


def looks_copied(check: dict[str, float], share: float = COPY_SHARE, run: int = COPY_RUN) -> bool:
    """The warning rule: at least ``share`` of the 8-grams, or a copied run of ``run`` notes or more."""
    return check["ngram_share"] >= share or check["longest_run"] >= run
