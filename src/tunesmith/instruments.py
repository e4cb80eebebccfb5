"""General MIDI instrument names, from pretty_midi's table."""

from __future__ import annotations

from functools import cache


@cache
def _gm_names() -> tuple[str, ...]:
    from pretty_midi.constants import INSTRUMENT_MAP

    return tuple(INSTRUMENT_MAP)


def gm_name(program: int, is_drum: bool = False) -> str:
    """The General MIDI name of ``program`` (0..127), or ``"Drums"`` for a drum track."""
    if is_drum:
        return "Drums"
    names = _gm_names()
    return names[program] if 0 <= program < len(names) else f"Program {program}"
