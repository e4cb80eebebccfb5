"""tunesmith: learn to compose music from a corpus of symbolic music with deep sequence models.

The Python API (``tunesmith.api``) is exported here: ``prepare``, ``train``, ``resume``, ``load_run``, ``render``,
``compare``, and the types they return (``DataDir``, ``Run``, ``Sample``, ``Evaluation``). It is imported on first
use, so ``import tunesmith`` stays light.
"""

import os

# OpenMP threads that wait at a barrier spin briefly, then sleep (see tunesmith.threads): the short spin keeps the
# gaps between one step's parallel regions cheap, sleeping keeps two threads from thrashing where other work shares
# the cores, and neither changes the numbers. Set before torch loads its OpenMP runtime; a policy the user set stays.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # PASSIVE alone spins 0 times

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


def __getattr__(name: str):
    """The API's names, imported from ``tunesmith.api`` when first asked for."""
    if name in __all__:
        from tunesmith import api

        return getattr(api, name)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
