"""Command-line flags made from the config dataclasses' own declarations (``tunesmith.config.option``).

A field's name, type, default, help, metavar and choices are written once, in its dataclass; ``add_options`` turns
every field of a config into a flag, and ``given`` reads back the values the user gave (every flag defaults to
``None``, so a settings file or a preset fills what was not given).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from tunesmith.errors import TunesmithError


def _base(hint: Any) -> Any:
    """The type under ``X | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return hint


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _typed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for argparse: a ``TunesmithError`` becomes argparse's own one-line error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except TunesmithError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def flag_of(cls: type, name: str) -> str:
    """The command-line flag of field ``name`` of config ``cls``."""
    spec = next(f for f in dataclasses.fields(cls) if f.name == name)
    return spec.metadata.get("flag") or "--" + name.replace("_", "-")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    title: str | None = None,
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Add a flag for every command-line field of config ``cls``; returns the field names added.

    Fields are grouped under ``title`` (or their own ``group``) in ``--help``.
    """
    hints = typing.get_type_hints(cls)

    def group_for(name: str | None) -> Any:
        label = name or title
        if not label or not isinstance(parser, argparse.ArgumentParser):
            return parser
        for group in parser._action_groups:  # a group the command made already, e.g. "model"
            if group.title == label:
                return group
        return parser.add_argument_group(label)

    added = []
    for spec in dataclasses.fields(cls):
        meta = spec.metadata
        if not meta or not meta.get("cli", True) or spec.name in skip:
            continue
        default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()  # type: ignore[misc]
        kind = _base(hints[spec.name])
        flag = flag_of(cls, spec.name)
        text = meta.get("help") or spec.name
        kwargs: dict[str, Any] = {"dest": spec.name, "default": None}
        if kind is bool:
            kwargs["action"] = "store_false" if default else "store_true"
        else:
            choices = meta.get("choices")
            if callable(choices):
                choices = choices()
            if choices is not None:
                kwargs["choices"] = list(choices)
            parse = meta.get("parse") or (kind if kind in (int, float, str) else str)
            kwargs["type"] = _typed(parse)
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            if meta.get("nargs"):
                kwargs["nargs"] = meta["nargs"]
            if default is not None and default != "" and "(default" not in text:
                text = f"{text} (default {_default_text(default)})"
        kwargs["help"] = text
        group_for(meta.get("group")).add_argument(flag, **kwargs)
        added.append(spec.name)
    return added


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of config ``cls`` that the user set on the command line (as their values)."""
    out = {}
    for spec in dataclasses.fields(cls):
        value = getattr(args, spec.name, None)
        if value is not None and spec.metadata.get("cli", True):
            out[spec.name] = tuple(value) if isinstance(value, list) else value
    return out
