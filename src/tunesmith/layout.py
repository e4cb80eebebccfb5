"""Where everything lives on disk: a prepared data directory, a training run, a recipe's output.

Every file name of tunesmith's directories is here and nowhere else; the other modules ask these classes for
paths, and the small JSON records (reports, training progress, evaluations) are read and written here. The classes
are cheap views of a path: making one touches nothing on disk.

``DataDir`` (``tunesmith prepare -o``)::

    pieces.bin  pieces.jsonl  report.json  prepare.toml  tokenizer.json  checksums.json (written last)
    tokens/  meta.json  SPLIT.bin  SPLIT.idx.npy   (SPLIT: train, valid, test)

``RunDir`` (``tunesmith train -o``)::

    checkpoints/last.pt  checkpoints/best.pt  config.toml  metrics.csv  curves.png  train.json
    eval.json  eval-SPLIT.json  eval/  samples/ (generate.json, sample-NN.*)  tensorboard/

``RecipeDir`` (``tunesmith run -o``): ``data/`` (a DataDir), one RunDir per run, ``compare.*``, ``summary.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

SPLITS = ("train", "valid", "test")


def read_json(path: Path, what: str, missing_ok: bool = False) -> Any:
    """A JSON file's content; a damaged one is a one-line error naming ``what`` to redo.

    With ``missing_ok``, a file that is not there (a record not written yet) is ``None``.
    """
    if missing_ok and not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError:
        raise TunesmithError(f"{path} is damaged: {what}") from None


def write_json(path: Path, data: Any, indent: int | None = 1) -> Path:
    """Write JSON atomically: readers see the old file or the new one, never half of one."""
    return write_text_atomically(path, json.dumps(data, indent=indent, ensure_ascii=False, default=float))


def write_text_atomically(path: Path, text: str) -> Path:
    """Write UTF-8 text through a temporary sibling and a rename: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


class _Dir(os.PathLike):
    """A directory of a known layout: a path with named parts."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.path == self.path  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The directory's own name."""
        return self.path.name


