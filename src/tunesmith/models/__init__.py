"""Sequence models behind one contract (``forward(tokens, state) -> (logits, state)``) and their presets."""

from tunesmith.models.base import SequenceModel, detach_state, map_state
from tunesmith.models.registry import PRESETS, build_model, describe_models, get_preset, model_spec

__all__ = [
    "PRESETS",
    "SequenceModel",
    "build_model",
    "describe_models",
    "detach_state",
    "get_preset",
    "map_state",
    "model_spec",
]
