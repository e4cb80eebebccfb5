"""What every subcommand shares: a parser whose errors are one line, and option helpers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, never a usage dump or a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def key_values(option: str, items: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``KEY=VALUE`` items (``--model-option``, ``--encoding-option``) typed after ``defaults``.

    A key ``defaults`` does not know is kept as text: the config it goes to refuses it with its own message.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TunesmithError(f"bad {option} {item!r}: KEY=VALUE with KEY one of {', '.join(sorted(defaults))}")
        out[key] = coerce(option, key, value, defaults[key]) if key in defaults else value
    return out


def coerce(option: str, key: str, value: str, default: Any) -> Any:
    """``value`` as the type of ``default`` (bool, int, float, tuple of numbers, or text)."""
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if isinstance(default, tuple):
            return tuple(float(v) if "." in v else int(v) for v in value.split(",") if v)
        if isinstance(default, (int, float)):
            return type(default)(value)
        if default is None and value.lower() in ("none", ""):
            return None
        if default is None:
            for kind in (int, float):
                try:
                    return kind(value)
                except ValueError:
                    pass
        return value
    except ValueError:
        raise TunesmithError(f"bad {option} {key}={value!r}: {key} takes a {type(default).__name__}") from None


def check_output_file(path: Path, option: str) -> None:
    """An output file's path must not be a folder, nor lie under a file."""
    if path.is_dir():
        raise TunesmithError(f"{option} {path} is a directory: give a file name")
    for step in path.parents:
        if step.exists():
            if not step.is_dir():
                raise TunesmithError(f"{option} {path} lies under {step}, which is a file: give another path")
            return


def check_output_dir(path: Path, option: str) -> None:
    """An output directory's path must not be a file, nor lie under one."""
    for step in (path, *path.parents):
        if step.exists():
            if not step.is_dir():
                what = "is a file" if step == path else f"lies under {step}, which is a file"
                raise TunesmithError(f"{option} {path} {what}: give a directory")
            return
