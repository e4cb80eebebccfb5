"""Sequence models behind one contract (``forward(tokens, state) -> (logits, state)``) and their presets.

The names below are imported on first use: ``tunesmith.models.presets`` (what ``train --list-models`` prints) must
not pull in torch through the models.
"""

from tunesmith.lazy import lazy_names

_WHERE = {
    "PRESETS": "tunesmith.models.presets",
    "SequenceModel": "tunesmith.models.base",
    "build_model": "tunesmith.models.registry",
    "describe_models": "tunesmith.models.presets",
    "detach_state": "tunesmith.models.base",
    "get_preset": "tunesmith.models.presets",
    "map_state": "tunesmith.models.base",
    "model_spec": "tunesmith.models.registry",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
