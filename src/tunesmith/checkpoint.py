"""Checkpoints: written atomically, read without ever unpickling arbitrary objects.

A checkpoint is one ``torch.save`` file holding only tensors and plain containers: the weights, the optimizer and
scheduler states, the RNG states, the progress counters, and, as JSON text, the model spec, the run config, the
history and the tokenizer, so that a checkpoint alone is enough to generate. It is read with
``torch.load(weights_only=True)``, whose unpickler builds nothing but those types: a file carrying a pickled
payload is refused before anything in it runs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import torch

from tunesmith.config import TrainConfig, from_dict
from tunesmith.errors import TunesmithError
from tunesmith.layout import RunDir

FORMAT = "tunesmith-checkpoint"
VERSION = 1
LAST, BEST = RunDir.LAST, RunDir.BEST
JSON_FIELDS = ("model", "config", "history", "tokenizer", "progress", "data")
# What each use needs from a checkpoint; a file without them is refused in one line before anything is built.
FOR_MODEL = ("model", "weights", "tokenizer", "config")
FOR_RESUME = (*FOR_MODEL, "optimizer", "scheduler", "progress", "history", "rng")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, fsynced, then renamed.

    The JSON fields (see ``JSON_FIELDS``) are stored as text; everything else must be tensors or plain data.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION}
    for key, value in payload.items():
        data[key] = json.dumps(value) if key in JSON_FIELDS else value
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never half of one
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def checkpoint_path(target: str | Path, prefer: str = BEST) -> Path:
    """The checkpoint file for a file path or a run directory (``best.pt`` if there is one, else ``last.pt``)."""
    target = Path(target)
    if target.is_dir():
        found = RunDir(target).find_checkpoint(prefer)
        if found is None:
            raise TunesmithError(f"{target} holds no checkpoint (expected {RunDir(target).checkpoint(LAST)})")
        return found
    if not target.is_file():
        raise TunesmithError(f"checkpoint not found: {target}")
    return target


@dataclass
class Checkpoint:
    """What a checkpoint file holds, read and typed: enough to rebuild the model, generate, evaluate or resume.

    ``model`` is the model spec, ``config`` the run's ``TrainConfig`` as plain data, ``tokenizer`` the tokenizer's
    description (its vocabulary included), ``data`` the data directory and its fingerprint. The training state
    (``optimizer``, ``scheduler``, ``rng``, ``stream_state``) is there in ``last.pt`` for an exact resume.
    """

    path: Path
    present: frozenset[str]  # the fields the file holds: ``require`` refuses one that lacks what a use needs
    model: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    stream_state: Any = None
    init: dict[str, Any] | None = None  # fine-tuning: the checkpoint its weights started from

    @property
    def run_dir(self) -> RunDir | None:
        """The run directory the file lies in, when it lies in one's ``checkpoints/`` folder."""
        return RunDir(self.path.parent.parent) if self.path.parent.name == RunDir.CHECKPOINTS else None

    @property
    def run_name(self) -> str:
        """The run's name (its directory), or the file's stem for a checkpoint elsewhere."""
        return self.run_dir.name if self.run_dir is not None else self.path.stem

    @property
    def data_dir(self) -> Path:
        """The data directory the run was trained on (it may have moved or changed since)."""
        return Path(str(self.config.get("data", "")))

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """What the run remembers of its data (``tunesmith.data.data_fingerprint``), if it recorded it."""
        return (self.data or {}).get("fingerprint")

    @property
    def epochs(self) -> int:
        """Epochs trained when it was written: its history ends at the epoch it was saved."""
        return len(self.history)

    def payload(self) -> dict[str, Any]:
        """The fields the file holds, as ``save_checkpoint`` takes them."""
        return {name: getattr(self, name) for name in sorted(self.present)}

    def train_config(self) -> TrainConfig:
        """The run's config as a ``TrainConfig``; one line when this tunesmith cannot read it."""
        try:
            return from_dict(TrainConfig, self.config)
        except TunesmithError as exc:
            raise TunesmithError(f"{self.path} holds a config this tunesmith cannot use: {exc}") from None


def load_checkpoint(target: str | Path, prefer: str = BEST, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint (a file or a run directory) and check that it is one of ours."""
    path = checkpoint_path(target, prefer)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the restricted unpickler refuses payloads; a foreign file fails in many ways
        raise TunesmithError(
            f"{path} is not a tunesmith checkpoint; refused to load it ({_load_failure(exc)})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TunesmithError(f"{path} is not a tunesmith checkpoint (no {FORMAT!r} marker)")
    if data.get("version", 0) > VERSION:
        raise TunesmithError(f"{path} was written by a newer tunesmith (checkpoint version {data['version']})")
    try:
        for key in JSON_FIELDS:
            if key in data:
                data[key] = json.loads(data[key])
    except (TypeError, ValueError) as exc:
        raise TunesmithError(f"{path} is damaged: field {key!r} is not valid JSON ({exc})") from None
    names = {f.name for f in fields(Checkpoint)} - {"path", "present"}
    present = frozenset(k for k in data if k in names)
    return Checkpoint(path=Path(path), present=present, **{k: data[k] for k in present})


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line, whole: the blocked global when there is one."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it would call {found.group(1)}, which weights-only loading blocks; nothing in it was run"
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith(("Weights only load failed", "Check the documentation"))
    ]
    return " ".join(lines) or type(exc).__name__


def require(ckpt: Checkpoint, needed: tuple[str, ...], purpose: str) -> None:
    """A one-line error when the checkpoint lacks fields that ``purpose`` needs, or its parts disagree."""
    missing = [f for f in needed if f not in ckpt.present]
    if missing:
        raise TunesmithError(
            f"{ckpt.path} lacks {', '.join(missing)}: it is not a complete tunesmith checkpoint, so it cannot "
            f"be used to {purpose}"
        )
    try:
        vocab = int(ckpt.model["config"]["vocab_size"])
        size = len(ckpt.tokenizer["vocab"])
    except (KeyError, TypeError, ValueError):
        raise TunesmithError(f"{ckpt.path} is damaged: its model or tokenizer description is incomplete") from None
    if vocab != size:
        raise TunesmithError(
            f"{ckpt.path} is inconsistent: its model has {vocab} output tokens but its tokenizer {size}"
        )


class LoadedModel(NamedTuple):
    """A checkpoint's model (in eval mode, on its device), its tokenizer and the checkpoint itself."""

    model: Any  # a tunesmith.models.SequenceModel
    tokenizer: Any  # a tunesmith.encodings.Tokenizer
    checkpoint: Checkpoint


def load_model(target: str | Path, prefer: str = BEST, device: str | torch.device = "cpu") -> LoadedModel:
    """The model, tokenizer and checkpoint of a checkpoint file or run directory, the model in eval mode."""
    from tunesmith.encodings import tokenizer_from_dict
    from tunesmith.models import build_model

    ckpt = load_checkpoint(target, prefer)
    require(ckpt, FOR_MODEL, "generate or evaluate")
    try:
        model = build_model(ckpt.model)
        model.load_state_dict(ckpt.weights)
        tokenizer = tokenizer_from_dict(ckpt.tokenizer)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise TunesmithError(f"{ckpt.path} is damaged or incompatible: {str(exc).splitlines()[0]}") from None
    return LoadedModel(model.to(device).eval(), tokenizer, ckpt)
