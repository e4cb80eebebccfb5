"""One-token stepping for LSTM and GRU stacks: one product per weight matrix, in float32, bfloat16 or int8.

Generating one token reads every weight of the network once. ``nn.LSTM`` does two matrix-vector products per layer
(input and recurrent weights) and, with oneDNN on, re-lays out its weights on every call. Here each LSTM layer's
weights are joined once into ``[W_ih | W_hh]`` with the two biases summed, so a step is one product on ``[x | h]``
followed by the gate arithmetic; the output layer is one more product. A GRU layer keeps its two products (its
candidate gate multiplies the recurrent part by the reset gate before adding, so the two halves cannot be summed
inside one product without storing zeros), each on a weight packed once. On a small CPU a step is bound by memory
bandwidth (the classic 3 x 512 LSTM with a 5,000-token vocabulary holds 34 MB of float32 weights), so the precision
of the stored weights sets the speed: bfloat16 halves the bytes, int8 (per-row scales, PyTorch dynamic quantisation)
quarters them. Embedding, the layers' activation / norm and any dense head stay in float32.

The state keeps ``nn.LSTM``'s and ``nn.GRU``'s layout (per layer an ``(h, c)`` pair of (1, B, H), or one (1, B, H)
tensor), so a state from the model's own forward pass over a primer continues here, and beam search reorders it the
same way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith import native
from tunesmith.config import PRECISIONS as PRECISIONS  # declared there: generate's options check it without torch
from tunesmith.models.base import PostLayer, SequenceNorm
from tunesmith.models.scripted import cpp_on, gru_stack_step, lstm_stack_step, script

PACK_BATCH = 16  # the batch size oneDNN lays the weights out for (batch 1 ran as fast as when packed for 1)

Linear = Callable[[torch.Tensor], torch.Tensor]


def joined_linear(weight: torch.Tensor, bias: torch.Tensor, precision: str) -> Linear:
    """``x -> x @ weight.T + bias`` (float32 out) with the (N, K) weight stored once in ``precision``.

    float32 and bfloat16 weights are packed once into oneDNN's blocked layout on the CPU (``onednn_linear``);
    int8 quantises each output row symmetrically (scale = max |w| / 127) and packs it for fbgemm, the activations
    being quantised on the fly (PyTorch dynamic quantisation).
    """
    weight, bias = weight.detach().float(), bias.detach().float().contiguous()
    if precision == "int8":
        scale = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
        zero = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors are deprecated in favour of torchao (not installed)
            quantized = torch.quantize_per_channel(weight.cpu(), scale.cpu(), zero, 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(quantized, bias.cpu())
        return lambda x: torch.ops.quantized.linear_dynamic(x, packed, True)  # reduce_range, as fbgemm needs
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: one of {', '.join(PRECISIONS)}")
    dtype = torch.float32 if precision == "float32" else torch.bfloat16
    packed_linear = onednn_linear(weight.to(dtype), bias.to(dtype))
    if packed_linear is not None and dtype == torch.float32:
        return packed_linear  # a PackedLinear: the scripted steps read its packed weight
    if packed_linear is not None:
        return lambda x: packed_linear(x.to(dtype)).float()
    rows = weight.t().contiguous().to(dtype)  # (K, N): a one-row product reads the weight in order
    return lambda x: torch.mm(x.to(dtype), rows).float().add_(bias)


class PackedLinear:
    """``x -> x @ weight.T + bias`` on a weight packed once for oneDNN (``packed``; ``bias`` as given)."""

    def __init__(self, packed: torch.Tensor, bias: torch.Tensor) -> None:
        self.packed, self.bias = packed, bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def linear_gelu(linear: Linear, x: torch.Tensor) -> torch.Tensor:
    """``gelu(linear(x))`` (erf GELU); on a packed weight one oneDNN call, the GELU applied as it writes the product."""
    if isinstance(linear, PackedLinear):
        return torch.ops.mkldnn._linear_pointwise(x, linear.packed, linear.bias, "gelu", [], "none")
    return F.gelu(linear(x))


def linear_add(linear: Linear, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``linear(x) + other``; on a packed weight one oneDNN call, ``other`` added as it writes the product."""
    if isinstance(linear, PackedLinear):
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, linear.packed, linear.bias, "add")
    return linear(x) + other


