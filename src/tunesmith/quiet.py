"""music21 talks: some warnings through ``warnings``, some printed on stderr. Catch both, summarise them."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from collections.abc import Iterator


@contextlib.contextmanager
def captured(into: list[str]) -> Iterator[list[str]]:
    """Run a block with Python warnings and stderr caught; their messages are appended to ``into``."""
    text = io.StringIO()
    with warnings.catch_warnings(record=True) as raised, contextlib.redirect_stderr(text):
        warnings.simplefilter("always")
        try:
            yield into
        finally:
            into.extend(str(w.message).strip() for w in raised)
            into.extend(line.strip() for line in text.getvalue().splitlines())


def summarise(messages: list[str], prefix: str = "music21") -> list[str]:
    """One line per distinct message, with how often it came: ``"music21: ... (x3)"``."""
    counts = Counter(m for m in messages if m)
    return [f"{prefix}: {m[:160]}" + (f" (x{n})" if n > 1 else "") for m, n in counts.items()]
