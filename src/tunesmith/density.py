"""``generate --density N|auto``: samples with about N notes a bar (``tunesmith.density_keeper`` keeps them).

A model sampled at temperature 1.0 drifts: a busy bar makes the next one busier, and the Bollywood multitrack model
plays 36 to 51 notes a bar where its training songs play about 30 (BENCHMARKS.md, "--density"). The keeper holds
each row to a density the way a thermostat holds a room: at every bar line it compares the notes the bar held with
the target and moves the row's pull on the tokens that open a note by ``GAIN * log((notes + 1) / (target + 1))``
logits. A pull of 1 changes the odds of starting a note against moving on in time by e, which on that model takes
a bar from 36 notes to 21: the bar after a busy one starts fewer notes, never cut short in the middle. ``auto`` asks
for the training corpus's own notes a bar, which the tokenizer counted when it was fitted.
"""

from __future__ import annotations

import math

from tunesmith.errors import TunesmithError

DENSITY_AUTO = "auto"
# Logits of pull per unit of log(notes / target) in one bar (the model's response is about 0.6 of that). Measured
# (BENCHMARKS.md, "--density"): at 0.5 the pull was still growing through the first 8-bar section, which AABA then
# repeats, and 32-bar samples played 39.1 notes a bar for 30.4 asked; at 1.0, 31.3.
GAIN = 1.0
MAX_ERROR = 1.0  # one bar moves the pull by at most GAIN: a bar of drums alone (no pitched note) is not a crisis
# The pull only ever holds notes back: it thins what starts together with a note (the pull is on the token that opens
# each note, and a note's onset is decided before it), and pushed the other way a model stacks chords until a sample
# holds 160 notes a bar (measured). A pull of 8 all but stops new notes (e^8 ~ 3000x less likely).
PULL_RANGE = (0.0, 8.0)


def parse_density(text: str | None) -> float | str | None:
    """``--density``: None (the model's own), ``"auto"`` or a positive number of notes a bar; one line when wrong."""
    if text is None or str(text).strip().lower() == DENSITY_AUTO:
        return None if text is None else DENSITY_AUTO
    try:
        value = float(text)
    except ValueError:
        raise TunesmithError(f"--density takes a number of notes a bar or auto, not {text!r}") from None
    if not 0 < value <= 1000 or not math.isfinite(value):
        raise TunesmithError(f"--density must be between 0 and 1000 notes a bar, not {text}")
    return value


def takes_density(tokenizer) -> bool:
    """Whether ``--density`` works for this model: bar tokens to count between, tokens that open a pitched note."""
    return tokenizer.bar_id is not None and any(tokenizer.opens_note(t) for t in tokenizer.vocab)


def corpus_density(tokenizer) -> float | None:
    """The training corpus's notes a bar (``--density auto``), counted at fit; None where the model has not it."""
    corpus = tokenizer.stats.get("notes_per_bar")
    return float(corpus) if corpus else None


def density_target(tokenizer, asked: float | str | None) -> float | None:
    """Notes a bar for ``--density`` on this model (None: not asked); a one-line error where the model cannot."""
    if asked is None:
        return None
    if not takes_density(tokenizer):
        raise TunesmithError(
            f"--density counts notes between bar lines, which this model's encoding ({tokenizer.name}) has not: "
            "it needs an event (REMI) model"
        )
    if asked != DENSITY_AUTO:
        return float(asked)
    corpus = corpus_density(tokenizer)
    if corpus is None:
        raise TunesmithError(
            "--density auto reads the training corpus's notes a bar, which this model's data did not record (it was "
            "prepared before tunesmith counted them): give a number, or prepare and train again"
        )
    return corpus


def describe_density(target: float, asked: float | str) -> str:
    """How ``--density`` keeps the notes a bar, in words for ``generate.json``."""
    where = "the training corpus's" if asked == DENSITY_AUTO else "asked"
    return f"{target:g} notes a bar ({where}), kept by pulling the note tokens at each bar line (gain {GAIN:g})"
