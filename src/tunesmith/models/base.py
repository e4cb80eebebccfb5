"""The model contract every network in tunesmith keeps.

``forward(tokens, state=None) -> (logits, state)``: ``tokens`` is (B, T) ids; ``logits`` is (B, T', V) and predicts
the *last* T' targets of the window (T' = T for models trained with a target at every position, 1 for window
models, T - phrase + 1 for the encoder-decoder). A model that ``can_step`` continues from the returned state one
token at a time, so generation costs one step per new token; a window model (``can_step = False``) sees a whole
window at once and must be re-run on the window for every new token. Models never see a tokenizer: they are given a
vocabulary size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

State = Any  # a tensor, or a tuple / list of them, or None
Stepper = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]


class SequenceModel(nn.Module):
    """Base class: declares how a model is used; the subclasses build the network."""

    can_step: bool = True
    """Continues from a state one token at a time (recurrent, transformer with KV cache)."""
    stateful_training: bool = False
    """Trained on contiguous streams, carrying the state from one batch to the next."""

    def forward(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def read(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """``forward`` for a sampler reading its primer: the logits of the last position only, (B, 1, V), and the state.

        The recurrent stacks and the transformer run their output layer on that one position (at batch 16 and a
        100-token primer, the output layer over every position was a third to two fifths of reading the primer).
        """
        logits, state = self(tokens, state)
        return logits[:, -1:], state

    def penalty(self) -> torch.Tensor | None:
        """An extra loss term (such as a Keras-style L2 kernel regulariser), or None."""
        return None

    def reorder_state(self, state: State, index: torch.Tensor) -> State:
        """The state of the batch rows ``index`` (beam search, dropping finished samples)."""
        return map_state(state, lambda t: t.index_select(self.state_batch_dim, index))

    state_batch_dim: int = 1  # torch RNN states are (layers, B, H)

    def stepper(self, precision: str = "float32") -> Stepper:
        """What generation calls for each new token, ``(tokens, state) -> (logits, state)``, in ``precision``.

        float32: the model itself; int8: a copy with int8 recurrent and linear weights (see ``int8_copy``);
        bfloat16 only where a model has its own stepping path (LSTM stacks). Build it after the last weight update.
        """
        if precision == "float32":
            return self
        if precision == "int8":
            return int8_copy(self)
        raise ValueError(f"{type(self).__name__} steps in float32 or int8, not {precision}")

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def int8_copy(model: nn.Module) -> nn.Module:
    """A copy with int8 weights in its LSTM, GRU and linear layers (PyTorch dynamic quantisation, CPU only).

    Stepping one token at a time reads every weight once per token; on a small CPU that is bound by memory
    bandwidth, so a quarter of the bytes makes each step several times faster. Logits move slightly (about 1e-3 to
    1e-2); samples are no longer those of float32, but are reproducible among themselves.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)


@contextmanager
def onednn(enabled: bool) -> Iterator[None]:
    """Turn oneDNN on or off for a block (only that flag; the others are left alone).

    oneDNN re-lays out an LSTM's weights on every call, which costs far more than the step itself when generating
    one token at a time (150 against 1,372 tokens/s for 3 x 512 on two cores); full sequences gain from it.
    """
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def map_state(state: State, fn) -> State:
    """Apply ``fn`` to every tensor of a nested state."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, (list, tuple)):
        return type(state)(map_state(s, fn) for s in state)
    if isinstance(state, dict):
        return {k: map_state(v, fn) for k, v in state.items()}
    return state


def detach_state(state: State) -> State:
    """Cut the graph behind a carried state (truncated backpropagation through time)."""
    return map_state(state, lambda t: t.detach())


def make_activation(name: str, slope: float = 0.2) -> nn.Module:
    """``none``, ``relu``, ``leaky_relu`` (negative ``slope``), ``tanh``, ``gelu``."""
    table = {
        "none": nn.Identity,
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "leaky_relu": lambda: nn.LeakyReLU(slope),
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}: one of {', '.join(table)}")
    return table[name]()


class SequenceNorm(nn.Module):
    """Normalisation over the features of (B, T, C): ``none``, ``layer`` or ``batch`` (Keras-like momentum/eps)."""

    def __init__(self, kind: str, size: int) -> None:
        super().__init__()
        if kind not in ("none", "layer", "batch"):
            raise ValueError(f"unknown norm {kind!r}: none, layer or batch")
        self.kind = kind
        if kind == "layer":
            self.norm: nn.Module = nn.LayerNorm(size)
        elif kind == "batch":
            # Keras BatchNormalization: moving average momentum 0.99 (torch counts 1 - 0.99), epsilon 1e-3.
            self.norm = nn.BatchNorm1d(size, momentum=0.01, eps=1e-3)
        else:
            self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "batch" and x.dim() == 3:
            return self.norm(x.transpose(1, 2)).transpose(1, 2)  # BatchNorm1d wants (B, C, T)
        return self.norm(x)


class PostLayer(nn.Sequential):
    """What follows a recurrent or dense layer, in the seeds' order: e.g. ("act", "norm", "dropout")."""

    def __init__(self, order: tuple[str, ...], size: int, activation: str, norm: str, dropout: float, slope: float):
        parts: list[nn.Module] = []
        for step in order:
            if step == "act":
                parts.append(make_activation(activation, slope))
            elif step == "norm":
                parts.append(SequenceNorm(norm, size))
            elif step == "dropout":
                parts.append(nn.Dropout(dropout))
            else:
                raise ValueError(f"unknown post-layer step {step!r}: act, norm or dropout")
        super().__init__(*parts)
