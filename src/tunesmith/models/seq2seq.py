"""Encoder-decoder LSTM over phrases (the pseudo-note seed): the encoder reads a phrase, the decoder writes the next.

Training is teacher-forced: for a window of ``T >= phrase_len`` tokens the encoder reads the first ``phrase_len``
and the decoder, started from the encoder's final state, reads from the phrase's last token on, predicting each next
token. Generation steps the decoder one token at a time; once it has read a phrase's worth of tokens, the phrase it
just wrote becomes the encoder's input and decoding starts again from the new encoder state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunesmith.models.base import SequenceModel, State, onednn


@dataclass
class Seq2SeqConfig:
    """Sizes of the encoder-decoder (defaults: the seed's 2 x 1024)."""

    vocab_size: int = 0
    embed_dim: int = 256
    hidden: int = 1024
    layers: int = 2
    dropout: float = 0.2
    phrase_len: int = 32

    def __post_init__(self) -> None:
        if self.phrase_len < 1 or self.layers < 1 or self.hidden < 1:
            raise ValueError("phrase_len, layers and hidden must be positive")


class Seq2Seq(SequenceModel):
    """Encoder and decoder LSTMs sharing one embedding; the state carries the phrase being written."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        drop = c.dropout if c.layers > 1 else 0.0
        self.encoder = nn.LSTM(c.embed_dim, c.hidden, c.layers, batch_first=True, dropout=drop)
        self.decoder = nn.LSTM(c.embed_dim, c.hidden, c.layers, batch_first=True, dropout=drop)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.vocab_size)

    def _encode(self, phrase: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (h, c) = self.encoder(self.embed(phrase))
        return h, c

    def _decode(self, tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        y, state = self.decoder(self.embed(tokens), state)  # (B, T, H)
        return self.out(self.drop(y)), state

    def forward(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        p = self.config.phrase_len
        outs = []
        with onednn(tokens.shape[1] > 1):
            if state is None:
                if tokens.shape[1] < p:  # a short primer: repeat its first token in front
                    tokens = torch.cat([tokens[:, :1].expand(-1, p - tokens.shape[1]), tokens], dim=1)
                source, tokens = tokens[:, :p], tokens[:, p:]
                logits, dec = self._decode(source[:, -1:], self._encode(source))
                outs.append(logits)
                state = {"dec": dec, "recent": source, "n": 1}
            dec, recent, n = state["dec"], state["recent"], state["n"]
            while tokens.shape[1]:
                if n >= p + 1:  # a whole phrase decoded: it becomes the source of the next one
                    _, dec = self._decode(recent[:, -1:], self._encode(recent))
                    n = 1
                chunk, tokens = tokens[:, : p + 1 - n], tokens[:, p + 1 - n :]
                logits, dec = self._decode(chunk, dec)  # teacher forcing: the whole chunk in one call
                outs.append(logits)
                recent, n = torch.cat([recent, chunk], dim=1)[:, -p:], n + chunk.shape[1]
        return torch.cat(outs, dim=1), {"dec": dec, "recent": recent, "n": n}

    def reorder_state(self, state: State, index: torch.Tensor) -> State:
        h, c = state["dec"]
        return {
            "dec": (h.index_select(1, index), c.index_select(1, index)),
            "recent": state["recent"].index_select(0, index),
            "n": state["n"],
        }
