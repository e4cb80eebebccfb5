"""How many threads torch computes with: the cores this process may use that other work leaves free.

Two threads on two cores that other processes keep busy thrash: each parallel region waits for the thread the
scheduler put aside (0.3 training steps/s against 2.2 with one thread, measured on the 2-core machine; see
``benchmarks/threads.py``). The default therefore counts the cores that are actually idle, over a short look at
``/proc/stat``, among those of the CPU affinity, and never uses more threads than that affinity has cores.

The count is part of a run's config: some kernels (the transformer's) split their sums by thread, so two thread
counts can give weights that differ in the last bits. A run records the count it used, and ``--threads N`` pins it.
"""

from __future__ import annotations

import os
import time

LOOK_SECONDS = 0.25  # how long the idle cores are watched


def allowed_cores() -> list[int]:
    """The CPUs this process may run on (its affinity; all CPUs where the platform has no affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cpu_times(cores: list[int]) -> tuple[float, float] | None:
    """Summed (busy, total) jiffies of ``cores`` from ``/proc/stat``; None where it cannot be read."""
    try:
        with open("/proc/stat") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cores}
    busy = total = 0.0
    for line in lines:
        parts = line.split()
        if parts and parts[0] in wanted:
            values = [float(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(values)
            busy += sum(values) - values[3] - values[4]
    return (busy, total) if total else None


def busy_cores(cores: list[int], seconds: float = LOOK_SECONDS) -> float | None:
    """How many of ``cores`` other work kept busy during the last ``seconds`` (this process sleeps meanwhile)."""
    first = _cpu_times(cores)
    if first is None:
        return None
    time.sleep(seconds)
    second = _cpu_times(cores)
    if second is None or second[1] <= first[1]:
        return None
    return len(cores) * (second[0] - first[0]) / (second[1] - first[1])


def free_cores() -> int:
    """Cores of the affinity that other work leaves free now (at least 1).

    Where ``/proc/stat`` cannot be read, the one-minute load average stands in for the busy cores.
    """
    cores = allowed_cores()
    busy = busy_cores(cores)
    if busy is None:
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(len(cores), round(len(cores) - busy)))


def choose_threads(requested: int = 0, processes: int = 1) -> tuple[int, str]:
    """The intra-op thread count for ``--threads requested`` (0: the free cores) and why, in words.

    A request above the affinity's cores is lowered to them: more threads than cores only thrash. ``processes``
    training side by side on this machine (``torchrun``'s local world) share the free cores.
    """
    cores = len(allowed_cores())
    if requested > cores:
        return cores, f"--threads {requested} lowered to the {cores} cores this process may use"
    if requested:
        return requested, f"--threads {requested}"
    free = free_cores()
    share = max(1, free // max(1, processes))
    shared = f", shared by {processes} processes" if processes > 1 else ""
    return share, f"{free} of the {cores} cores this process may use were free{shared}"
