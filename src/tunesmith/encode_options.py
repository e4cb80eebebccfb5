"""What ``prepare --encoding`` is asked for: ``EncodeConfig`` (the encoding, its settings, split, augmentation).

Light (no numpy, no tokenizer), so the command line builds ``prepare``'s parser from it; ``tunesmith.data`` turns it
into token arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesmith.config import option
from tunesmith.errors import TunesmithError

AUGMENT_AT = ("fly", "prepare")  # shifted copies made while training, or written now


def parse_split(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> fractions of train, valid and test (they must sum to 1)."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise TunesmithError(f"bad --split {text!r}: expected three fractions like 0.8,0.1,0.1") from None
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 1) > 1e-6 or parts[0] == 0:
        raise TunesmithError(f"bad --split {text!r}: three fractions, train > 0, summing to 1")
    return parts  # type: ignore[return-value]


def parse_transpose(text: str | None) -> tuple[int, int]:
    """``"-5..6"`` -> (-5, 6); ``None`` or ``"0"`` -> (0, 0)."""
    if not text or text.strip() == "0":
        return (0, 0)
    try:
        lo, hi = (int(x) for x in text.split(".."))
    except ValueError:
        raise TunesmithError(f"bad --transpose {text!r}: expected a range like -5..6") from None
    if lo > 0 or hi < 0 or hi - lo > 24:
        raise TunesmithError(f"bad --transpose {text!r}: the range must contain 0 and span at most 24 semitones")
    return lo, hi


@dataclass
class EncodeConfig:
    """How ``prepare --encoding`` turns pieces into token arrays: the encoding, its settings, split, augmentation.

    ``split`` and ``transpose`` take the command line's text (``"0.8,0.1,0.1"``, ``"-5..6"``) or numbers. ``seed``
    (of the split) is ``prepare``'s own seed.
    """

    encoding: str = option("", "tokenize with this encoding (see --list-encodings)", metavar="NAME", cli=False)
    options: dict[str, Any] = option(help="the encoding's settings (grid, mode...)", factory=dict, cli=False)
    split: tuple[float, float, float] | str = option(
        (0.8, 0.1, 0.1), "train,valid,test fractions by song", metavar="F,F,F", parse=parse_split
    )
    transpose: tuple[int, int] | str | None = option(
        None, "transposition augmentation range, e.g. -5..6 (default none)", metavar="LO..HI", parse=parse_transpose
    )
    augment_at: str = option("fly", "transpose while training or now", choices=AUGMENT_AT)
    seed: int = option(0, "seed of the split (prepare's --seed)", cli=False)

    def __post_init__(self) -> None:
        if isinstance(self.split, str):
            self.split = parse_split(self.split)
        self.split = tuple(float(f) for f in self.split)  # type: ignore[assignment]
        if self.transpose is None or isinstance(self.transpose, str):
            self.transpose = parse_transpose(self.transpose)
        self.transpose = tuple(int(s) for s in self.transpose)  # type: ignore[assignment]
        if self.augment_at not in AUGMENT_AT:
            raise TunesmithError(f"--augment-at is 'fly' or 'prepare', not {self.augment_at!r}")
