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

import warnings
from collections.abc import Callable
from functools import cache
from typing import List, Tuple  # noqa: UP035 (TorchScript reads these annotations)

import torch
from torch import Tensor


@cache
def script(fn: Callable) -> Callable | None:
    """``torch.jit.script(fn)``, compiled once per process; None (with a warning saying why) where that fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script announces torch.compile
            return torch.jit.script(fn)
    except Exception as error:  # any failure means: step in Python
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"TorchScript step unavailable ({reason}); stepping in Python", RuntimeWarning, stacklevel=2)
        return None


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
        c = torch.addcmul(act[1] * c, act[0], torch.tanh(gates[:, 2 * size : 3 * size]))
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
        gates = torch.sigmoid(from_x[:, : 2 * size] + from_h[:, : 2 * size]).unsafe_chunk(2, 1)  # reset, update
        candidate = torch.tanh(torch.addcmul(from_x[:, 2 * size :], gates[0], from_h[:, 2 * size :]))
        h = torch.addcmul(candidate, gates[1], h - candidate)
        new_state.append(h.unsqueeze(0))
        x = h
    logits = torch.ops.mkldnn._linear_pointwise(x, out_weight, out_bias, "none", [], "")
    return logits.unsqueeze(1), new_state