def onednn_linear(weight: torch.Tensor, bias: torch.Tensor) -> PackedLinear | None:
    """The linear layer on a weight packed once for oneDNN, or None where that is not available.

    These are the operators PyTorch's compiler uses for frozen CPU linear layers. On the development machine they
    ran the 3 x 512 LSTM's four products 1.6x faster than ``addmm`` on the plain weight at batch 1 and 2.4x at batch
    16 (``products_only`` in ``benchmarks/results/generate_speed.json``).
    """
    packed = onednn_pack(weight, bias)
    return None if packed is None else PackedLinear(packed, bias)


def onednn_pack(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor | None:
    """The (N, K) weight packed once for ``torch.ops.mkldnn._linear_pointwise``, or None where that is not available."""
    if weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_BATCH)
        x = weight.new_zeros(1, weight.shape[1])
        y = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
        torch.ops.mkldnn._linear_pointwise(x, packed, bias, "gelu", [], "none")  # linear_gelu
        torch.ops.mkldnn._linear_pointwise.binary(x, y, packed, bias, "add")  # linear_add
    except (AttributeError, RuntimeError):  # this build lacks the operator or a kernel for the dtype
        return None
    return packed


class FusedStep:
    """Steps a unidirectional LSTM or GRU ``RNNModel`` one token at a time.

    ``(tokens (B, 1), state) -> (logits, state)``.

    Built from the model's current weights (build a new one after they change); the model must be in eval mode.
    float32 stacks with nothing between their layers step through one C++ or TorchScript call (``scripted``: the same
    arithmetic, bit for bit); ``scripted=False`` keeps the step in Python.
    """

    def __init__(self, model: nn.Module, precision: str = "float32", scripted: bool = True) -> None:
        self.model = model
        self.layers: list[tuple[str, list[Linear], int]] = []
        for rnn in model.rnns:
            if not isinstance(rnn, (nn.LSTM, nn.GRU)) or rnn.bidirectional or rnn.num_layers != 1 or rnn.proj_size:
                raise ValueError("FusedStep steps stacks of single-layer unidirectional nn.LSTM or nn.GRU")
            if isinstance(rnn, nn.LSTM):
                joined = torch.cat([rnn.weight_ih_l0, rnn.weight_hh_l0], dim=1)
                linears = [joined_linear(joined, rnn.bias_ih_l0 + rnn.bias_hh_l0, precision)]
                self.layers.append(("lstm", linears, rnn.hidden_size))
            else:
                linears = [
                    joined_linear(rnn.weight_ih_l0, rnn.bias_ih_l0, precision),
                    joined_linear(rnn.weight_hh_l0, rnn.bias_hh_l0, precision),
                ]
                self.layers.append(("gru", linears, rnn.hidden_size))
        self.out = joined_linear(model.out.weight, model.out.bias, precision)
        # Modules that hand back their input in eval mode (dropout, identity, a "none" norm, an empty head) are
        # skipped: each call is a few microseconds of Python in a step that should cost its products alone.
        self.posts = [None if _inert(post) else post for post in model.posts]
        self.head = None if _inert(model.head) else model.head
        # ``sample``'s loop for many tokens in one C++ call (``tunesmith.native``), where the steps are C++.
        self.run: Callable | None = None
        self.scripted = self._scripted(model, precision) if scripted else None

    def _scripted(self, model: nn.Module, precision: str) -> Callable | None:
        """The whole step as one call (``tunesmith.native``, else ``models/scripted.py``) where allowed, else None.

        Allowed for float32 weights packed for oneDNN, when nothing but the recurrent layers and the output layer
        acts in eval mode (the Python step handles activations, norms, dense heads and the other precisions).
        """
        if precision != "float32" or any(p is not None for p in self.posts) or self.head is not None:
            return None
        cells = {kind for kind, _, _ in self.layers}
        if len(cells) != 1:
            return None
        run = None
        if cpp_on():  # the same arithmetic in C++: no TorchScript compiled
            lstm = cells == {"lstm"}
            step = native.lstm_stack_step if lstm else native.gru_stack_step
            run = native.lstm_stack_run if lstm else native.gru_stack_run
        else:
            step = script(lstm_stack_step if cells == {"lstm"} else gru_stack_step)
        if step is None:
            return None
        linears = [linear for _, layer_linears, _ in self.layers for linear in layer_linears] + [self.out]
        if not all(isinstance(linear, PackedLinear) for linear in linears):
            return None  # oneDNN's packed weights are not available here
        weights, biases = [linear.packed for linear in linears], [linear.bias for linear in linears]
        embed = model.embed.weight.detach()
        out_weight, out_bias = weights.pop(), biases.pop()
        bound = {"embed": embed, "weights": weights, "biases": biases, "out_weight": out_weight, "out_bias": out_bias}
        if run is not None:
            self.run = partial(run, **bound)
        return partial(step, **bound)

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, state: list | None) -> tuple[torch.Tensor, list]:
        if tokens.shape[1] != 1:
            raise ValueError("FusedStep takes one token per row")
        if self.scripted is not None:
            return self.scripted(tokens, state=self._zeros(tokens) if state is None else state)
        x = self.model.embed(tokens[:, 0])  # (B, E)
        new_state = []
        for i, ((cell, linears, size), post) in enumerate(zip(self.layers, self.posts)):
            previous = None if state is None else state[i]
            if cell == "lstm":
                h, layer_state = _lstm_cell(linears[0], x, previous, size)
            else:
                h, layer_state = _gru_cell(linears, x, previous, size)
            new_state.append(layer_state)
            x = h if post is None else post(h)
        logits = self.out(x if self.head is None else self.head(x))
        return logits[:, None], new_state

    def _zeros(self, tokens: torch.Tensor) -> list:
        """The state ``nn.LSTM`` / ``nn.GRU`` start from: zeros of (1, B, H) per layer (an (h, c) pair for LSTM)."""
        zeros = [tokens.new_zeros(1, tokens.shape[0], size, dtype=torch.float32) for _, _, size in self.layers]
        return [(z, z.clone()) if kind == "lstm" else z for z, (kind, _, _) in zip(zeros, self.layers)]


