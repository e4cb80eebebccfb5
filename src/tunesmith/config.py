"""Configuration: one dataclass per component, each validating itself, composed into a run config.

Every config round-trips through plain dictionaries, so TOML (and JSON) in and out are one function each. Each
field a user sets is declared once, with ``option(...)``: its default, its help text, its choices; the command line
(``tunesmith.cli.options``) builds its flags from these declarations, so nothing is listed twice.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tunesmith.errors import TunesmithError
from tunesmith.optimizers import OPTIMIZERS, SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

INSTRUMENT_MODES = ("dominant", "all", "merge")
DRUM_MODES = ("drop", "keep")

T = TypeVar("T")


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    metavar: str | None = None,
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    flag: str | None = None,
    parse: Callable[[str], Any] | None = None,
    nargs: str | None = None,
    group: str | None = None,
    cli: bool = True,
) -> Any:
    """A config field with what the command line needs to offer it: help, metavar, choices, its flag.

    ``flag`` defaults to ``--NAME-WITH-DASHES``; a ``bool`` field defaulting to true is offered as its ``--no-``
    flag. ``parse`` turns the text given into the field's value (lists such as ``0.9,0.999``). ``cli=False`` keeps
    a field off the command line (set from a file, an API call or another flag).
    """
    meta = {
        "help": help,
        "metavar": metavar,
        "choices": choices,
        "flag": flag,
        "parse": parse,
        "nargs": nargs,
        "group": group,
        "cli": cli,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


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

    instruments: str = option(
        "dominant",
        "dominant: the pitched track with most notes; all: each track with --min-notes as its own example; "
        "merge: all kept tracks in one example",
        choices=INSTRUMENT_MODES,
    )
    min_notes: int = option(5, "least notes for a track to count", metavar="N")
    programs: tuple[int, ...] | str | None = option(  # a string such as "0-7,73" is parsed
        None, "keep only these General MIDI programs, e.g. 0-7,73", metavar="LIST"
    )
    drums: str = option("drop", "drum tracks", choices=DRUM_MODES)

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

    workers: int = option(
        0,
        "worker processes (0: one per core, started only for a corpus large enough to pay for them; 1: this process"
        " parses, with one worker only for files a time limit must stop: music21's formats, MIDI over 4 MiB)",
    )
    file_timeout: float = option(30.0, "abandon a file after S seconds", metavar="S")
    max_files: int | None = option(None, "take at most N files", metavar="N")
    sample: int | None = option(None, "a random subset of N files (see --seed)", metavar="N")
    seed: int = option(0, "seed for --sample and the split")
    cache_dir: str | None = option(None, "parse cache (default $TUNESMITH_CACHE or ~/.cache/tunesmith)", metavar="DIR")
    use_cache: bool = option(True, "parse every file, read and write no cache", flag="--no-cache")
    grid: int = option(480, "ticks per quarter for pieces converted by music21", cli=False)
    shard: str | None = option(
        None,
        "only the K-th of N slices of the sorted file list, into its own DATA_DIR (join them with --merge)",
        metavar="K/N",
    )

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
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("float32", "bfloat16", "int8")  # weights for stepping on the CPU (tunesmith.models.fused_rnn)
MAX_SECONDS = 600.0  # the longest WAV written unless asked otherwise (tunesmith.rendering)
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

    data: str = option("", "the data directory (from `tunesmith prepare --encoding`)", cli=False)
    model: str = option("lstm", "a preset from --list-models", metavar="NAME", group="model")
    model_options: dict[str, Any] = option(help="the preset's model settings to change", factory=dict, cli=False)
    init: str | None = option(
        None,
        "fine-tune: start from this trained model (its best.pt for a run directory; the same vocabulary as "
        "DATA_DIR), with a fresh optimizer",
        metavar="RUN_DIR|CHECKPOINT",
        group="model",
    )
    targets: str | None = option(
        None,
        "all: a target at every position; last: one per window (the seeds); stream: stateful streams",
        choices=TARGET_MODES,
        group="model",
    )
    epochs: int = option(10, "epochs (with --resume: the new total)")
    batch_size: int | None = option(None, "sequences per batch (default: the preset's)", metavar="B")
    seq_len: int | None = option(None, "window length in tokens (default: the preset's)", metavar="T")
    steps_per_epoch: int | None = option(None, "at most N batches per epoch (default: every window once)", metavar="N")
    valid_batches: int = option(50, "validation batches per epoch", metavar="N")
    optimizer: str | None = option(None, "the optimizer (default: the preset's)", choices=OPTIMIZERS)
    lr: float | None = option(None, "learning rate (default: the preset's)")
    betas: tuple[float, float] | None = option(
        None, "Adam-family betas, e.g. 0.3,0.999", metavar="B1,B2", parse=lambda text: parse_numbers(text, 2)
    )
    weight_decay: float | None = option(None, "weight decay (default: the preset's)", metavar="W")
    momentum: float = option(0.0, "SGD / RMSprop momentum")
    clip: float = option(1.0, "gradient norm clipping (0: off)", metavar="NORM")
    schedule: str = option("none", "learning-rate schedule", choices=SCHEDULES)
    warmup: int = option(0, "linear warm-up steps", metavar="STEPS")
    patience: int = option(0, "early stopping after E epochs without a better validation loss (0: never)", metavar="E")
    max_minutes: float = option(
        0.0, "safety cap: stop after the epoch that reaches M minutes, and say the run was cut short", metavar="M"
    )
    checkpoint_every: int = option(100, "steps between mid-epoch checkpoints (0: at epoch ends)", metavar="STEPS")
    sample_every: int = option(0, "write RUN_DIR/samples/epoch-N.mid every E epochs (0: never)", metavar="E")
    sample_length: int = option(256, "length of those samples in tokens", metavar="TOKENS")
    seed: int = option(0, "random seed")
    device: str = option("auto", "where to train", choices=DEVICES)
    threads: int = option(
        0, "torch threads (0: the cores of this process's CPU affinity, whatever the load)", metavar="N"
    )
    bf16: bool = option(False, "bfloat16 autocast (faster on recent CPUs and GPUs)")

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


def parse_numbers(text: str, count: int | None = None) -> tuple[float, ...]:
    """``"0.9,0.999"`` -> ``(0.9, 0.999)``; ``count`` numbers exactly when given (a one-line error otherwise)."""
    try:
        numbers = tuple(float(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        numbers = ()
    if not numbers or (count is not None and len(numbers) != count):
        what = f"{count} numbers" if count else "numbers"
        raise TunesmithError(f"expected {what} separated by commas, like 0.9,0.999, got {text!r}")
    return numbers


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
