"""Which torch device a command runs on: ``--device auto|cpu|cuda|mps`` for train, generate, evaluate and studio."""

from __future__ import annotations

import torch

from tunesmith.config import DEVICES
from tunesmith.errors import TunesmithError


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA, then Apple MPS, then the CPU. A named device that is missing is a one-line error.

    ``local_rank`` picks the GPU of a ``torchrun`` process (0 when run alone).
    """
    if name not in DEVICES:
        raise TunesmithError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TunesmithError("--device cuda: no CUDA device is available (this PyTorch build or machine)")
        return torch.device("cuda", local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        raise TunesmithError("--device mps: Apple MPS is not available here")
    return torch.device(name)
