"""``generate --key auto``: each sample keeps the key it starts in (``KeyKeeper``, followed by ``tunesmith.sample``)."""

from __future__ import annotations

import torch

from tunesmith.errors import TunesmithError
from tunesmith.key_steering import KEY_AUTO_STRENGTH, keeps_key
from tunesmith.keys import Key, estimate_key

# The key is found after the first bar: measured against the first section (BENCHMARKS.md, "--key auto"), which
# leaves that section's wandering in the sample and, with a form, in every repeat of it.
AUTO_BARS = 1


class KeyKeeper:
    """``--key auto``: each row keeps the key it starts in.

    Until a row has drawn ``bars`` bars of new music (the bar line that ends them) it is drawn as the model likes;
    then its primer and new tokens are decoded once, their Krumhansl-Schmuckler key estimated
    (``tunesmith.keys.estimate_key``, the key the output records), and from there the pitch tokens of the classes the
    key's profile rates below its mean are held back as ``--key`` holds them back (``key_bias(..., lower_only=True)``),
    while the key's own classes keep the model's balance. A row whose music so far has too few pitch classes for an
    estimate tries again at its next bar line. ``sample`` adds ``bias``
    (B, V) to every step's logits and shows the keeper every step's tokens (``see``); ``keys`` are the rows' keys.
    """

    def __init__(
        self, tokenizer, primers: list[list[int]], bars: int = AUTO_BARS, strength: float | None = None
    ) -> None:
        self.tokenizer, self.primers, self.bars = tokenizer, primers, bars
        self.strength = KEY_AUTO_STRENGTH if strength is None else strength
        self.tokens: list[list[int]] = [[] for _ in primers]
        self.bar_lines = [0] * len(primers)
        self.keys: list[Key | None] = [None] * len(primers)
        self.bias: torch.Tensor | None = None  # (B, V) once a row has its key; rows without one add zeros
        self._biases: dict[Key, torch.Tensor] = {}

    @staticmethod
    def describe(tokenizer, bars: int = AUTO_BARS, strength: float | None = None) -> str:
        """How ``--key auto`` keeps the key, in words for ``generate.json``; a one-line error where it cannot."""
        if not keeps_key(tokenizer):
            raise TunesmithError(
                f"--key auto finds a sample's key after its first bars and pulls its pitch tokens toward it, which "
                f"this model's encoding ({tokenizer.name}) cannot do: ask for a key by name"
            )
        strength = KEY_AUTO_STRENGTH if strength is None else strength
        if strength == 0:
            raise TunesmithError("--key auto with --key-strength 0 would keep nothing: leave out --key-strength")
        first = "first bar" if bars == 1 else f"first {bars} bars"
        return f"the key of the {first}, kept by holding back the other pitch classes (strength {strength:g})"

    def see(self, tokens: torch.Tensor) -> None:
        """Take one step's (B,) tokens; a row whose bar line has just ended its first ``bars`` bars gets its key."""
        for row, token in enumerate(tokens.tolist()):
            if self.keys[row] is not None:
                continue
            self.tokens[row].append(token)
            if token == self.tokenizer.bar_id:
                self.bar_lines[row] += 1
                if self.bar_lines[row] > self.bars:  # the bar line after the first ``bars`` bars
                    self._fix(row, tokens.device)

    def _fix(self, row: int, device: torch.device) -> None:
        result = self.tokenizer.try_decode(self.primers[row] + self.tokens[row])
        key = estimate_key(result.score) if result.ok else None
        if key is None:
            return
        self.keys[row] = key
        self.tokens[row] = []  # not needed any more
        if key not in self._biases:
            bias = self.tokenizer.key_bias(key, self.strength, lower_only=True)
            self._biases[key] = torch.from_numpy(bias).to(device)
        if self.bias is None:
            self.bias = torch.zeros(len(self.keys), len(self.tokenizer), device=device)
        self.bias[row] = self._biases[key]
