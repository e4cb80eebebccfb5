"""``generate --density``'s keeper: each row's pull on the tokens that open a note, set again at every bar line."""

from __future__ import annotations

import torch

from tunesmith.density import GAIN, MAX_ERROR, PULL_RANGE


class DensityKeeper:
    """``--density``: each row's pull on the note-opening tokens, set again at every bar line (``tunesmith.density``).

    ``sample`` adds ``bias`` (B, V) to every step's logits and shows the keeper every step's tokens (``see``). Rows
    start with the model's own density (no pull); the first bar line a row draws starts its count, so a primer's
    unfinished bar is not held against it. ``pulls`` are the rows' pulls now, ``bars`` how many bars each counted.
    """

    def __init__(self, tokenizer, target: float, rows: int, device: torch.device | str = "cpu") -> None:
        self.target, self.bar_id = target, tokenizer.bar_id
        vocab = tokenizer.vocab
        self._notes = torch.tensor([len(tokenizer.pitches(t)) for t in vocab], dtype=torch.float32, device=device)
        self._opens = torch.tensor([float(tokenizer.opens_note(t)) for t in vocab], device=device)
        self.counts = torch.zeros(rows, device=device)
        self.pulls = torch.zeros(rows, device=device)
        self.bars = torch.zeros(rows, dtype=torch.long, device=device)
        self._counting = torch.zeros(rows, dtype=torch.bool, device=device)
        self.bias: torch.Tensor | None = None  # (B, V) once a row has a pull

    def see(self, tokens: torch.Tensor) -> None:
        """Take one step's (B,) tokens; at a bar line, move the row's pull by how far its bar was from the target."""
        self.counts += self._notes[tokens]
        ended = tokens == self.bar_id
        if not bool(ended.any()):
            return
        judged = ended & self._counting
        if bool(judged.any()):
            error = torch.log((self.counts + 1) / (self.target + 1)).clamp(-MAX_ERROR, MAX_ERROR)
            self.pulls = torch.where(judged, (self.pulls + GAIN * error).clamp(*PULL_RANGE), self.pulls)
            self.bars += judged.long()
            self.bias = -self.pulls[:, None] * self._opens[None, :]
        self._counting |= ended
        self.counts = torch.where(ended, torch.zeros_like(self.counts), self.counts)
