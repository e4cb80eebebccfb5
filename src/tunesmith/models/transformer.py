"""A decoder-only transformer with rotary positions and a key/value cache for one-step-per-token generation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.base import SequenceModel, State


@dataclass
class TransformerConfig:
    """Sizes of the decoder-only transformer."""

    vocab_size: int = 0
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    d_ff: int = 1024
    dropout: float = 0.1
    context: int = 1024  # the most keys a cache keeps when generating beyond it (a sliding window)
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError("d_model must split into heads of an even size")


def rotate(x: torch.Tensor, start: int, inv_freq: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of (B, h, T, d) for positions ``start .. start + T - 1``."""
    t = torch.arange(start, start + x.shape[2], device=x.device, dtype=inv_freq.dtype)
    angles = torch.outer(t, inv_freq)  # (T, d / 2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    """Pre-norm self-attention and MLP with residuals; keeps its keys and values for the next call."""

    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.heads, self.dropout = c.heads, c.dropout
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.mlp = nn.Sequential(nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.d_model))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, start: int, inv_freq: torch.Tensor, cache: tuple | None, context: int):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B,h,T,dh)
        q, k = rotate(q, start, inv_freq), rotate(k, start, inv_freq)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        past = k.shape[2] - t
        if past == 0:
            mask, causal = None, True
        elif t == 1:
            mask, causal = None, False
        else:  # new tokens see every cached key and the new ones up to themselves
            mask = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(diagonal=past)
            causal = False
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=drop)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k[:, :, -context:], v[:, :, -context:])


class Transformer(SequenceModel):
    """Token embedding, blocks, final norm, tied output layer; the state is the KV cache and position."""

    state_batch_dim = 0  # caches are (B, heads, T, head size)

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln = nn.LayerNorm(c.d_model)
        self.out = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.out.weight = self.embed.weight  # tied input and output embeddings
        head = c.d_model // c.heads
        self.register_buffer("inv_freq", c.rope_base ** (-torch.arange(0, head, 2).float() / head), persistent=False)
        self.apply(self._init)
        for block in self.blocks:  # scaled residual projections (GPT-2)
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * c.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        start = 0 if state is None else state["pos"]
        caches = [None] * len(self.blocks) if state is None else state["kv"]
        x = self.drop(self.embed(tokens))  # (B, T, C)
        new = []
        for block, cache in zip(self.blocks, caches):
            x, kv = block(x, start, self.inv_freq, cache, self.config.context)
            new.append(kv)
        return self.out(self.ln(x)), {"kv": new, "pos": start + tokens.shape[1]}
