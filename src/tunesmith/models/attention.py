"""The Bollywood seed's final network (v4): LSTM blocks with attention over the window.

Per block: LSTM -> LeakyReLU -> batch norm -> dropout -> attention (a score per step, softmax over the window's
time axis, each step reweighted by its score) -> two dense layers -> LeakyReLU -> batch norm -> dropout. Two such
blocks, a last LSTM whose final output goes through LeakyReLU, batch norm and dropout, then the output layer. The
attention spans the window in both directions, so this is a window model: it is re-run on the window for every new
token. The seed read 128-dimensional piano-roll frames; here the window is token embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunesmith.models.base import PostLayer, SequenceModel, State

ORDER = ("act", "norm", "dropout")


@dataclass
class AttentionLSTMConfig:
    """Sizes of the v4 network (defaults: the seed's)."""

    vocab_size: int = 0
    embed_dim: int = 128
    blocks: tuple[tuple[int, int, int], ...] = ((512, 512, 512), (512, 128, 128))  # (LSTM, dense, dense) per block
    final_lstm: int = 128
    dropout: float = 0.3
    slope: float = 0.3  # Keras LeakyReLU's default alpha

    def __post_init__(self) -> None:
        self.blocks = tuple(tuple(int(v) for v in b) for b in self.blocks)  # type: ignore[misc]
        if any(len(b) != 3 for b in self.blocks):
            raise ValueError("each block is (lstm, dense, dense) sizes")


class WindowAttention(nn.Module):
    """Score each step, softmax over time, reweight the steps: (B, T, C) -> (B, T, C)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.score = nn.Linear(size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x).squeeze(-1), dim=1)  # (B, T)
        return x * weights.unsqueeze(-1)


class AttentionBlock(nn.Module):
    """LSTM, attention over the window, two dense layers, each with LeakyReLU, batch norm and dropout."""

    def __init__(self, size_in: int, lstm: int, dense1: int, dense2: int, dropout: float, slope: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(size_in, lstm, batch_first=True)
        self.post_lstm = PostLayer(ORDER, lstm, "leaky_relu", "batch", dropout, slope)
        self.attention = WindowAttention(lstm)
        self.dense = nn.Sequential(nn.Linear(lstm, dense1), nn.Linear(dense1, dense2))
        self.post_dense = PostLayer(ORDER, dense2, "leaky_relu", "batch", dropout, slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(x)
        x = self.attention(self.post_lstm(x))
        return self.post_dense(self.dense(x))


class AttentionLSTM(SequenceModel):
    """The v4 network: a window model, one prediction after the window."""

    can_step = False

    def __init__(self, config: AttentionLSTMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        blocks, size = [], c.embed_dim
        for lstm, d1, d2 in c.blocks:
            blocks.append(AttentionBlock(size, lstm, d1, d2, c.dropout, c.slope))
            size = d2
        self.blocks = nn.Sequential(*blocks)
        self.final = nn.LSTM(size, c.final_lstm, batch_first=True)
        self.post_final = PostLayer(ORDER, c.final_lstm, "leaky_relu", "batch", c.dropout, c.slope)
        self.out = nn.Linear(c.final_lstm, c.vocab_size)

    def forward(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        x = self.blocks(self.embed(tokens))  # (B, T, C)
        x, _ = self.final(x)
        x = self.post_final(x[:, -1:])  # (B, 1, C): the prediction after the window
        return self.out(x), None
