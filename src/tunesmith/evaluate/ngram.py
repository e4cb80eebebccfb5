"""The baseline every network is reported against: an interpolated Kneser-Ney n-gram model over token ids.

For order ``N`` and history ``h`` (the last ``N-1`` tokens, fewer at the start of a piece)::

    P(w | h) = max(c(h w) - D, 0) / c(h) + D * T(h) / c(h) * P(w | h')        (c(h) > 0)
    P(w | h) = P(w | h')                                                       (c(h) = 0)

with ``h'`` the history without its oldest token, ``c(h w)`` the count of ``h w`` in the training tokens at the
highest order and its *continuation count* (how many distinct tokens precede it) at lower orders, ``c(h)`` the sum
of ``c(h w)`` over ``w``, ``T(h)`` the number of ``w`` with ``c(h w) > 0``, and ``D = n1 / (n1 + 2 n2)`` per order
from the count-of-counts (Chen and Goodman 1999). An n-gram that starts with BOS cannot be extended to the left, so
it keeps its raw count (as KenLM does). The recursion ends in the uniform distribution over every token that can be
a target (not padding, not BOS), so the probabilities of each history sum to one exactly.

Written here rather than taken from a library: NLTK's ``KneserNeyInterpolated`` is far too slow to score whole
corpora and KenLM is a C++ build; this is about a hundred lines of counting.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Context = tuple[int, ...]


class KneserNey:
    """An interpolated Kneser-Ney model of ``order`` over ids ``0..vocab_size-1``; ``exclude`` are never targets."""

    def __init__(self, order: int, vocab_size: int, exclude: Iterable[int] = (), bos_id: int | None = None) -> None:
        if order < 1:
            raise ValueError("n-gram order must be at least 1")
        self.order, self.vocab_size, self.bos_id = order, vocab_size, bos_id
        self.support = np.ones(vocab_size, dtype=bool)
        self.support[list(exclude)] = False
        # counts[k][h] = {w: count} for histories h of length k (0 .. order-1)
        self.counts: list[dict[Context, dict[int, int]]] = [defaultdict(dict) for _ in range(order)]
        self.totals: list[dict[Context, int]] = [{} for _ in range(order)]
        self.discounts = [0.75] * order
        self._arrays: list[dict[Context, tuple[np.ndarray, np.ndarray]]] = [{} for _ in range(order)]

    # -- fitting ----------------------------------------------------------------------------------------------

    def fit(self, sequences: Iterable[Sequence[int]]) -> KneserNey:
        """Count every n-gram of every sequence (a piece: BOS, tokens, EOS) up to the model's order."""
        top = self.order - 1
        raw: Counter[tuple[int, ...]] = Counter()
        for seq in sequences:
            seq = [int(t) for t in seq]
            for t in range(1, len(seq)):
                raw[tuple(seq[max(0, t - top) : t + 1])] += 1
        # Lower orders count distinct left neighbours (continuation counts); an n-gram that starts at BOS has
        # none, so it keeps the raw count it got above.
        grams: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(self.order)]
        for gram, count in raw.items():
            grams[len(gram) - 1][gram] += count
        for k in range(top, 0, -1):  # order k from order k + 1: each distinct n-gram is one left neighbour
            for gram in grams[k]:
                grams[k - 1][gram[1:]] += 1
        for k, table in enumerate(grams):
            for gram, count in table.items():
                self.counts[k][gram[:-1]][gram[-1]] = count
            for history, nexts in self.counts[k].items():
                self.totals[k][history] = sum(nexts.values())
            of = Counter(table.values())
            n1, n2 = of.get(1, 0), of.get(2, 0)
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.75
        self._arrays = [{} for _ in range(self.order)]  # the shares depend on the counts and discounts
        return self

    # -- probabilities ----------------------------------------------------------------------------------------

    def _history(self, context: Sequence[int]) -> Context:
        return tuple(int(t) for t in context[max(0, len(context) - (self.order - 1)) :]) if self.order > 1 else ()

    def prob(self, context: Sequence[int], token: int) -> float:
        """``P(token | context)`` (only the last ``order - 1`` tokens of ``context`` matter)."""
        return float(self.distribution(context)[token])

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """``P(. | context)`` over the whole vocabulary (zeros where a token cannot be a target)."""
        p = self.support / self.support.sum()
        history = self._history(context)
        for k in range(0, len(history) + 1):
            h = history[len(history) - k :]
            total = self.totals[k].get(h)
            if not total:
                continue
            ids, shares = self._followers(k, h, total)
            # max(c - D, 0) / c(h) + D T(h) / c(h) P(. | h') with c = 0 outside ``ids``: the same operations on the
            # same numbers as over the whole vocabulary (x + 0.0 is x), so the same bits, without a vocabulary-wide
            # count vector per order and position.
            mixed = self.discounts[k] * len(ids) / total * p
            mixed[ids] += shares
            p = mixed
        return p

    def _followers(self, k: int, history: Context, total: int) -> tuple[np.ndarray, np.ndarray]:
        """The tokens seen after ``history`` and their shares ``max(c - D, 0) / c(h)``, computed once per history."""
        found = self._arrays[k].get(history)
        if found is None:
            nexts = self.counts[k][history]
            ids = np.fromiter(nexts, dtype=np.int64, count=len(nexts))
            counts = np.fromiter(nexts.values(), dtype=np.float64, count=len(nexts))
            found = self._arrays[k][history] = (ids, np.maximum(counts - self.discounts[k], 0.0) / total)
        return found

    def losses(self, ids: Sequence[int], positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per position ``t``: ``-log P(ids[t] | ids[:t])`` and whether the most likely token was ``ids[t]``."""
        ids = [int(t) for t in ids]
        nll, correct = np.zeros(len(positions)), np.zeros(len(positions), dtype=np.int64)
        for j, t in enumerate(positions):
            p = self.distribution(ids[max(0, t - self.order + 1) : t])
            nll[j] = -math.log(max(float(p[ids[t]]), 1e-300))
            correct[j] = int(np.argmax(p) == ids[t])
        return nll, correct

    def score(self, ids: Sequence[int], positions: Sequence[int]) -> tuple[float, int]:
        """Summed ``-log P(ids[t] | ids[:t])`` over ``positions`` and how many of them the argmax got right."""
        nll, correct = self.losses(ids, positions)
        return float(nll.sum()), int(correct.sum())

    def sample(self, prefix: Sequence[int], steps: int, rng: np.random.Generator, stop_id: int | None = None) -> list:
        """Up to ``steps`` tokens drawn after ``prefix``; stops after ``stop_id``."""
        out = [int(t) for t in prefix]
        for _ in range(steps):
            token = int(rng.choice(self.vocab_size, p=self.distribution(out[-(self.order - 1) or len(out) :])))
            out.append(token)
            if token == stop_id:
                break
        return out[len(prefix) :]

    def describe(self) -> dict[str, Any]:
        """Order, discounts and the number of n-grams per order."""
        return {
            "order": self.order,
            "discounts": [round(d, 4) for d in self.discounts],
            "ngrams": [sum(len(v) for v in table.values()) for table in self.counts],
        }
