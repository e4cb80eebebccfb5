"""How many threads torch computes with, and how they wait: the same count whatever the load, and no thrash.

Two facts, both measured on the 2-core machine (``benchmarks/threads.py``):

- The thread count changes the numbers. Kernels split their sums by thread (a weight gradient sums over the batch),
  so 1 and 2 threads give gradients that differ in the last bits for every model preset, and runs that drift apart.
  A default that followed the machine's load would give a different model on a busy machine; the default is
  therefore the cores of the CPU affinity (a fact of the machine, not of its load), recorded in the run's config,
  and ``--threads N`` pins it where runs must match across machines.
- Two OpenMP threads on two cores that another process keeps busy thrash when they spin-wait at each barrier for
  the thread the scheduler set aside (1.13 against 1.81 steps/s for the Bollywood network beside a CPU-bound
  process, `benchmarks/threads.py`). Sleeping at once instead (``OMP_WAIT_POLICY=PASSIVE``) removes the thrash but
  makes every parallel region wake the other thread: a generation step of four matrix products then took as long
  on two threads as on one. ``tunesmith/__init__.py`` sets the middle way before torch is loaded, unless the user
  set a policy: ``PASSIVE`` with ``GOMP_SPINCOUNT=1000``, a short spin, then sleep. Beside a CPU-bound process it
  trains within 6 % of sleeping at once, and it generates 1.4 to 2.4 times faster at batch 1 (BENCHMARKS.md,
  "Training threads under load"). None of the three changes the arithmetic, hence the numbers.
"""

from __future__ import annotations

import os


def allowed_cores() -> list[int]:
    """The CPUs this process may run on (its affinity; all CPUs where the platform has no affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def choose_threads(requested: int = 0, processes: int = 1) -> tuple[int, str]:
    """The intra-op thread count for ``--threads requested`` (0: the affinity's cores) and why, in words.

    A request above the affinity's cores is lowered to them: more threads than cores only thrash. ``processes``
    training side by side on this machine (``torchrun``'s local world) share the cores.
    """
    cores = len(allowed_cores())
    if requested > cores:
        return cores, f"--threads {requested} lowered to the {cores} cores this process may use"
    if requested:
        return requested, f"--threads {requested}"
    share = max(1, cores // max(1, processes))
    shared = f", shared by {processes} processes" if processes > 1 else ""
    return share, f"the {cores} cores this process may use{shared}"


def use_threads(requested: int = 0, processes: int = 1) -> tuple[int, str]:
    """Set torch's intra-op threads for ``--threads requested`` (``choose_threads``); the count and why, in words.

    ``train``, ``generate`` and ``evaluate`` call it: on two cores, two commands of two threads each thrash (a 4-bar
    sample took 438 s beside another job against 50 s with one thread each; BENCHMARKS.md).
    """
    import torch

    threads, why = choose_threads(requested, processes)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads, why
