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
from pathlib import Path
from typing import Any

import torch

from tunesmith.errors import TunesmithError

FORMAT = "tunesmith-checkpoint"
VERSION = 1
CHECKPOINTS = "checkpoints"
LAST, BEST = "last.pt", "best.pt"
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
        folder = target / CHECKPOINTS
        for name in (prefer, LAST, BEST):
            if (folder / name).is_file():
                return folder / name
        raise TunesmithError(f"{target} holds no checkpoint (expected {folder / LAST})")
    if not target.is_file():
        raise TunesmithError(f"checkpoint not found: {target}")
    return target


def load_checkpoint(target: str | Path, prefer: str = BEST, map_location: str | torch.device = "cpu") -> dict:
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
    data["path"] = str(path)
    return data


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


def require(ckpt: dict, fields: tuple[str, ...], purpose: str) -> None:
    """A one-line error when the checkpoint lacks fields that ``purpose`` needs, or its parts disagree."""
    missing = [f for f in fields if f not in ckpt]
    if missing:
        raise TunesmithError(
            f"{ckpt['path']} lacks {', '.join(missing)}: it is not a complete tunesmith checkpoint, so it cannot "
            f"be used to {purpose}"
        )
    try:
        vocab = int(ckpt["model"]["config"]["vocab_size"])
        size = len(ckpt["tokenizer"]["vocab"])
    except (KeyError, TypeError, ValueError):
        raise TunesmithError(f"{ckpt['path']} is damaged: its model or tokenizer description is incomplete") from None
    if vocab != size:
        raise TunesmithError(
            f"{ckpt['path']} is inconsistent: its model has {vocab} output tokens but its tokenizer {size}"
        )


def load_model(target: str | Path, prefer: str = BEST, device: str | torch.device = "cpu"):
    """``(model, tokenizer, checkpoint)`` from a checkpoint file or run directory, the model in eval mode."""
    from tunesmith.encodings import tokenizer_from_dict
    from tunesmith.models import build_model

    ckpt = load_checkpoint(target, prefer)
    require(ckpt, FOR_MODEL, "generate or evaluate")
    try:
        model = build_model(ckpt["model"])
        model.load_state_dict(ckpt["weights"])
        tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise TunesmithError(f"{ckpt['path']} is damaged or incompatible: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval(), tokenizer, ckpt
