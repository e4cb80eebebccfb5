"""``generate --no-copy``: samples that do not play their training split's 8-note pitch n-grams (``CopyGuard``).

What is guarded is what *Nothing copied* (issue 14) measures (``tunesmith.pitch_ngrams.PitchNgrams``): each track's
pitch line, drums left out, against the training split's lines at every transposition the run trained with. The
guard follows each row's lines from its tokens, asking the tokenizer what a token plays (``pitches``), which track
it names (``track_of``) and where time moves on (``starts_onset``): the notes of one onset are kept sorted, as the
metric reads a chord whatever order its tokens came in (a chord's pseudo-notes; REMI notes of one instrument at one
position, which MidiTok writes in the file's order and a model in any). Every n-gram of a finished line is looked up
when the last of its notes to be drawn is drawn (its other notes are then already in place, next to each other), so
what remains copied is what the guard had to let through, or notes the tokens and the decoder place differently (a
pitch token MidiTok drops because no duration follows it; two position tokens of one time): measured in
BENCHMARKS.md ("Nothing copied").
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import torch

from tunesmith.errors import TunesmithError
from tunesmith.pitch_ngrams import PitchNgrams, pack

NO_TRACK = -2  # ``LineTable.track`` of a token that names no track


@dataclass
class LineTable:
    """What every token of a vocabulary does to the note lines, built once per tokenizer.

    ``track[id]``: the track it names (``NO_TRACK`` for none); ``pitches[id]``: the pitches it adds (ascending);
    ``onset[id]``: whether it starts a new onset (``Tokenizer.starts_onset``); ``heads[j]``: for each ``j`` from 2 up
    to ``n - 1``, the distinct packed first ``j`` pitches of the tokens with at least ``j`` pitches, and
    ``head_ids[j][k]`` the tokens that start with ``heads[j][k]``; ``new[p]`` the tokens that start an onset with
    ``p`` as their lowest pitch, ``same[p]`` the one-note tokens of pitch ``p`` that join the onset before them (a
    chord written one note a token); ``same_pitches`` the pitches ``same`` has tokens for; ``inner`` the tokens whose
    own pitches already hold an indexed n-gram (chords of ``n`` or more notes).
    """

    track: list[int]
    pitches: list[tuple[int, ...]]
    onset: list[bool]
    heads: dict[int, np.ndarray]
    head_ids: dict[int, list[np.ndarray]]
    new: list[np.ndarray]
    same: list[np.ndarray]
    same_pitches: np.ndarray
    inner: np.ndarray
    first_track: int | None

    @classmethod
    def of(cls, tokenizer, index: PitchNgrams) -> LineTable:
        """The table of ``tokenizer``'s vocabulary; a one-line error when no token plays a pitch."""
        specials = {tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id, *tokenizer.control_ids}
        if not tokenizer.has_note_lines:
            raise TunesmithError(
                f"--no-copy follows each sample's note lines through its pitch tokens, which this model's encoding "
                f"({tokenizer.name}) does not have: leave out --no-copy"
            )
        pitches = [() if i in specials else tokenizer.pitches(t) for i, t in enumerate(tokenizer.vocab)]
        track = [NO_TRACK if i in specials or (t := tokenizer.track_of(tok)) is None else t
                 for i, tok in enumerate(tokenizer.vocab)]  # fmt: skip
        # A token of several notes joins a line after what came before it, whether it starts an onset or not.
        onset = [i not in specials and (len(p) > 1 or tokenizer.starts_onset(t))
                 for i, (t, p) in enumerate(zip(tokenizer.vocab, pitches))]  # fmt: skip
        n = index.n
        heads, head_ids = {}, {}
        for j in range(2, n):
            groups: dict[int, list[int]] = {}
            for i, played in enumerate(pitches):
                if len(played) >= j:
                    groups.setdefault(pack(played[:j]), []).append(i)
            keys = sorted(groups)
            heads[j] = np.asarray(keys, dtype=np.uint64)
            head_ids[j] = [np.asarray(groups[k], dtype=np.int64) for k in keys]
        new: list[list[int]] = [[] for _ in range(128)]
        same: list[list[int]] = [[] for _ in range(128)]
        for i, played in enumerate(pitches):
            if played:
                (new if onset[i] else same)[played[0]].append(i)
        inner = [i for i, played in enumerate(pitches)
                 if any(played[k : k + n] in index for k in range(len(played) - n + 1))]  # fmt: skip
        return cls(
            track,
            pitches,
            onset,
            heads,
            head_ids,
            [np.asarray(ids, dtype=np.int64) for ids in new],
            [np.asarray(ids, dtype=np.int64) for ids in same],
            np.asarray([p for p in range(128) if same[p]], dtype=np.int64),
            np.asarray(inner, dtype=np.int64),
            tokenizer.first_track,
        )