def _inert(module: nn.Module) -> bool:
    """Whether ``module`` returns its input unchanged in eval mode (dropout, identity, a "none" norm, empty)."""

    def inert(m: nn.Module) -> bool:
        if isinstance(m, SequenceNorm):
            return m.kind == "none"
        return isinstance(m, (nn.Identity, nn.Dropout)) or type(m) in (nn.Sequential, PostLayer)

    return all(inert(m) for m in module.modules())


def _lstm_cell(joined: Linear, x: torch.Tensor, state: tuple | None, size: int) -> tuple[torch.Tensor, tuple]:
    """One LSTM step from ``(h, c)`` of (1, B, H) each (zeros when None, as ``nn.LSTM`` starts)."""
    if state is None:
        h = c = x.new_zeros(x.shape[0], size)
    else:
        h, c = state[0][0], state[1][0]
    gates = joined(torch.cat([x, h], dim=1))  # (B, 4H): input, forget, cell, output
    in_gate, forget, _, out_gate = torch.sigmoid(gates).unsafe_chunk(4, dim=1)
    c = torch.addcmul(forget * c, in_gate, torch.tanh(gates[:, 2 * size : 3 * size]))
    h = out_gate * torch.tanh(c)
    return h, (h[None], c[None])


def _gru_cell(linears: list[Linear], x: torch.Tensor, state: torch.Tensor | None, size: int):
    """One GRU step from h of (1, B, H), with ``nn.GRU``'s formula: the reset gate scales ``W_hn h + b_hn``."""
    h = x.new_zeros(x.shape[0], size) if state is None else state[0]
    from_x, from_h = linears[0](x), linears[1](h)  # (B, 3H) each: reset, update, candidate
    reset, update = torch.sigmoid(from_x[:, : 2 * size] + from_h[:, : 2 * size]).unsafe_chunk(2, dim=1)
    candidate = torch.tanh(torch.addcmul(from_x[:, 2 * size :], reset, from_h[:, 2 * size :]))
    h = torch.addcmul(candidate, update, h - candidate)  # (1 - z) * n + z * h
    return h, h[None]
