"""A decoder-only transformer with rotary positions and a key/value cache for one-step-per-token generation.

Training and reading a primer go through ``forward``, whose cache grows by concatenation. Generation steps through
``CachedStep`` (``model.stepper()``): the same arithmetic on weights packed once, with the keys and values written in
place into a buffer allocated once per sample and the rotary angles of every position computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith import native
from tunesmith.models.base import SequenceModel, State, Stepper
from tunesmith.models.fused_rnn import Linear, PackedLinear, joined_linear, linear_add, linear_gelu
from tunesmith.models.scripted import cpp_on, script, transformer_blocks_step


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

    def forward(self, tokens: torch.Tensor, state: State = None, last: bool = False) -> tuple[torch.Tensor, State]:
        """(B, T, V) logits and the state (the KV cache and position); (B, 1, V) for the last position with ``last``."""
        start = 0 if state is None else state["pos"]
        caches = [None] * len(self.blocks) if state is None else state["kv"]
        x = self.drop(self.embed(tokens))  # (B, T, C)
        new = []
        for block, cache in zip(self.blocks, caches):
            x, kv = block(x, start, self.inv_freq, cache, self.config.context)
            new.append(kv)
        if last:
            x = x[:, -1:]
        return self.out(self.ln(x)), {"kv": new, "pos": start + tokens.shape[1]}

    def read(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """``forward`` with the output layer on the last position only (see ``SequenceModel.read``)."""
        return self(tokens, state, last=True)

    def stepper(self, precision: str = "float32") -> Stepper:
        """float32 steps through ``CachedStep``; int8 through a quantised copy of the model (``int8_copy``)."""
        return CachedStep(self) if precision == "float32" else super().stepper(precision)


class CachedStep:
    """Steps a ``Transformer`` one token at a time: ``(tokens (B, 1), state) -> (logits (B, 1, V), state)``.

    The state is the model's own (``{"kv": [(keys, values)] per block, "pos": n}``, keys and values (B, h, T, dh)
    holding at most ``context`` positions), so a state from ``forward`` over a primer continues here and beam search
    reorders it as before. Here the keys and values are views of a buffer of ``2 * context`` positions per block
    (``"buffers"`` and ``"filled"`` in the state), each new key and value written in place; when the buffer is full its
    last ``context`` positions move to its front, once every ``context`` tokens. The new token attends to the same
    keys in the same order as in ``forward``, written out as its two products and a softmax: for one query against
    hundreds of keys ``scaled_dot_product_attention``'s CPU kernel took about twice as long at batch 16 (logits agree
    with ``forward``'s to about 1e-7). A state is consumed by the next step (which writes into its buffers).
    Built from the model's current weights (build a new one after they change). The blocks and the output layer run
    as one C++ or TorchScript call (``scripted``: the same arithmetic, bit for bit); ``scripted=False``: in Python.
    In all three the MLP's GELU and the residual sums are applied by oneDNN as it writes the products
    (``linear_gelu``, ``linear_add``). ``run``, where the step is C++: ``sample``'s loop for many tokens a call.
    """

    def __init__(self, model: Transformer, scripted: bool = True) -> None:
        self.model, c = model, model.config
        self.heads, self.context = c.heads, c.context
        self.scale = 1 / math.sqrt(c.d_model // c.heads)  # as scaled_dot_product_attention scales
        zeros = torch.zeros(c.vocab_size)
        self.out = joined_linear(model.out.weight, zeros, "float32")
        self.layers: list[tuple[nn.Module, list[Linear]]] = []
        for block in model.blocks:
            mlp_in, mlp_out = block.mlp[0], block.mlp[2]
            products = [block.qkv, block.proj, mlp_in, mlp_out]
            self.layers.append((block, [joined_linear(m.weight, m.bias, "float32") for m in products]))
        self.cos = self.sin = torch.empty(0)
        self.run: Callable | None = None  # ``sample``'s loop for many tokens in one C++ call, where the step is C++
        self.scripted = self._scripted() if scripted else None

    def _scripted(self) -> Callable | None:
        """The blocks, final norm and output layer as one call (``tunesmith.native``, else ``models/scripted.py``).

        None where TorchScript or oneDNN's packed weights are not available (the step then stays in Python).
        """
        run = None
        if cpp_on():  # the same arithmetic in C++: no TorchScript compiled
            step, run = native.transformer_blocks_step, native.transformer_run
        else:
            step = script(transformer_blocks_step)
        if step is None:
            return None
        model, norms, eps = self.model, [], []
        for block in model.blocks:
            norms += [block.ln1.weight, block.ln1.bias, block.ln2.weight, block.ln2.bias]
            eps += [block.ln1.eps, block.ln2.eps]
        norms += [model.ln.weight, model.ln.bias]
        eps.append(model.ln.eps)
        linears = [linear for _, products in self.layers for linear in products] + [self.out]
        if not all(isinstance(linear, PackedLinear) for linear in linears):
            return None  # oneDNN's packed weights are not available here
        weights, biases = [linear.packed for linear in linears], [linear.bias for linear in linears]
        norms = [n.detach() for n in norms]
        bound = {
            "heads": self.heads, "scale": self.scale, "norms": norms, "eps": eps, "weights": weights, "biases": biases,
        }  # fmt: skip
        if run is not None:
            self.run = partial(self._run, partial(run, embed=model.embed.weight.detach(), **bound))
        return partial(step, **bound)

    def _run(self, run: Callable, logits: torch.Tensor, state: State, t0: int, n: int, *loop) -> tuple:
        """``sample``'s loop for up to ``n`` tokens in C++ (``native.transformer_run``) from ``state``.

        Returns ``(logits, state, tokens written)``, the state as ``__call__`` leaves it.
        """
        buffers, filled = self._buffers(state, logits.shape[0], logits)
        pos = 0 if state is None else state["pos"]
        self._angles(pos + n, logits.device)  # the angles of every position the run may reach
        flat = [t for pair in buffers for t in pair]
        logits, written, filled, pos = run(logits, flat, filled, pos, self.context, self.cos, self.sin, t0, n, *loop)
        kept = max(0, filled - self.context)  # the keys ``forward`` keeps
        kv = [(k_buf[:, :, kept:filled], v_buf[:, :, kept:filled]) for k_buf, v_buf in buffers]
        return logits, {"kv": kv, "pos": pos, "buffers": buffers, "filled": filled}, written

    def _angles(self, pos: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows (dh,) to rotate position ``pos``: ``x * cos + pairs_swapped(x) * sin`` is ``rotate``'s formula."""
        if pos >= len(self.cos) or self.cos.device != device:
            inv_freq = self.model.inv_freq
            t = torch.arange(0, max(2 * pos, 4 * self.context), device=device, dtype=inv_freq.dtype)
            angles = torch.outer(t, inv_freq)  # (N, dh / 2), the same products as ``rotate``
            cos, sin = angles.cos(), angles.sin()
            self.cos = torch.stack([cos, cos], dim=-1).flatten(-2)
            self.sin = torch.stack([-sin, sin], dim=-1).flatten(-2)
        return self.cos[pos], self.sin[pos]

    def _buffers(self, state: State, batch: int, like: torch.Tensor) -> tuple[list, int]:
        """The state's key/value buffers (B, h, 2 * context, dh) and how many positions they hold."""
        kv = [] if state is None else state["kv"]
        if state is not None and "buffers" in state:
            return state["buffers"], state["filled"]
        c = self.model.config
        shape = (batch, self.heads, 2 * self.context, c.d_model // self.heads)
        buffers = [(like.new_empty(shape), like.new_empty(shape)) for _ in self.layers]
        filled = kv[0][0].shape[2] if kv else 0
        for (k_buf, v_buf), (k, v) in zip(buffers, kv):  # a state from ``forward``: copied in once
            k_buf[:, :, :filled].copy_(k)
            v_buf[:, :, :filled].copy_(v)
        return buffers, filled

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if tokens.shape[1] != 1:
            raise ValueError("CachedStep takes one token per row")
        model, b = self.model, tokens.shape[0]
        pos = 0 if state is None else state["pos"]
        x = F.embedding(tokens[:, 0], model.embed.weight)  # (B, C)
        buffers, filled = self._buffers(state, b, x)
        if filled == 2 * self.context:  # full: the last context positions, all the new token sees, to the front
            for k_buf, v_buf in buffers:
                k_buf[:, :, : self.context] = k_buf[:, :, self.context :].clone()
                v_buf[:, :, : self.context] = v_buf[:, :, self.context :].clone()
            filled = self.context
        cos, sin = self._angles(pos, x.device)
        start = max(0, filled - self.context)  # the cached keys ``forward`` keeps (at most context), then the new one
        kept = max(0, filled + 1 - self.context)  # those the next step will see
        if self.scripted is not None:
            flat = [t for pair in buffers for t in pair]
            logits, kv = self.scripted(x, cos=cos, sin=sin, filled=filled, start=start, kept=kept, buffers=flat)
            return logits[:, None], {"kv": kv, "pos": pos + 1, "buffers": buffers, "filled": filled + 1}
        kv = []
        for (block, (qkv, proj, mlp_in, mlp_out)), (k_buf, v_buf) in zip(self.layers, buffers):
            d = x.shape[1]
            ln1, ln2 = block.ln1, block.ln2  # the functions, not the modules: a step is bound by Python's calls
            both = qkv(F.layer_norm(x, (d,), ln1.weight, ln1.bias, ln1.eps)).view(b, 3, self.heads, d // self.heads)
            qk = both[:, :2]
            rotated = (qk * cos).add_(qk.unflatten(-1, (-1, 2)).flip(-1).flatten(-2).mul_(sin))
            k_buf.select(2, filled).copy_(rotated[:, 1])
            v_buf.select(2, filled).copy_(both[:, 2])
            keys, values = k_buf.narrow(2, start, filled + 1 - start), v_buf.narrow(2, start, filled + 1 - start)
            scores = torch.matmul(rotated[:, 0, :, None], keys.transpose(-1, -2)).mul_(self.scale)  # (B, h, 1, T)
            y = torch.matmul(torch.softmax(scores, dim=-1), values)  # (B, h, 1, dh)
            x = linear_add(proj, y.reshape(b, d), x)
            x = linear_add(mlp_out, linear_gelu(mlp_in, F.layer_norm(x, (d,), ln2.weight, ln2.bias, ln2.eps)), x)
            kv.append((k_buf[:, :, kept : filled + 1], v_buf[:, :, kept : filled + 1]))
        logits = self.out(F.layer_norm(x, (x.shape[1],), model.ln.weight, model.ln.bias, model.ln.eps))
        return logits[:, None], {"kv": kv, "pos": pos + 1, "buffers": buffers, "filled": filled + 1}
