"""Stacked recurrent networks: the generic ``lstm`` / ``gru`` models and the seeds' LSTM, BiLSTM and GRU stacks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunesmith.models.base import PostLayer, SequenceModel, State, Stepper, onednn
from tunesmith.models.fused_rnn import FusedStep

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class RNNConfig:
    """Embedding -> recurrent layers (each followed by activation / norm / dropout) -> dense head -> vocabulary."""

    vocab_size: int = 0
    cell: str = "lstm"  # lstm | gru
    embed_dim: int = 256
    hidden: tuple[int, ...] = (512, 512, 512)  # one size per recurrent layer
    bidirectional: bool = False
    dropout: float = 0.2
    embed_dropout: float = 0.0
    activation: str = "none"  # after each recurrent layer: none | relu | leaky_relu | tanh | gelu
    norm: str = "none"  # none | layer | batch
    slope: float = 0.2  # LeakyReLU negative slope
    post_order: tuple[str, ...] = ("act", "norm", "dropout")
    head: tuple[int, ...] = ()  # dense layers before the output layer
    head_activation: str = "relu"
    head_norm: str = "none"
    head_dropout: float | None = None  # None: same as ``dropout``
    head_l2: float = 0.0  # L2 penalty on the first dense kernel (the Keras kernel_regularizer)
    last_only: bool = False  # predict only the target after the window (the seeds' return_sequences=False)

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.head = tuple(int(h) for h in self.head)
        self.post_order = tuple(self.post_order)
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}: lstm or gru")
        if not self.hidden or min(self.hidden) < 1 or self.embed_dim < 1:
            raise ValueError("hidden sizes and embed_dim must be positive")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")


class RNNModel(SequenceModel):
    """A stack of LSTM or GRU layers over token embeddings.

    Unidirectional stacks step one token at a time; a bidirectional stack is a window model. With ``last_only``
    the last layer's output at the end of the window alone feeds the head, as the Keras seeds had it (for a
    bidirectional stack: the forward half at the last step and the backward half at the first).
    """

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.can_step = not c.bidirectional
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.embed_drop = nn.Dropout(c.embed_dropout)
        width = 2 if c.bidirectional else 1
        self.rnns = nn.ModuleList()
        self.posts = nn.ModuleList()
        size = c.embed_dim
        for h in c.hidden:
            self.rnns.append(CELLS[c.cell](size, h, batch_first=True, bidirectional=c.bidirectional))
            size = h * width
            self.posts.append(PostLayer(c.post_order, size, c.activation, c.norm, c.dropout, c.slope))
        head_dropout = c.dropout if c.head_dropout is None else c.head_dropout
        layers: list[nn.Module] = []
        for h in c.head:
            layers += [
                nn.Linear(size, h),
                PostLayer(c.post_order, h, c.head_activation, c.head_norm, head_dropout, c.slope),
            ]
            size = h
        self.head = nn.Sequential(*layers)
        self.out = nn.Linear(size, c.vocab_size)

    def forward(self, tokens: torch.Tensor, state: State = None, last: bool = False) -> tuple[torch.Tensor, State]:
        """(B, T, V) logits and the state; (B, 1, V) for the window's end only with ``last`` or ``last_only``."""
        c = self.config
        x = self.embed_drop(self.embed(tokens))  # (B, T, E)
        with onednn(tokens.shape[1] > 1):
            new_state = []
            top = len(self.rnns) - 1
            for i, (rnn, post) in enumerate(zip(self.rnns, self.posts)):
                x, s = rnn(x, None if state is None else state[i])  # (B, T, H * directions)
                new_state.append(s)
                if i == top and (c.last_only or last):
                    x = self._window_end(x)  # (B, 1, H * directions)
                x = post(x)
        logits = self.out(self.head(x))  # (B, T or 1, V)
        return logits, (None if c.bidirectional else new_state)

    def read(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """``forward`` with the output layer on the last position only (see ``SequenceModel.read``)."""
        return self(tokens, state, last=True)

    def stepper(self, precision: str = "float32") -> Stepper:
        """Unidirectional stacks step through ``FusedStep`` (weights packed once, any precision)."""
        if not self.config.bidirectional:
            return FusedStep(self, precision)
        return super().stepper(precision)

    def _window_end(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.bidirectional:
            return x[:, -1:]
        half = x.shape[-1] // 2
        return torch.cat([x[:, -1:, :half], x[:, :1, half:]], dim=-1)

    def penalty(self) -> torch.Tensor | None:
        if not self.config.head_l2 or not self.config.head:
            return None
        return self.config.head_l2 * self.head[0].weight.pow(2).sum()
