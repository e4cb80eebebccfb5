"""``abc``: ABC tune text, by character (the char-RNN seed) or by whitespace-separated token (as folk-rnn).

A piece read from an ABC file carries its tune text; other pieces are written as ABC by symusic. Decoding parses
the text with music21. A generated tune that does not parse as written is repaired when possible (``repair_abc``:
malformed header lines, annotations and unbalanced brackets dropped, defaults for L, M and K) and comes back marked
``repaired``, so the share of tunes that parse *as written* stays measurable; one that cannot be repaired comes back
as a failed ``DecodeResult`` with its text, never as an exception that stops a batch of generations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from symusic import Score

from tunesmith.encodings.base import DecodeResult, EncodingConfig, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece
from tunesmith.quiet import captured, summarise

NEWLINE = "\n"
FIELD = re.compile(r"^([A-Za-z]):(.*)$")
WELL_FORMED = {
    "L": re.compile(r"^\s*1/\d+\s*$"),
    "M": re.compile(r"^\s*(C\|?|\d+/\d+)\s*$"),
    "K": re.compile(r"^\s*[A-G][#b]?\s*(m|min|maj|dor|mix|lyd|phr|loc|aeo|ion)?\s*$", re.IGNORECASE),
}
DEFAULT_HEADER = {"L": "1/8", "M": "4/4", "K": "C"}
LONG_NOTE = re.compile(r"[A-Ga-gzxZ][,']*\d{3,}|/\d{3,}")


def repair_abc(text: str) -> str:
    """A parseable guess at a damaged tune.

    The last well-formed L, M and K fields (or defaults), then the body lines without other fields, inline fields,
    quoted annotations, grace-note braces, decorations, letters that are not notes or rests, chord brackets (their
    notes follow one another) and slurs.
    """
    header = dict(DEFAULT_HEADER)
    body = []
    for line in text.splitlines():
        field = FIELD.match(line)
        if field:
            key, value = field.group(1), field.group(2)
            if key in WELL_FORMED and WELL_FORMED[key].match(value):
                header[key] = value.strip()
            continue
        line = re.sub(r'"[^"]*"|\{[^}]*\}|![^!]*!|[{}"!+]', "", line)  # annotations, grace notes, decorations
        line = re.sub(r"[A-Za-z]:|[^A-Ga-gzxZ\W\d_]", "", line)  # inline fields; letters that are not notes
        line = re.sub(r"(\d\d)\d+", r"\1", line)  # lengths of three digits or more
        line = re.sub(r"\[\||\|\]", "|", line)  # thick bar lines, so that only chord brackets are left
        line = re.sub(r"[\[\])]|\((?!\d)", "", line)  # chords become runs, slurs go, tuplets (3 stay
        if line.strip():
            body.append(line)
    return NEWLINE.join([f"{k}:{v}" for k, v in header.items()] + body)


@dataclass
class AbcConfig(EncodingConfig):
    """``unit``: ``char`` or ``whitespace``; ``keep_fields``: header fields kept (others, e.g. titles, dropped)."""

    unit: str = "char"
    keep_fields: str = "MLKQR"
    grid: int = 480

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unit not in ("char", "whitespace"):
            raise TunesmithError(f"abc unit is 'char' or 'whitespace', not {self.unit!r}")


def normalise_tune(text: str, keep_fields: str) -> str:
    """The tune without comments, the ``X:`` number or dropped header fields; lines trimmed; one blank-free body."""
    lines = []
    for line in text.splitlines():
        line = line.split("%", 1)[0].rstrip()
        if not line.strip():
            continue
        field = re.match(r"^([A-Za-z]):", line)
        if field and field.group(1) not in keep_fields and field.group(1) != "K":
            continue
        lines.append(line)
    return NEWLINE.join(lines)


class AbcTokenizer(Tokenizer):
    """ABC text as tokens."""

    name = "abc"
    description = "ABC tune text by character (char-RNN seed) or whitespace token (folk-rnn)"
    config_class = AbcConfig
    config: AbcConfig
    text_format = "abc"  # decoded sequences carry their tune text (DecodeResult.text)

    def text(self, piece: Piece) -> str:
        """The normalised ABC text of a piece."""
        if piece.abc:
            return normalise_tune(piece.abc, self.config.keep_fields)
        try:
            return normalise_tune(piece.score.dumps_abc(), self.config.keep_fields)
        except Exception as exc:  # symusic's ABC writer rejects some scores
            raise ValueError(f"piece {piece.id or piece.title!r} cannot be written as ABC: {exc}") from None

    def tokens(self, piece: Piece) -> list[str]:
        text = self.text(piece)
        if self.config.unit == "char":
            return list(text)
        out: list[str] = []
        for i, line in enumerate(text.split(NEWLINE)):
            if i:
                out.append(NEWLINE)
            out.extend(line.split())
        return out

    def join(self, tokens: list[str]) -> str:
        """The ABC text of token strings."""
        if self.config.unit == "char":
            return "".join(tokens)
        lines, line = [], []
        for token in tokens:
            if token == NEWLINE:
                lines.append(" ".join(line))
                line = []
            else:
                line.append(token)
        lines.append(" ".join(line))
        return NEWLINE.join(lines)

    def score(self, tokens: list[str]) -> Score:
        return self.parse(self.join(tokens))

    def parse(self, text: str) -> Score:
        """The score of ABC tune text (``X:1`` added; ``K:C`` when it has no key); raises when it does not parse."""
        from music21 import converter

        from tunesmith.corpus.readers import music21_to_score

        if LONG_NOTE.search(text):  # music21 would spend minutes and gigabytes on a note thousands of bars long
            raise ValueError("a note or rest length of three digits or more")
        if "K:" not in text:
            text = "K:C\n" + text
        said: list[str] = []
        with captured(said):  # music21's complaints reach generate.json summarised, not the terminal
            stream = converter.parse("X:1\n" + text, format="abc")
        getattr(self, "_said", []).extend(said)  # kept by try_decode, dropped by a bare decode
        score = music21_to_score(stream, self.config.grid).to("quarter")
        if score.note_num() == 0:
            raise ValueError("the tune has no notes")
        return score

    def try_decode(self, ids) -> DecodeResult:
        self._said: list[str] = []
        result = self._try_decode(ids)
        result.warnings = summarise(self._said)
        del self._said
        return result

    def _try_decode(self, ids) -> DecodeResult:
        result = super().try_decode(ids)
        try:
            result.text = self.join(self.strip(ids))
        except ValueError:  # an id outside the vocabulary: no text to show or repair
            return result
        if not result.ok:
            repaired = repair_abc(result.text)
            # music21 trips over some meters (a duplicated TimeSignature): the second try keeps the default 4/4.
            for text in (repaired, re.sub(r"^M:.*\n", "", repaired, flags=re.MULTILINE)):
                try:
                    return DecodeResult(self.parse(text), None, result.text, repaired=True)
                except Exception:  # beyond repair: the first error is the one worth reporting
                    continue
        return result