class CopyGuard:
    """``--no-copy``: a pitch token that would complete an indexed n-gram of its track is held back for that row.

    Each row follows its tracks' lines from the ids it will be decoded with (``prefixes``: a kept primer, else
    nothing) and from every token drawn (``see``): per track, the last ``n - 1`` pitches of the onsets before and the
    pitches of the current onset, sorted as the metric reads a chord. After each token that changes a row's current
    track, line or onset, that row's held-back tokens are found again. A token that starts an onset follows the line
    and the current onset: its first ``j`` pitches (``j`` = 1 for one note; a chord token may end up to ``n - 1``
    n-grams, one a note) end an n-gram when the line's last ``n - j`` pitches followed by them are in the sorted
    index (``PitchNgrams``): for ``j`` = 1 the n-grams that start with the last ``n - 1`` pitches, two binary
    searches (every such row in one call); for longer heads one batch of searches over the distinct heads the
    vocabulary has. A one-note token that joins the current onset (a chord written one note a token) takes its
    place in the sorted onset, so every n-gram that would hold it is looked up, for each pitch at once. Only that
    row's changed entries of ``bias`` (B, V) are written: 0 where the model draws freely, ``-inf`` where it is held
    back. When every candidate of a row is held back, ``tunesmith.sample.sample`` lets the model's draw stand;
    ``let_through`` counts those draws (and forced ones, a form's repeats, that complete an n-gram), ``held_back``
    the draws at which anything was held back.
    """

    def __init__(
        self, tokenizer, index: PitchNgrams, prefixes: list[list[int]], table: LineTable, device: torch.device
    ) -> None:
        self.index, self.table, self.n = index, table, index.n
        self.stop = {tokenizer.pad_id, tokenizer.eos_id}
        rows = len(prefixes)
        self.current: list[int | None] = [table.first_track] * rows
        self.lines: list[dict[int, list[int]]] = [{} for _ in range(rows)]  # track: the last n - 1 before the onset
        self.onsets: list[dict[int, list[int]]] = [{} for _ in range(rows)]  # track: the current onset, sorted
        self.banned = [np.zeros(0, dtype=np.int64) for _ in range(rows)]
        self.finished = [False] * rows
        self.held_back = [0] * rows
        self.let_through = [0] * rows
        self.bias: torch.Tensor | None = None  # (B, V) once a row holds anything back
        self._vocab, self._device = len(tokenizer), device
        for row, ids in enumerate(prefixes):
            for token in ids:
                self._follow(row, int(token))
        self._update(list(range(rows)))

    def see(self, tokens: torch.Tensor) -> None:
        """Take one step's (B,) tokens: count the draws, follow the lines, hold back anew where they changed."""
        drawn = tokens.tolist()
        through = self.bias.gather(1, tokens[:, None]).squeeze(1).isneginf().tolist() if self.bias is not None else None
        changed = []
        for row, token in enumerate(drawn):
            if self.finished[row]:
                continue
            if self.banned[row].size:
                self.held_back[row] += 1
                self.let_through[row] += bool(through[row]) if through is not None else 0
            if token in self.stop:
                self.finished[row] = True
                changed.append(row)
            elif self._follow(row, token):
                changed.append(row)
        if changed:
            self._update(changed)

    def record(self, row: int) -> dict[str, int]:
        """What the guard did for one row, for ``generate.json``."""
        return {"held_back": self.held_back[row], "let_through": self.let_through[row]}

    def _follow(self, row: int, token: int) -> bool:
        """Move a row's track, line and onset by one token; whether its held-back tokens may have changed."""
        if not 0 <= token < self._vocab:
            return False
        table, current = self.table, self.current[row]
        changed = False
        if table.onset[token]:  # a time step: every track's onset joins its line
            for track, onset in self.onsets[row].items():
                if onset:
                    line = self.lines[row].setdefault(track, [])
                    line.extend(onset)
                    del line[: max(0, len(line) - (self.n - 1))]
                    changed |= track == current
            self.onsets[row] = {}
        track = table.track[token]
        if track != NO_TRACK:
            changed |= track != current
            self.current[row] = track
            return changed
        played = table.pitches[token]
        if not played or current is None or current < 0:  # no pitch, or a note with no line (drums, no track)
            return changed
        onset = self.onsets[row].setdefault(current, [])
        for pitch in played:
            bisect.insort(onset, pitch)
        return True

    def _update(self, rows: list[int]) -> None:
        """Find the held-back tokens of ``rows`` again; write the entries of ``bias`` that change."""
        n, table = self.n, self.table
        lines, onsets = {}, {}
        for row in rows:
            current = self.current[row]
            if not self.finished[row] and current is not None and current >= 0:
                onsets[row] = self.onsets[row].get(current, [])
                lines[row] = self.lines[row].get(current, []) + onsets[row]  # what a new onset follows
        held: dict[int, list[np.ndarray]] = {row: [table.inner] for row in lines}
        full = [row for row, line in lines.items() if len(line) >= n - 1]
        for row, pitches in zip(full, self.index.next_pitches([lines[row][-(n - 1) :] for row in full])):
            for p in pitches.tolist():  # a note starting an onset after the line (or a chord's lowest)
                held[row].append(table.new[p])
                if not onsets[row]:  # ... or joining an empty onset: the same place
                    held[row].append(table.same[p])
        for j in range(2, n):  # the first j notes of a chord token end an n-gram after the line's last n - j
            heads = table.heads.get(j)
            if heads is None or not heads.size:
                continue
            for row, line in lines.items():
                if len(line) >= n - j:
                    grams = (np.uint64(pack(line[-(n - j) :])) << np.uint64(8 * j)) | heads
                    held[row].extend(table.head_ids[j][k] for k in np.flatnonzero(self.index.found(grams)).tolist())
        joining = {row: (self.lines[row].get(self.current[row], []), onset) for row, onset in onsets.items() if onset}
        for row, pitches in self._joining(joining).items():
            held[row].extend(table.same[p] for p in pitches.tolist())
        empty = np.zeros(0, dtype=np.int64)
        self._hold({row: _union(held[row]) if row in held else empty for row in rows})

    def _joining(self, rows: dict[int, tuple[list[int], list[int]]]) -> dict[int, np.ndarray]:
        """Per row, the pitches whose one-note tokens, joining its onset after its line, would end an indexed n-gram.

        ``rows[row]``: the line before the onset and the onset (sorted). Each pitch takes its place among the onset's
        (after equal ones, as a stable sort by time and pitch puts it); every window of ``n`` that holds that place
        is looked up for every pitch at once, all rows' windows in one search, each pitch kept where it belongs.
        """
        n, candidates = self.n, self.table.same_pitches
        if not rows or not candidates.size:
            return {}
        bases, shifts, lows, highs, owners = [], [], [], [], []
        for row, (line, onset) in rows.items():
            for k in range(len(onset) + 1):
                around = [*line, *onset[:k], 0, *onset[k:]]
                at = len(line) + k
                for start in range(max(0, at - n + 1), min(at, len(around) - n) + 1):
                    bases.append(pack(around[start : start + n]))
                    shifts.append(8 * (n - 1 - (at - start)))
                    lows.append(onset[k - 1] if k else -1)
                    highs.append(onset[k] if k < len(onset) else 128)
                    owners.append(row)
        if not bases:
            return {}
        moved = candidates.astype(np.uint64)[None, :] << np.asarray(shifts, dtype=np.uint64)[:, None]
        grams = np.asarray(bases, dtype=np.uint64)[:, None] | moved  # (windows, pitches)
        hit = self.index.found(grams.ravel()).reshape(grams.shape)
        hit &= (candidates[None, :] >= np.asarray(lows)[:, None]) & (candidates[None, :] < np.asarray(highs)[:, None])
        out: dict[int, list[np.ndarray]] = {}
        for w in np.flatnonzero(hit.any(axis=1)).tolist():
            out.setdefault(owners[w], []).append(candidates[hit[w]])
        return {row: np.unique(np.concatenate(found)) for row, found in out.items()}

    def _hold(self, new: dict[int, np.ndarray]) -> None:
        """Make ``new[row]`` each row's held-back tokens, writing only the entries of ``bias`` that change."""
        new = {row: ids for row, ids in new.items() if not np.array_equal(self.banned[row], ids)}
        if not new:
            return
        if self.bias is None:
            if not any(ids.size for ids in new.values()):
                return
            self.bias = torch.zeros(len(self.banned), self._vocab, device=self._device)
        for value, parts in ((0.0, {row: self.banned[row] for row in new}), (float("-inf"), new)):
            rows = np.concatenate([np.full(ids.size, row, dtype=np.int64) for row, ids in parts.items()])
            if rows.size:
                cols = np.concatenate(list(parts.values()))
                self.bias[torch.from_numpy(rows).to(self._device), torch.from_numpy(cols).to(self._device)] = value
        for row, ids in new.items():
            self.banned[row] = ids


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """The ids of ``parts`` once each, ascending."""
    parts = [p for p in parts if p.size]
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
