"""Configuration: one dataclass per component, each validating itself, composed into a run config.

Every config round-trips through plain dictionaries, so TOML (and JSON) in and out are one function each.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tunesmith.errors import TunesmithError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

INSTRUMENT_MODES = ("dominant", "all", "merge")
DRUM_MODES = ("drop", "keep")

T = TypeVar("T")


def parse_programs(text: str | None) -> tuple[int, ...] | None:
    """Parse a General MIDI program list such as ``"0-7,73"`` into ``(0, 1, ..., 7, 73)``."""
    if text is None or str(text).strip() == "":
        return None
    programs: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                programs.update(range(lo, hi + 1))
            else:
                programs.add(int(part))
        except ValueError:
            raise TunesmithError(f"bad program list {text!r}: expected numbers and ranges like 0-7,73") from None
    if not all(0 <= p <= 127 for p in programs):
        raise TunesmithError(f"bad program list {text!r}: General MIDI programs are 0..127")
    return tuple(sorted(programs))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> (2, 4): the second of four slices; ``None`` or ``""`` -> None (no sharding)."""
    if not text:
        return None
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise TunesmithError(f"bad --shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4")
    return k, n


@dataclass
class SelectConfig:
    """Which tracks of a song become training examples.

    ``dominant``: the pitched track with the most notes, one example per song. ``all``: every pitched track with at
    least ``min_notes`` notes, each its own example. ``merge``: all kept tracks of a song in one example.
    """

    instruments: str = "dominant"
    min_notes: int = 5
    programs: tuple[int, ...] | str | None = None  # a string such as "0-7,73" is parsed
    drums: str = "drop"

    def __post_init__(self) -> None:
        if isinstance(self.programs, str):
            self.programs = parse_programs(self.programs)
        elif self.programs is not None:
            self.programs = tuple(int(p) for p in self.programs)
        if self.instruments not in INSTRUMENT_MODES:
            raise TunesmithError(
                f"unknown instrument mode {self.instruments!r}: choose one of {', '.join(INSTRUMENT_MODES)}"
            )
        if self.drums not in DRUM_MODES:
            raise TunesmithError(f"unknown drum mode {self.drums!r}: choose one of {', '.join(DRUM_MODES)}")
        if self.min_notes < 1:
            raise TunesmithError(f"--min-notes must be at least 1, got {self.min_notes}")


