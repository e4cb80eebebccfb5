"""tunesmith: learn to compose music from a corpus of symbolic music with deep sequence models.

The Python API (``tunesmith.api``) is exported here: ``prepare``, ``train``, ``resume``, ``load_run``, ``render``,
``compare``, and the types they return (``DataDir``, ``Run``, ``Sample``, ``Evaluation``). It is imported on first
use, so ``import tunesmith`` stays light.
"""

import os

from tunesmith.lazy import lazy_names  # imports no torch: the setting below still comes first

# OpenMP threads that wait passively at barriers do not thrash when other work shares the cores, and compute the
# same numbers (see tunesmith.threads). It must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "DataDir",
    "EncodeConfig",
    "Evaluation",
    "GenerateConfig",
    "Run",
    "RunDir",
    "Sample",
    "compare",
    "generate_config",
    "inspect",
    "load_run",
    "merge",
    "prepare",
    "render",
    "resume",
    "train",
]

__getattr__, __dir__ = lazy_names(__name__, dict.fromkeys(__all__, "tunesmith.api"), globals())
