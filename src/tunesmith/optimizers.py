"""Optimizers and learning-rate schedules by name: the registries behind ``train --optimizer`` and ``--schedule``.

Each entry builds its object from the (resolved) train config. torch is imported only when one is built, so the
config's validation and the command line read the names without loading it. A new optimizer or schedule is one
entry here; the choices of the command line and the config's checks follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from tunesmith.config import TrainConfig

OptimizerBuilder = Callable[["TrainConfig", Iterable[Any]], "torch.optim.Optimizer"]
ScheduleBuilder = Callable[["TrainConfig", "torch.optim.Optimizer", int], Any]


def _with_betas(name: str) -> OptimizerBuilder:
    """An Adam-family optimizer: learning rate, betas and weight decay from the config."""

    def build(cfg: TrainConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
        import torch

        return getattr(torch.optim, name)(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    return build


def _with_momentum(name: str) -> OptimizerBuilder:
    """SGD or RMSprop: learning rate, momentum and weight decay from the config."""

    def build(cfg: TrainConfig, params: Iterable[Any]) -> torch.optim.Optimizer:
        import torch

        return getattr(torch.optim, name)(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    return build


OPTIMIZERS: dict[str, OptimizerBuilder] = {
    "adam": _with_betas("Adam"),
    "adamw": _with_betas("AdamW"),
    "adamax": _with_betas("Adamax"),
    "rmsprop": _with_momentum("RMSprop"),
    "sgd": _with_momentum("SGD"),
}


def _per_step(decay: Callable[[float], float]) -> ScheduleBuilder:
    """A per-step schedule: ``cfg.warmup`` steps of linear warm-up, then ``decay(done)``, ``done`` going 0 to 1."""

    def build(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
        import torch

        warmup, total = cfg.warmup, max(1, total_steps)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return decay((step - warmup) / max(1, total - warmup))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    return build


def _plateau(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """Per epoch: halve the rate after an epoch without a better validation loss."""
    import torch

    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)


SCHEDULES: dict[str, ScheduleBuilder] = {
    "none": _per_step(lambda done: 1.0),
    "cosine": _per_step(lambda done: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))),
    "plateau": _plateau,
    "step": _per_step(lambda done: 0.5 ** int(done * 4)),
}
