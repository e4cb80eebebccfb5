"""tunesmith: learn to compose music from a corpus of symbolic music with deep sequence models."""

import os

# OpenMP threads that wait passively at barriers do not thrash when other work shares the cores, and compute the
# same numbers (see tunesmith.threads). It must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