class DataDir(_Dir):
    """A prepared corpus: the pieces as MIDI, their manifest and report, and, once encoded, the token splits."""

    MANIFEST = "pieces.jsonl"
    PIECES = "pieces.bin"
    REPORT = "report.json"
    SETTINGS = "prepare.toml"
    CHECKSUMS = "checksums.json"  # written last: every other file's size and SHA-256
    TOKENIZER = "tokenizer.json"
    TOKENS = "tokens"
    META = "meta.json"

    @property
    def manifest(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def pieces_file(self) -> Path:
        return self.path / self.PIECES

    @property
    def report_file(self) -> Path:
        return self.path / self.REPORT

    @property
    def settings_file(self) -> Path:
        return self.path / self.SETTINGS

    @property
    def checksums_file(self) -> Path:
        return self.path / self.CHECKSUMS

    @property
    def tokenizer_file(self) -> Path:
        return self.path / self.TOKENIZER

    @property
    def tokens_dir(self) -> Path:
        return self.path / self.TOKENS

    @property
    def meta_file(self) -> Path:
        return self.tokens_dir / self.META

    def ids_file(self, split: str) -> Path:
        """The token ids of a split, end to end."""
        return self.tokens_dir / f"{split}.bin"

    def bounds_file(self, split: str) -> Path:
        """The piece boundaries of a split (a NumPy array)."""
        return self.tokens_dir / f"{split}.idx.npy"

    def is_prepared(self) -> bool:
        """Whether a corpus has been prepared here (a manifest exists)."""
        return self.manifest.is_file()

    def has_tokens(self) -> bool:
        """Whether the corpus is encoded (a tokenizer and token splits exist)."""
        return self.tokenizer_file.is_file() and self.meta_file.is_file()

    def check_tokens(self) -> None:
        """A one-line error unless this is a prepared data directory with token data."""
        if not self.path.exists():
            raise TunesmithError(f"data directory {self.path} does not exist: make it with `tunesmith prepare`")
        if not self.path.is_dir():
            raise TunesmithError(f"{self.path} is a file, not a data directory: give the directory `prepare -o` wrote")
        for path in (self.tokenizer_file, self.meta_file):
            if not path.is_file():
                name = path.relative_to(self.path).as_posix()
                raise TunesmithError(
                    f"{self.path} has no token data (no {name}): run `tunesmith prepare ... --encoding NAME`"
                )

    def read_report(self) -> dict[str, Any] | None:
        """What ``prepare`` reported (kept and skipped files, the encoding), or ``None`` when there is none."""
        return read_json(self.report_file, "prepare the corpus again", missing_ok=True)

    def write_report(self, report: dict[str, Any], text: str | None = None) -> Path:
        """Write ``report.json`` (no indent: the C encoder is ten times faster); ``text``: the report as encoded."""
        if text is None:
            return write_json(self.report_file, report, indent=None)
        return write_text_atomically(self.report_file, text)

    def read_meta(self) -> dict[str, Any]:
        """The encoding's record: vocabulary size, dtype, split sizes, augmentation."""
        if not self.meta_file.is_file():
            raise TunesmithError(f"{self.path} has no token data: run `tunesmith prepare ... --encoding NAME`")
        return read_json(self.meta_file, "prepare the corpus again")

    def write_meta(self, meta: dict[str, Any]) -> Path:
        return write_json(self.meta_file, meta)


class RunDir(_Dir):
    """A training run: checkpoints, config, metrics and curves, progress against its budget, evaluations, samples."""

    CHECKPOINTS = "checkpoints"
    LAST = "last.pt"
    BEST = "best.pt"
    CONFIG = "config.toml"
    METRICS = "metrics.csv"
    CURVES = "curves.png"
    TRAINING = "train.json"  # how far the run got against its budget, and whether the safety cap cut it
    EVAL = "eval.json"
    EVAL_DIR = "eval"
    SAMPLES = "samples"
    TENSORBOARD = "tensorboard"
    MARKS = (CHECKPOINTS, METRICS, CONFIG)  # any of them means the directory holds a run

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    def checkpoint(self, which: str = LAST) -> Path:
        """``checkpoints/last.pt`` or ``checkpoints/best.pt`` (``which``: ``last``, ``best`` or a file name)."""
        name = {"last": self.LAST, "best": self.BEST}.get(which, which)
        return self.checkpoints / name

    def find_checkpoint(self, prefer: str = BEST) -> Path | None:
        """The preferred checkpoint when it exists, else the other one, else ``None``."""
        for name in (prefer, self.LAST, self.BEST):
            path = self.checkpoint(name)
            if path.is_file():
                return path
        return None

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics_file(self) -> Path:
        return self.path / self.METRICS

    @property
    def curves_file(self) -> Path:
        return self.path / self.CURVES

    @property
    def training_file(self) -> Path:
        return self.path / self.TRAINING

    @property
    def eval_dir(self) -> Path:
        return self.path / self.EVAL_DIR

    @property
    def samples(self) -> SamplesDir:
        return SamplesDir(self.path / self.SAMPLES)

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    def eval_file(self, split: str = "test") -> Path:
        """Where ``evaluate`` writes its report: ``eval.json`` for the test split, ``eval-SPLIT.json`` otherwise."""
        return self.path / (self.EVAL if split == "test" else f"eval-{split}.json")

    def holds_run(self) -> bool:
        """Whether a run has been started here."""
        return any((self.path / name).exists() for name in self.MARKS)

    def has_checkpoint(self) -> bool:
        return self.find_checkpoint() is not None

    def read_training(self) -> dict[str, Any] | None:
        """Steps and epochs done against the budget, minutes, threads, a cut by the safety cap (``train.json``)."""
        return read_json(self.training_file, "train the run again or resume it", missing_ok=True)

    def write_training(self, record: dict[str, Any]) -> Path:
        return write_json(self.training_file, record)

    def read_eval(self, split: str = "test") -> dict[str, Any] | None:
        """The report ``evaluate`` wrote, or ``None`` before it ran."""
        return read_json(self.eval_file(split), "evaluate the run again", missing_ok=True)

    def write_eval(self, report: dict[str, Any], split: str = "test") -> Path:
        return write_json(self.eval_file(split), report)


class SamplesDir(_Dir):
    """Generated samples: numbered ``sample-NN[-tT].*`` files and ``generate.json`` listing them."""

    SUMMARY = "generate.json"
    STEM = "sample-"

    @property
    def summary_file(self) -> Path:
        return self.path / self.SUMMARY

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary_file.is_file():
            return None
        try:
            return json.loads(self.summary_file.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def write_summary(self, summary: dict[str, Any]) -> Path:
        return write_json(self.summary_file, summary)

    def epoch_sample(self, epoch: int) -> Path:
        """Where the trainer's ``--sample-every`` hook writes its MIDI file of an epoch."""
        return self.path / f"epoch-{epoch}.mid"


class RecipeDir(_Dir):
    """A recipe's output: its prepared data, one run directory per run, the comparison and ``summary.json``."""

    DATA = "data"
    COMPARE = "compare"
    SUMMARY = "summary.json"
    COMMANDS = "commands.txt"

    @property
    def data(self) -> DataDir:
        return DataDir(self.path / self.DATA)

    def run_data(self, name: str) -> DataDir:
        """The data of a run that prepares its own (a recipe run with its own ``prepare`` options)."""
        return DataDir(self.path / f"{self.DATA}-{name}")

    def run(self, name: str) -> RunDir:
        return RunDir(self.path / name)

    @property
    def compare_stem(self) -> Path:
        return self.path / self.COMPARE

    @property
    def summary_file(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def commands_file(self) -> Path:
        return self.path / self.COMMANDS

    def read_summary(self) -> dict[str, Any] | None:
        return read_json(self.summary_file, "run the recipe again", missing_ok=True)

    def write_summary(self, summary: dict[str, Any]) -> Path:
        return write_json(self.summary_file, summary)
