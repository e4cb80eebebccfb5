"""The models behind the presets (``tunesmith.models.presets``): their config classes, specs and builders."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.models.attention import AttentionLSTM, AttentionLSTMConfig
from tunesmith.models.base import SequenceModel
from tunesmith.models.presets import PRESETS, Preset, describe_models, get_preset
from tunesmith.models.rnn import RNNConfig, RNNModel
from tunesmith.models.seq2seq import Seq2Seq, Seq2SeqConfig
from tunesmith.models.transformer import Transformer, TransformerConfig

__all__ = ["KINDS", "PRESETS", "Preset", "build_model", "describe_models", "get_preset", "model_defaults", "model_spec"]

KINDS: dict[str, tuple[type, type[SequenceModel]]] = {
    "rnn": (RNNConfig, RNNModel),
    "attention-lstm": (AttentionLSTMConfig, AttentionLSTM),
    "seq2seq": (Seq2SeqConfig, Seq2Seq),
    "transformer": (TransformerConfig, Transformer),
}


def model_defaults(name: str) -> dict[str, Any]:
    """Preset ``name``'s model settings, each with its value there (what ``--model-option KEY=VALUE`` may change)."""
    preset = get_preset(name)
    config_cls, _ = KINDS[preset.kind]
    return {f.name: preset.model.get(f.name, f.default) for f in fields(config_cls) if f.name != "vocab_size"}


def model_spec(name: str, vocab_size: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, self-contained description of a model: ``{"preset", "kind", "config"}`` (what checkpoints store)."""
    preset = get_preset(name)
    config_cls, _ = KINDS[preset.kind]
    known = {f.name for f in fields(config_cls)}
    unknown = set(overrides or {}) - known
    if unknown:
        raise TunesmithError(
            f"model {name!r} has no option {', '.join(sorted(unknown))}: "
            f"it has {', '.join(sorted(known - {'vocab_size'}))}"
        )
    try:
        config = config_cls(**{**preset.model, **(overrides or {}), "vocab_size": vocab_size})
    except (TypeError, ValueError) as exc:
        raise TunesmithError(f"bad option for model {name!r}: {exc}") from None
    return {"preset": name, "kind": preset.kind, "config": asdict(config)}


def build_model(spec: dict[str, Any]) -> SequenceModel:
    """A fresh model from a spec made by ``model_spec`` (or read from a checkpoint)."""
    if spec.get("kind") not in KINDS:
        raise TunesmithError(f"unknown model kind {spec.get('kind')!r}")
    config_cls, model_cls = KINDS[spec["kind"]]
    return model_cls(config_cls(**spec["config"]))
