"""Fine-tuning: a new run that starts from a trained model's weights (``train DATA --init RUN_DIR|CHECKPOINT``).

The model is the checkpoint's (its spec: preset, sizes, vocabulary size), with its weights; the optimizer, the
schedule and the progress start fresh. The data's vocabulary must be the checkpoint's, token for token in the same
order: an id means the same token to the model and to the data, or the run is refused in one line. Vocabularies are
never merged or resized silently (a new row of the embedding would be untrained noise the summary does not show);
to fine-tune on other music, prepare it so that it has the pretrained vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.checkpoint import FOR_MODEL, load_checkpoint, require
from tunesmith.errors import TunesmithError


@dataclass
class Init:
    """What a fine-tuning run starts from: the model spec and weights of a checkpoint, and where they came from."""

    path: str
    spec: dict[str, Any]
    weights: dict[str, Any]
    steps: int  # optimizer steps the checkpoint had been trained for
    data: str  # the data directory it was trained on

    def record(self) -> dict[str, Any]:
        """What ``train.json`` and the checkpoints remember of the start."""
        return {"from": self.path, "preset": self.spec.get("preset"), "steps": self.steps, "data": self.data}


def load_init(target: str | Path, vocab: list[str]) -> Init:
    """The checkpoint ``target`` (a run directory: its ``best.pt``) for a run on data with vocabulary ``vocab``.

    Raises a one-line ``TunesmithError`` when it is no usable checkpoint or its vocabulary is not ``vocab``.
    """
    ckpt = load_checkpoint(target)
    require(ckpt, FOR_MODEL, "start a fine-tuning run")
    theirs = list(ckpt.tokenizer.get("vocab", []))
    if theirs != list(vocab):
        raise TunesmithError(f"--init {target}: {vocabulary_difference(theirs, list(vocab))}")
    return Init(
        path=str(ckpt.path),
        spec=ckpt.model,
        weights=ckpt.weights,
        steps=int((ckpt.progress or {}).get("step", 0)),
        data=str((ckpt.data or {}).get("path", "")),
    )


def vocabulary_difference(checkpoint: list[str], data: list[str]) -> str:
    """Why two vocabularies cannot share a model, in one line: sizes, tokens on one side only, or the order."""
    only_data = [t for t in data if t not in set(checkpoint)]
    only_ckpt = [t for t in checkpoint if t not in set(data)]
    sizes = f"the checkpoint's vocabulary has {len(checkpoint)} tokens, the data's {len(data)}"
    if only_data or only_ckpt:
        parts = []
        if only_data:
            parts.append(f"{len(only_data)} only in the data (e.g. {', '.join(only_data[:3])})")
        if only_ckpt:
            parts.append(f"{len(only_ckpt)} only in the checkpoint (e.g. {', '.join(only_ckpt[:3])})")
        return f"{sizes}; {'; '.join(parts)}: the model cannot read this data (never resized silently)"
    return f"{sizes}, in another order: an id would mean another token to the model (never remapped silently)"
