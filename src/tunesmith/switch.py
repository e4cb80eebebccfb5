"""A process-wide on/off switch that a ``with`` block sets and restores (the TorchScript and C++ steps use one each)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def switched(flag: list[bool], enabled: bool) -> Iterator[None]:
    """``flag[0]`` is ``enabled`` inside the block and what it was before after it, however the block ends."""
    before = flag[0]
    flag[0] = enabled
    try:
        yield
    finally:
        flag[0] = before
