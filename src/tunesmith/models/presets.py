"""Named model presets: the generic models and each seed's network, with the training defaults they came with.

Plain data, without torch: ``train --list-models`` and the option parsers read it; ``tunesmith.models.registry``
builds the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesmith.errors import TunesmithError


@dataclass(frozen=True)
class Preset:
    """A named model: its kind, its config values and the trainer defaults it came with."""

    name: str
    kind: str
    about: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # trainer defaults the seed used (targets, seq_len, ...)


_BILSTM = dict(
    cell="lstm",
    embed_dim=64,
    hidden=(64, 128, 64),
    norm="batch",
    activation="leaky_relu",
    slope=0.2,
    post_order=("norm", "act", "dropout"),
    dropout=0.7,
    head=(128,),
    head_activation="leaky_relu",
    head_norm="batch",
    head_l2=0.004,
    last_only=True,
)
_STACK_TRAIN = dict(targets="all", seq_len=128, batch_size=32, optimizer="adamw", lr=2e-3, weight_decay=0.01)
_BILSTM_TRAIN = dict(targets="last", seq_len=100, batch_size=64, optimizer="adam", lr=1e-6, betas=(0.3, 0.999))
_PIANO_TRAIN = dict(targets="last", seq_len=50, batch_size=64, optimizer="adamax", lr=1e-3)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "lstm",
            "rnn",
            "stacked LSTM (3 x 512, dropout 0.3), a target at every position; steps one token at a time",
            dict(cell="lstm", embed_dim=256, hidden=(512, 512, 512), dropout=0.3),
            _STACK_TRAIN,
        ),
        Preset(
            "gru",
            "rnn",
            "stacked GRU (3 x 512, dropout 0.3), a target at every position; steps one token at a time",
            dict(cell="gru", embed_dim=256, hidden=(512, 512, 512), dropout=0.3),
            _STACK_TRAIN,
        ),
        Preset(
            "bilstm-seed",
            "rnn",
            "the bidirectional seed: BiLSTM 64/128/64 + batch norm + LeakyReLU 0.2 + dropout 0.7, dense 128 "
            "(L2 0.004); one target per window of 100; Adam lr 1e-6, beta1 0.3",
            dict(_BILSTM, bidirectional=True),
            _BILSTM_TRAIN,
        ),
        Preset(
            "lstm-seed",
            "rnn",
            "the bidirectional seed's unidirectional twin (same layers, LSTM instead of BiLSTM), for its comparison",
            dict(_BILSTM, bidirectional=False),
            _BILSTM_TRAIN,
        ),
        Preset(
            "bollywood-v4",
            "attention-lstm",
            "the Bollywood seed's v4: LSTM 512 + attention + dense 512/512, LSTM 512 + attention + dense 128/128, "
            "LSTM 128, LeakyReLU/batch norm/dropout throughout; window of 15, one target per window",
            dict(),
            dict(targets="last", seq_len=15, batch_size=64, optimizer="adam", lr=2e-4),
        ),
        Preset(
            "lstm-piano",
            "rnn",
            "the LSTM/GRU seed's LSTM: LSTM 256/512/256 with dropout, dense 256 (ReLU); window of 50; Adamax",
            dict(cell="lstm", embed_dim=64, hidden=(256, 512, 256), dropout=0.3, head=(256,), last_only=True),
            _PIANO_TRAIN,
        ),
        Preset(
            "gru-piano",
            "rnn",
            "the LSTM/GRU seed's GRU: GRU 256/256/128 each with batch norm and dropout, dense 256 (ReLU); Adamax",
            dict(
                cell="gru",
                embed_dim=64,
                hidden=(256, 256, 128),
                norm="batch",
                post_order=("norm", "dropout"),
                dropout=0.3,
                head=(256,),
                head_dropout=0.0,
                last_only=True,
            ),
            _PIANO_TRAIN,
        ),
        Preset(
            "seq2seq",
            "seq2seq",
            "the pseudo-note seed's encoder-decoder: LSTM 2 x 1024 each, teacher forcing on the next phrase",
            dict(embed_dim=256, hidden=1024, layers=2, dropout=0.2, phrase_len=32),
            dict(targets="all", seq_len=64, batch_size=32, optimizer="adam", lr=1e-3),
        ),
        Preset(
            "charrnn",
            "rnn",
            "the char-RNN seed: embedding 512 + 3 x LSTM 256 (dropout 0.2), stateful over contiguous streams 16 x 64",
            dict(cell="lstm", embed_dim=512, hidden=(256, 256, 256), dropout=0.2),
            dict(targets="stream", seq_len=64, batch_size=16, optimizer="adam", lr=1e-3),
        ),
        Preset(
            "transformer",
            "transformer",
            "decoder-only transformer (4 layers, d 256, 4 heads), rotary positions, KV cache for generation",
            dict(d_model=256, layers=4, heads=4, d_ff=1024, dropout=0.1),
            dict(targets="all", seq_len=256, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=0.1),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or a one-line error listing them."""
    if name not in PRESETS:
        raise TunesmithError(
            f"unknown model {name!r}: one of {', '.join(PRESETS)} (see `tunesmith train --list-models`)"
        )
    return PRESETS[name]


def describe_models() -> str:
    """The preset table for ``train --list-models``."""
    width = max(map(len, PRESETS))
    lines = []
    for p in PRESETS.values():
        targets = p.train.get("targets", "all")
        lines.append(f"{p.name:<{width}}  [{targets:>6}]  {p.about}")
    return "\n".join(lines)
