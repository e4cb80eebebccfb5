"""Whole generation steps as TorchScript functions: one call from Python per token instead of dozens.

At batch 1 a step of the 3 x 512 LSTM does four matrix products and some 35 small operations (gate arithmetic,
slices, the state's reshapes); each small operation called from Python costs a few microseconds of interpreter and
dispatch, which is most of what a step spends beyond its products. The functions here do the same operations, in
the same order, on the same ATen kernels (so the logits and states are bit for bit those of the Python steps), from
TorchScript's interpreter, which calls them without going back through Python.

The products run on weights packed once for oneDNN (``fused_rnn.onednn_pack``). ``script`` compiles a function on
first use and returns None with the reason, once, where TorchScript is not available (it is deprecated in favour of
``torch.compile``, which here would change the sampled tokens: see BENCHMARKS.md); the steppers then step in Python.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from typing import List, Tuple  # noqa: UP035 (TorchScript reads these annotations)

import torch
from torch import Tensor

from tunesmith import native
from tunesmith.switch import switched

_ENABLED = [True]


def scripting(enabled: bool) -> AbstractContextManager[None]:
    """Build steppers and draw tokens with (True) or without (False) TorchScript inside the block.

    Without it every step and draw runs in Python: the code these functions replaced, for benchmarks to compare
    in one process (``benchmarks/generate_speed.py``) and for a platform where TorchScript misbehaves.
    """
    return switched(_ENABLED, enabled)


def cpp_on() -> bool:
    """Whether steps and draws run in C++ here: ``scripting`` is on and ``tunesmith.native`` built, loaded and on."""
    return _ENABLED[0] and native.steps() is not None


def script(fn: Callable) -> Callable | None:
    """``fn`` compiled by TorchScript (once per process), or None when scripting is off or fails (see ``compiled``)."""
    return compiled(fn) if _ENABLED[0] else None


_COMPILING = threading.Lock()  # the studio samples from two threads: compile each function once, not twice at once


def compiled(fn: Callable) -> Callable | None:
    """``torch.jit.script(fn)``, compiled once per process; None (with a warning saying why) where that fails."""
    with _COMPILING:
        return _compiled(fn)


@cache
def _compiled(fn: Callable) -> Callable | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script announces torch.compile
            return torch.jit.script(fn)
    except Exception as error:  # any failure means: step in Python
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"TorchScript step unavailable ({reason}); stepping in Python", RuntimeWarning, stacklevel=2)
        return None


# Slices are written as ``narrow`` and ``select``: TorchScript turns each ``:`` of an index into an operation of its
# own (some 50 a transformer step), a view costing what the full index costs.


def lstm_stack_step(
    tokens: Tensor,
    embed: Tensor,
    state: List[Tuple[Tensor, Tensor]],  # noqa: UP006
    weights: List[Tensor],  # noqa: UP006
    biases: List[Tensor],  # noqa: UP006
    out_weight: Tensor,
    out_bias: Tensor,
) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:  # noqa: UP006
    """One token (B, 1) through an LSTM stack and its output layer: ``(logits (B, 1, V), state)``.

    ``state``: per layer ``(h, c)`` of (1, B, H) (``nn.LSTM``'s layout); ``weights[i]``: layer i's packed
    ``[W_ih | W_hh]``, ``biases[i]`` their summed biases. The arithmetic of ``fused_rnn._lstm_cell``.
    """
    x = torch.embedding(embed, tokens.select(1, 0))  # (B, E)
    new_state: List[Tuple[Tensor, Tensor]] = []  # noqa: UP006
    for i in range(len(weights)):
        h, c = state[i][0][0], state[i][1][0]
        size = h.shape[1]
        gates = torch.ops.mkldnn._linear_pointwise(torch.cat([x, h], 1), weights[i], biases[i], "none", [], "")
        act = torch.sigmoid(gates).unsafe_chunk(4, 1)  # input, forget, (cell), output
        c = torch.addcmul(act[1] * c, act[0], torch.tanh(gates.narrow(1, 2 * size, size)))
        h = act[3] * torch.tanh(c)
        new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
        x = h
    logits = torch.ops.mkldnn._linear_pointwise(x, out_weight, out_bias, "none", [], "")
    return logits.unsqueeze(1), new_state


def gru_stack_step(
    tokens: Tensor,
    embed: Tensor,
    state: List[Tensor],  # noqa: UP006
    weights: List[Tensor],  # noqa: UP006
    biases: List[Tensor],  # noqa: UP006
    out_weight: Tensor,
    out_bias: Tensor,
) -> Tuple[Tensor, List[Tensor]]:  # noqa: UP006
    """One token (B, 1) through a GRU stack and its output layer: ``(logits (B, 1, V), state)``.

    ``state``: per layer h of (1, B, H); ``weights[2 i]``, ``weights[2 i + 1]``: layer i's packed ``W_ih`` and
    ``W_hh`` (``biases`` alike). The arithmetic of ``fused_rnn._gru_cell``.
    """
    x = torch.embedding(embed, tokens.select(1, 0))  # (B, E)
    new_state: List[Tensor] = []  # noqa: UP006
    for i in range(len(state)):
        h = state[i][0]
        size = h.shape[1]
        from_x = torch.ops.mkldnn._linear_pointwise(x, weights[2 * i], biases[2 * i], "none", [], "")
        from_h = torch.ops.mkldnn._linear_pointwise(h, weights[2 * i + 1], biases[2 * i + 1], "none", [], "")
        gates = torch.sigmoid(from_x.narrow(1, 0, 2 * size) + from_h.narrow(1, 0, 2 * size)).unsafe_chunk(
            2, 1
        )  # reset, update
        candidate = torch.tanh(
            torch.addcmul(from_x.narrow(1, 2 * size, size), gates[0], from_h.narrow(1, 2 * size, size))
        )
        h = torch.addcmul(candidate, gates[1], h - candidate)
        new_state.append(h.unsqueeze(0))
        x = h
    logits = torch.ops.mkldnn._linear_pointwise(x, out_weight, out_bias, "none", [], "")
    return logits.unsqueeze(1), new_state


def transformer_blocks_step(
    x: Tensor,
    heads: int,
    scale: float,
    cos: Tensor,
    sin: Tensor,
    filled: int,
    start: int,
    kept: int,
    norms: List[Tensor],  # noqa: UP006
    eps: List[float],  # noqa: UP006
    weights: List[Tensor],  # noqa: UP006
    biases: List[Tensor],  # noqa: UP006
    buffers: List[Tensor],  # noqa: UP006
) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:  # noqa: UP006
    """One token's embedding x (B, C) through the blocks, the final norm and the output layer: ``(logits (B, V), kv)``.

    The arithmetic of ``transformer.CachedStep``'s Python loop. Per block i: ``norms[4 i : 4 i + 4]`` the two layer
    norms' weight and bias (``eps[2 i : 2 i + 2]``), ``weights[4 i : 4 i + 4]`` the packed QKV, output projection
    and two MLP weights (``biases`` alike), ``buffers[2 i]`` and ``buffers[2 i + 1]`` its key and value buffers
    (B, h, N, dh), the new key and value written at ``filled``, the query attending to ``start .. filled``. The last
    two ``norms`` (and ``eps``) are the final norm's, the last ``weights`` and ``biases`` the output layer's.
    """
    b, d = x.shape[0], x.shape[1]
    kv: List[Tuple[Tensor, Tensor]] = []  # noqa: UP006
    for i in range(len(buffers) // 2):
        k_buf, v_buf = buffers[2 * i], buffers[2 * i + 1]
        normed = torch.layer_norm(x, [d], norms[4 * i], norms[4 * i + 1], eps[2 * i])
        both = torch.ops.mkldnn._linear_pointwise(normed, weights[4 * i], biases[4 * i], "none", [], "")
        both = both.view(b, 3, heads, d // heads)
        qk = both.narrow(1, 0, 2)
        rotated = (qk * cos).add_(qk.unflatten(-1, [-1, 2]).flip(-1).flatten(-2).mul_(sin))
        k_buf.select(2, filled).copy_(rotated.select(1, 1))
        v_buf.select(2, filled).copy_(both.select(1, 2))
        keys, values = k_buf.narrow(2, start, filled + 1 - start), v_buf.narrow(2, start, filled + 1 - start)
        scores = torch.matmul(rotated.select(1, 0).unsqueeze(2), keys.transpose(-1, -2)).mul_(scale)  # (B, h, 1, T)
        y = torch.matmul(torch.softmax(scores, dim=-1), values)  # (B, h, 1, dh)
        # fused_rnn.linear_add and linear_gelu: the residual sums and the GELU applied as oneDNN writes the product
        x = torch.ops.mkldnn._linear_pointwise(y.reshape(b, d), x, weights[4 * i + 1], biases[4 * i + 1], "add")
        normed = torch.layer_norm(x, [d], norms[4 * i + 2], norms[4 * i + 3], eps[2 * i + 1])
        hidden = torch.ops.mkldnn._linear_pointwise(normed, weights[4 * i + 2], biases[4 * i + 2], "gelu", [], "none")
        x = torch.ops.mkldnn._linear_pointwise(hidden, x, weights[4 * i + 3], biases[4 * i + 3], "add")
        kv.append((k_buf.narrow(2, kept, filled + 1 - kept), v_buf.narrow(2, kept, filled + 1 - kept)))
    normed = torch.layer_norm(x, [d], norms[-2], norms[-1], eps[-1])
    return torch.ops.mkldnn._linear_pointwise(normed, weights[-1], biases[-1], "none", [], ""), kv
