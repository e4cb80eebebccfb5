"""Musical form for generation: ``--form AABA`` repeats sections bar for bar.

A form is a string of section letters, each section ``section_bars`` bars long. The first occurrence of a letter is
drawn by the model, as any music is; a later occurrence of the same letter repeats that section's tokens, which are fed
to the model like drawn ones, so what follows is conditioned on the repeat. (A repeat that draws its last bar anew
measured worse against the real songs, BENCHMARKS.md: repeats are exact.) Bars are counted by the tokenizer's bar
token (``Tokenizer.bar_id``: event REMI's ``Bar_None``), so only encodings with one can follow a form.

``FormFollower`` is what ``tunesmith.sample.sample`` asks at every step: which token a row must take (a repeat, or the
bar line that starts the first section) and which rows have finished their form. The first new token of every row is
a bar line, so the sections start on a bar whatever the primer ends with (a primer left out of the output is cut
there: the music written starts with the form's first bar); the bar line that follows the last section ends a row
(it stays in the ids, where it decodes to nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunesmith.errors import TunesmithError
from tunesmith.length import DEFAULT_LENGTH, parse_length

if TYPE_CHECKING:
    import torch

SECTION_BARS = 4  # the default: AABA of 4 bars is 16 bars
MAX_SECTIONS = 64
MAX_SECTION_BARS = 32


@dataclass(frozen=True)
class Form:
    """Section letters (``"AABA"``) and the bars of each section."""

    letters: str
    section_bars: int = 4

    @property
    def bars(self) -> int:
        """The bars of the whole form: sections x section bars."""
        return len(self.letters) * self.section_bars

    def source(self, section: int) -> int | None:
        """The earlier section that section ``section`` repeats (its letter's first), None for a new one."""
        first = self.letters.index(self.letters[section])
        return first if first < section else None


def parse_form(text: str, section_bars: int = 4) -> Form:
    """``"AABA"`` (or ``"a a b a"``) -> ``Form("AABA", section_bars)``; a one-line error for anything else."""
    letters = re.sub(r"[\s,-]", "", str(text)).upper()
    if not re.fullmatch(r"[A-Z]+", letters):
        raise TunesmithError(f"bad --form {text!r}: section letters A to Z, such as AABA or ABAC")
    if len(letters) > MAX_SECTIONS:
        raise TunesmithError(f"--form {text!r} has {len(letters)} sections: at most {MAX_SECTIONS}")
    if not 1 <= section_bars <= MAX_SECTION_BARS:
        raise TunesmithError(f"--section-bars must be between 1 and {MAX_SECTION_BARS}")
    return Form(letters, section_bars)


def form_length(form: Form, length: str = DEFAULT_LENGTH) -> str:
    """The length a form sets, ``"16bars"``; a one-line error for a ``--length`` that says otherwise.

    A length in bars must be the form's; any other length than the default (tokens, notes, seconds) is refused.
    """
    amount, unit = parse_length(length)
    if (unit == "bars" and amount != form.bars) or (unit != "bars" and length != DEFAULT_LENGTH):
        raise TunesmithError(
            f"--form {form.letters} with --section-bars {form.section_bars} is {form.bars} bars long: "
            f"leave out --length (or give {form.bars}bars)"
        )
    parse_length(f"{form.bars}bars")  # within what one sample can hold
    return f"{form.bars}bars"


def check_form(text: str | None, section_bars: int, length: str, beam: int) -> None:
    """The generate options that go with a form, checked; one line for the first that does not."""
    if text is None:
        raise TunesmithError("--section-bars needs --form")
    if beam > 1:
        raise TunesmithError("--form samples section by section: leave out --beam")
    form_length(parse_form(text, section_bars), length)


def form_of(text: str, section_bars: int, tokenizer: Any) -> Form:
    """The form to follow with ``tokenizer``'s bar token; a one-line error for an encoding that has none."""
    if tokenizer.bar_id is None:
        raise TunesmithError(
            f"--form counts bars by a bar token, which this model's encoding ({tokenizer.name}) has none of: "
            "it works with event models of the REMI scheme"
        )
    return parse_form(text, section_bars)


class FormFollower:
    """The form of each row of a batch, followed token by token (see the module's docstring).

    ``forced()`` gives the token each row must take next (-1: the model draws it); ``see(tokens)`` records the tokens
    taken and returns which rows have completed their form.
    """

    def __init__(self, form: Form, bar_id: int, rows: int) -> None:
        self.form, self.bar_id, self.rows = form, bar_id, rows
        self.bars = [0] * rows  # bar lines taken so far: the current bar's number, from 1
        self.sections: list[dict[int, list[int]]] = [{} for _ in range(rows)]  # new sections' tokens, bar line first
        self.queue: list[list[int]] = [[bar_id] for _ in range(rows)]  # tokens still to force, in order
        self.finished = [False] * rows

    def forced(self, device: torch.device | str = "cpu") -> torch.Tensor | None:
        """(B,) the token each row must take next, -1 where the model draws; None when no row is forced."""
        import torch  # here, not at the top: generate's options parse a form in a process that never loads torch

        if not any(self.queue):
            return None
        return torch.tensor([q[0] if q else -1 for q in self.queue], dtype=torch.long, device=device)

    def see(self, tokens: torch.Tensor) -> torch.Tensor:
        """Take the (B,) tokens of one step; (B,) True for the rows whose form is complete."""
        import torch

        for row, token in enumerate(tokens.tolist()):
            if self.finished[row]:
                continue
            if self.queue[row]:
                self.queue[row].pop(0)
            if token == self.bar_id:
                self._bar_line(row)
            if not self.finished[row]:
                section = (self.bars[row] - 1) // self.form.section_bars
                if section in self.sections[row]:  # a new section: its tokens are what its repeats will be
                    self.sections[row][section].append(token)
        return torch.tensor(self.finished, dtype=torch.bool, device=tokens.device)

    def _bar_line(self, row: int) -> None:
        self.bars[row] += 1
        section, bar_in_section = divmod(self.bars[row] - 1, self.form.section_bars)
        if bar_in_section:  # a bar line inside a section
            return
        if section == len(self.form.letters):  # the bar line after the last section
            self.finished[row] = True
            return
        source = self.form.source(section)
        if source is None:
            self.sections[row][section] = []
        else:  # the repeated section after its bar line, then the bar line that starts the next section
            self.queue[row] = [*self.sections[row][source][1:], self.bar_id]
