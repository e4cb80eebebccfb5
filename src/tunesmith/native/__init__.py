"""The generation steps in C++ (``steps.cpp``): built once by ``make install``, loaded where built, else skipped.

``steps()`` is ``torch.ops.tunesmith`` (``lstm_step``, ``gru_step``, ``transformer_step``, ``softmax_draw``, and
``lstm_run``, ``gru_run`` and ``transformer_run``: ``sample``'s loop for many tokens a call) when the library is
built for this source, torch and CPU, else None: the steppers then use their TorchScript steps, which compute the
same bits (``tests/test_native_steps.py``), so a sample does not depend on which one ran.
``python -m tunesmith.native`` builds it with ``torch.utils.cpp_extension`` (a C++ compiler and ninja; about 15
seconds) into ``build/`` beside the source, for this CPU, with a stamp naming the source's hash, torch's version
and the CPU; ``--if-stale`` (what ``make install`` runs) builds only where that stamp is not this machine's, without
importing torch otherwise. Nothing is compiled at run time: a missing, stale or failing library is a reason in
``status()``, never an error.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path

from tunesmith.switch import switched

SOURCE = Path(__file__).with_name("steps.cpp")
BUILD = SOURCE.parent / "build"
NAME = "tunesmith_steps"
LIBRARY = BUILD / f"{NAME}.so"
STAMP = BUILD / "stamp.txt"
# -march=native: this CPU's instructions (a hardware fused multiply-add where the loops call std::fma, as ATen's
# addcmul does); -ffp-contract=off: no other multiply and add fused, so the loops round as ATen's kernels do.
FLAGS = ["-O3", "-march=native", "-ffp-contract=off"]
DISABLE = "TUNESMITH_NATIVE"  # =0: never load the library (the TorchScript steps run)

_ENABLED = [True]
_LOADED: list = []  # [ops or None, reason]
_LOCK = threading.Lock()


def _cpu() -> str:
    """A digest of the model and instruction sets in ``/proc/cpuinfo``: a library built for another CPU stays out."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    wanted = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]


