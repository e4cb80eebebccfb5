"""What ``tunesmith evaluate`` and ``tunesmith compare`` are asked for: ``EvaluateConfig``, each option declared once.

Torch-free, so the command line builds its parsers from it without loading a model's libraries; the evaluation itself
is ``tunesmith.evaluate.report``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config import DEVICES, option
from tunesmith.errors import TunesmithError
from tunesmith.layout import SPLITS, RunDir


@dataclass
class EvaluateConfig:
    """What ``tunesmith evaluate`` was asked for."""

    split: str = option("test", "split to score", choices=SPLITS)
    samples: int = option(16, "generated pieces judged, from the network and the n-gram each", metavar="N")
    sample_length: int | None = option(None, "in tokens (default: the split's median piece)", metavar="TOKENS")
    temperature: float = option(1.0, "for the samples (1: the distribution the likelihood measures)", metavar="T")
    ngram_order: int = option(5, "highest n-gram order tried (the best on the validation split is used)", metavar="N")
    max_pieces: int | None = option(None, "score only the first N pieces of the split", metavar="N")
    max_train_pieces: int = option(5_000, "training pieces indexed for the memorisation check", metavar="N")
    seed: int = option(0, "random seed of the samples")
    checkpoint: str = option(RunDir.BEST, "the checkpoint of the run to use", cli=False)
    device: str = option("auto", "where to score and sample: auto (CUDA, then MPS, then the CPU)", choices=DEVICES)
    threads: int = option(0, "torch threads (0: the cores of this process's CPU affinity, as train)", metavar="N")

    def __post_init__(self) -> None:
        checks = [
            (self.split in SPLITS, f"--split must be one of {', '.join(SPLITS)}"),
            (self.samples >= 2, "--samples must be at least 2"),
            (self.sample_length is None or self.sample_length >= 8, "--sample-length must be at least 8 tokens"),
            (self.temperature > 0, "--temperature must be positive"),
            (1 <= self.ngram_order <= 8, "--ngram-order must be between 1 and 8"),
            (self.max_pieces is None or self.max_pieces >= 1, "--max-pieces must be at least 1"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.threads >= 0, "--threads must be 0 (the cores) or positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise TunesmithError(message)
