"""Settings every encoding shares: ``EncodingConfig``, the base of each encoding's own config.

Light (no numpy, no symusic), so the command line builds ``prepare``'s parser from it without loading the tokenizers;
the tokenizer contract that uses it is ``tunesmith.encodings.base``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config import option
from tunesmith.errors import TunesmithError

CONDITIONS = ("style", "key", "tempo")  # the order condition tokens take after BOS


def parse_conditions(text: str) -> tuple[str, ...]:
    """``"key,tempo"`` -> ``("key", "tempo")`` (checked by the encoding's config)."""
    return tuple(c.strip() for c in text.split(",") if c.strip())


@dataclass
class EncodingConfig:
    """Settings every encoding shares; an encoding's own config subclasses this."""

    min_token_count: int = option(1, "tokens seen fewer times in training are rare", metavar="K")
    rare: str = option("unk", "map rare tokens to UNK or to the nearest frequent one", choices=("unk", "nearest"))
    style_tokens: bool = option(False, "one token per style label (folder) as a condition")
    conditions: tuple[str, ...] = option(
        (),
        "condition tokens after BOS: any of key,tempo,style (key: Krumhansl-Schmuckler estimate; tempo: a bin)",
        flag="--condition",
        metavar="LIST",
        parse=parse_conditions,
    )

    def __post_init__(self) -> None:
        self.conditions = tuple(self.conditions)
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            raise TunesmithError(f"unknown condition {unknown[0]!r}: --condition takes {', '.join(CONDITIONS)}")
        if self.style_tokens and "style" not in self.conditions:
            self.conditions = (*self.conditions, "style")
        self.conditions = tuple(c for c in CONDITIONS if c in self.conditions)
        self.style_tokens = "style" in self.conditions
        if self.min_token_count < 1:
            raise TunesmithError(f"--min-token-count must be at least 1, got {self.min_token_count}")
        if self.rare not in ("unk", "nearest"):
            raise TunesmithError(f"rare tokens map to 'unk' or 'nearest', not {self.rare!r}")