def _stamp() -> str:
    """What the library was built from and for: the source and flags, torch's version, the CPU."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:16]
    return f"{digest} torch {importlib.metadata.version('torch')} cpu {_cpu()}"


def _load() -> tuple[object | None, str]:
    if os.environ.get(DISABLE, "1") == "0":
        return None, f"{DISABLE}=0"
    if not LIBRARY.exists():
        return None, "not built (python -m tunesmith.native, run by make install)"
    if not STAMP.exists() or STAMP.read_text().strip() != _stamp():
        return None, "built for another source, torch or CPU: rebuild with python -m tunesmith.native (make install)"
    import torch

    try:
        torch.ops.load_library(str(LIBRARY))
    except (OSError, RuntimeError) as error:
        return None, f"does not load: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    return torch.ops.tunesmith, "loaded"


def _loaded() -> tuple[object | None, str]:
    if _LOADED:  # every token's draw asks: no lock once decided
        return _LOADED[0], _LOADED[1]
    with _LOCK:
        if not _LOADED:
            _LOADED.extend(_load())
        return _LOADED[0], _LOADED[1]


def steps():
    """``torch.ops.tunesmith`` with the C++ steps, or None where not built, stale, disabled or turned off here."""
    return _loaded()[0] if _ENABLED[0] else None


def status() -> str:
    """Whether the C++ steps are in use, in words: "loaded", or why not."""
    return _loaded()[1] if _ENABLED[0] else "turned off (native(False))"


def native(enabled: bool) -> AbstractContextManager[None]:
    """Build steppers and draw tokens with (True) or without (False) the C++ steps inside the block.

    Without them the TorchScript steps run: for benchmarks and tests to compare the two in one process.
    """
    return switched(_ENABLED, enabled)


def build(verbose: bool = False) -> Path:
    """Compile ``steps.cpp`` into ``LIBRARY`` and write the stamp; raises where it cannot be built."""
    from torch.utils import cpp_extension

    shutil.rmtree(BUILD, ignore_errors=True)  # objects built for another CPU are not reused (ninja would keep them)
    BUILD.mkdir()  # and without a stamp a half-built library is never taken for a built one
    cpp_extension.load(
        NAME,
        [str(SOURCE)],
        extra_cflags=FLAGS,
        build_directory=str(BUILD),
        is_python_module=False,
        verbose=verbose,
    )
    STAMP.write_text(_stamp() + "\n")
    return LIBRARY


def main(argv: list[str] | None = None) -> int:
    """``python -m tunesmith.native [--if-stale] [-v]``: build the library; a failure is a one-line note."""
    argv = sys.argv[1:] if argv is None else argv
    if "--if-stale" in argv and LIBRARY.exists() and STAMP.exists() and STAMP.read_text().strip() == _stamp():
        return 0
    try:
        path = build(verbose="-v" in argv)
    except Exception as error:  # no compiler, no ninja, no headers: generation still works, a little slower
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        print(f"tunesmith: C++ steps not built ({reason}); generation uses the TorchScript steps", file=sys.stderr)
        return 0
    print(f"tunesmith: C++ steps built: {path}")
    return 0


# The C++ steps with the signatures of models/scripted.py's, which the steppers bind the same way.


def lstm_stack_step(tokens, embed, state, weights, biases, out_weight, out_bias):
    """``scripted.lstm_stack_step`` in C++: ``(logits (B, 1, V), [(h, c)] per layer)``."""
    import torch

    flat = [t for pair in state for t in pair]
    logits, new = torch.ops.tunesmith.lstm_step(tokens, embed, flat, weights, biases, out_weight, out_bias)
    return logits, list(zip(new[::2], new[1::2]))


def gru_stack_step(tokens, embed, state, weights, biases, out_weight, out_bias):
    """``scripted.gru_stack_step`` in C++: ``(logits (B, 1, V), [h] per layer)``."""
    import torch

    logits, new = torch.ops.tunesmith.gru_step(tokens, embed, list(state), weights, biases, out_weight, out_bias)
    return logits, list(new)


def lstm_stack_run(logits, state, *loop, embed, weights, biases, out_weight, out_bias):
    """``sample``'s loop for up to ``n`` tokens in one call (``steps.cpp``'s ``run_tokens``).

    ``loop``: ``t0, n, step_last, temperature, bias, blocked, stop_id, pad_id, done, out, generator``; returns
    ``(logits, [(h, c)] per layer, tokens written)``.
    """
    import torch

    flat = [t for pair in state for t in pair]
    run = torch.ops.tunesmith.lstm_run
    logits, new, written = run(logits, flat, *loop, embed, weights, biases, out_weight, out_bias)
    return logits, list(zip(new[::2], new[1::2])), written


def gru_stack_run(logits, state, *loop, embed, weights, biases, out_weight, out_bias):
    """``lstm_stack_run`` for a GRU stack: ``(logits, [h] per layer, tokens written)``."""
    import torch

    run = torch.ops.tunesmith.gru_run
    logits, new, written = run(logits, list(state), *loop, embed, weights, biases, out_weight, out_bias)
    return logits, list(new), written


def transformer_run(
    logits, buffers, filled, pos, context, cos, sin, *loop, embed, heads, scale, norms, eps, weights, biases
):
    """``lstm_stack_run`` for ``CachedStep``: ``(logits, tokens written, positions filled, position)``.

    ``buffers``: its key and value buffers, written in place; ``cos``, ``sin``: its angles, covering every position
    of the run; the keywords: ``transformer_blocks_step``'s.
    """
    import torch

    run = torch.ops.tunesmith.transformer_run
    blocks = (heads, scale, norms, eps, weights, biases)
    return run(logits, buffers, filled, pos, context, cos, sin, *loop, embed, *blocks)


def transformer_blocks_step(x, heads, scale, cos, sin, filled, start, kept, norms, eps, weights, biases, buffers):
    """``scripted.transformer_blocks_step`` in C++: ``(logits (B, V), [(keys, values)] per block)``."""
    import torch

    op = torch.ops.tunesmith.transformer_step
    logits, kv = op(x, heads, scale, cos, sin, filled, start, kept, norms, eps, weights, biases, buffers)
    return logits, list(zip(kv[::2], kv[1::2]))


def softmax_draw(logits, generator=None):
    """``sample.softmax_draw`` in C++: the same token for the same logits and generator state."""
    import torch

    return torch.ops.tunesmith.softmax_draw(logits, generator)