@dataclass
class IngestConfig:
    """How source files are found and parsed."""

    workers: int = 0  # 0: one per core
    file_timeout: float = 30.0
    max_files: int | None = None
    sample: int | None = None
    seed: int = 0
    cache_dir: str | None = None  # None: $TUNESMITH_CACHE or ~/.cache/tunesmith
    use_cache: bool = True
    grid: int = 480  # ticks per quarter for pieces converted by music21
    shard: str | None = None  # "K/N": only the K-th of N slices of the file list (merged by prepare --merge)

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise TunesmithError(f"--workers must be 0 (one per core) or more, got {self.workers}")
        if not self.file_timeout > 0:
            raise TunesmithError(f"--file-timeout must be positive, got {self.file_timeout}")
        for name in ("max_files", "sample"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TunesmithError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.shard is not None:
            parse_shard(self.shard)

    @property
    def n_workers(self) -> int:
        """The number of worker processes to start."""
        return self.workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

    @property
    def cache_path(self) -> Path:
        """Where parsed files are cached."""
        if self.cache_dir:
            return Path(self.cache_dir)
        env = os.environ.get("TUNESMITH_CACHE")
        return Path(env) if env else Path.home() / ".cache" / "tunesmith"


@dataclass
class PrepareConfig:
    """Everything ``tunesmith prepare`` needs: where from, how to parse, which tracks."""

    sources: list[str] = field(default_factory=list)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    select: SelectConfig = field(default_factory=SelectConfig)


TARGET_MODES = ("all", "last", "stream")
OPTIMIZERS = ("adam", "adamw", "adamax", "rmsprop", "sgd")
SCHEDULES = ("none", "cosine", "plateau", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")
TRAIN_DEFAULTS: dict[str, Any] = {
    "targets": "all",
    "batch_size": 32,
    "seq_len": 128,
    "optimizer": "adamw",
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "weight_decay": 0.0,
}


@dataclass
class TrainConfig:
    """Everything ``tunesmith train`` needs. ``None`` means "the model preset's default" (then the global one).

    ``targets``: ``all`` (a target at every position), ``last`` (one target per window, as the seeds trained) or
    ``stream`` (contiguous streams with the state carried between batches, the char-RNN seed's stateful training).
    """

    data: str = ""
    model: str = "lstm"
    model_options: dict[str, Any] = field(default_factory=dict)
    targets: str | None = None
    epochs: int = 10
    batch_size: int | None = None
    seq_len: int | None = None
    steps_per_epoch: int | None = None  # None: every window (or stream step) once
    valid_batches: int = 50
    optimizer: str | None = None
    lr: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    momentum: float = 0.0
    clip: float = 1.0  # gradient norm clipping; 0 turns it off
    schedule: str = "none"
    warmup: int = 0  # steps of linear warm-up
    patience: int = 0  # early stopping after this many epochs without a better validation loss; 0: never
    max_minutes: float = 0.0  # safety cap: stop after the epoch that passes this many minutes of this command; 0: none
    checkpoint_every: int = 100  # steps between mid-epoch checkpoints; 0: at epoch ends only
    sample_every: int = 0  # epochs between sample MIDI files; 0: none
    sample_length: int = 256
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0: the cores of the CPU affinity
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.betas is not None:
            self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
            if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
                raise TunesmithError(f"--betas must be two numbers in [0, 1), got {self.betas}")
        checks = [
            (self.targets in (None, *TARGET_MODES), f"--targets must be one of {', '.join(TARGET_MODES)}"),
            (self.optimizer in (None, *OPTIMIZERS), f"--optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size is None or self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.seq_len is None or self.seq_len >= 1, "--seq-len must be at least 1"),
            (self.steps_per_epoch is None or self.steps_per_epoch >= 1, "--steps-per-epoch must be at least 1"),
            (self.valid_batches >= 0, "--valid-batches must be 0 or more"),
            (self.lr is None or self.lr > 0, "--lr must be positive"),
            (self.weight_decay is None or self.weight_decay >= 0, "--weight-decay must be 0 or more"),
            (self.clip >= 0, "--clip must be 0 (off) or positive"),
            (self.max_minutes >= 0, "--max-minutes must be 0 (no limit) or positive"),
            (self.threads >= 0, "--threads must be 0 (the cores) or positive"),
            (min(self.warmup, self.patience, self.checkpoint_every, self.sample_every) >= 0, "counts must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise TunesmithError(message)

    def resolved(self, preset_defaults: dict[str, Any]) -> TrainConfig:
        """A copy with every ``None`` filled from the preset's defaults, then the global ones."""
        filled = {
            name: preset_defaults.get(name, TRAIN_DEFAULTS[name])
            if getattr(self, name) is None
            else getattr(self, name)
            for name in TRAIN_DEFAULTS
        }
        return dataclasses.replace(self, **filled)


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data: nested dataclasses become tables, tuples lists, ``None`` is left out (TOML)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build config ``cls`` from plain data, refusing unknown keys with a one-line message."""
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TunesmithError(f"unknown setting(s) for {cls.__name__}: {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        default = known[name].default_factory if known[name].default_factory is not dataclasses.MISSING else None
        sample = default() if default is not None else None
        if dataclasses.is_dataclass(sample) and isinstance(value, dict):
            value = from_dict(type(sample), value)
        elif not _fits(value, hints[name]):
            raise TunesmithError(
                f"bad setting {name} = {value!r}: {name} takes {_describe(hints[name])}, not {_kind(value)}"
            )
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TunesmithError(f"bad settings for {cls.__name__}: {exc}") from None


def _fits(value: Any, hint: Any) -> bool:
    """Whether a plain value (from TOML, JSON or the command line) fits a field's type annotation."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a type this check does not know: the dataclass checks it itself


def _describe(hint: Any) -> str:
    """A field type in words: ``an integer``, ``a number``, ``a list of 2 numbers or nothing``..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).split(' ', 1)[1]}s"
        return f"a list of {len(args)} {_describe(args[0]).split(' ', 1)[1]}s"
    if origin is list:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s"
    if origin is dict or hint is dict:
        return "a table"
    return str(hint)


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a fraction", str: "a string", list: "a list"}
    names[dict] = "a table"
    return names.get(type(value), type(value).__name__)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into plain data, with a one-line message for a missing or malformed file."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise TunesmithError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TunesmithError(f"config file {path} is not valid TOML: {exc}") from None


def dump_toml(config: Any, path: str | Path) -> None:
    """Write a config dataclass as TOML."""
    import tomli_w

    Path(path).write_text(tomli_w.dumps(to_dict(config)))
