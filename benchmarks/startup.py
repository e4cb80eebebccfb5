"""Startup: the wall time, CPU time and memory of commands that run no model (``--help``, ``prepare``).

Run: ``make bench`` (or ``.venv/bin/python benchmarks/startup.py``; ``--rounds 5``). Writes
``benchmarks/results/startup.json``. With ``--before SRC`` (a ``src`` folder exported from an earlier commit with
``git archive COMMIT src``) each command is also run with that code first on ``PYTHONPATH``, interleaved with this
code round by round, so both see the same load; the outputs of the two ``prepare`` runs are compared byte for byte.

Commands, each in a fresh process through the ``tunesmith`` console script:

- ``tunesmith --help``: the parser alone;
- ``tunesmith prepare BOLLYWOOD -o OUT --no-cache -q``: the 71 Bollywood songs, every file parsed, with the default
  ``--workers 0`` (parsed in the ``prepare`` process itself);
- the same with ``--workers 2``: two forked parse workers.

Per run: wall seconds, CPU seconds (user + system of the command and its workers, from ``wait4``), ``max_rss_mib``
(``wait4``'s ``ru_maxrss``: the largest single process, what ``/usr/bin/time -v`` reports as "Maximum resident set
size") and ``peak_tree_mib`` (the sum over the command and its workers, sampled from /proc every 10 ms). Reported:
the best of the rounds for the times, the median for the memory.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SHARED, machine, tree_rss_kib, write_result

SONGS = SHARED / "data" / "bollywood"
SCRIPT = Path(sys.executable).parent / "tunesmith"
TUNESMITH = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "tunesmith"]


def commands(out: Path) -> dict[str, list[str]]:
    prepare = ["prepare", str(SONGS), "-o", str(out), "--no-cache", "-q"]
    return {"help": ["--help"], "prepare": prepare, "prepare_2_workers": [*prepare, "--workers", "2"]}


def run_once(args: list[str], pythonpath: str | None) -> dict:
    """One command in a fresh process: wall and CPU seconds, its largest process and its process tree's peak."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    peak = [0]
    stop = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen([*TUNESMITH, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{err[-2000:]}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,
        "peak_tree_mib": peak[0] / 1024,
    }


def summary(runs: list[dict]) -> dict:
    """Best times and median memory of the rounds."""
    return {
        "rounds": len(runs),
        "best_seconds": round(min(r["seconds"] for r in runs), 3),
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "best_cpu_seconds": round(min(r["cpu_seconds"] for r in runs), 3),
        "max_rss_mib": round(statistics.median(r["max_rss_mib"] for r in runs), 1),
        "peak_tree_mib": round(statistics.median(r["peak_tree_mib"] for r in runs), 1),
    }


def same_corpus(a: Path, b: Path) -> bool:
    return all(filecmp.cmp(a / name, b / name, shallow=False) for name in ("pieces.bin", "pieces.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", metavar="SRC", help="an earlier commit's src folder, to compare with")
    args = parser.parse_args()
    variants = {"this code": None}
    if args.before:
        variants = {"before": str(Path(args.before).resolve()), "this code": None}
    load = os.getloadavg()
    runs: dict[str, dict[str, list[dict]]] = {v: {} for v in variants}
    identical = True
    with tempfile.TemporaryDirectory(prefix="tunesmith-startup-") as tmp:
        for _ in range(args.rounds):
            for variant, path in variants.items():
                out = Path(tmp) / variant.replace(" ", "-")
                for name, argv in commands(out).items():
                    shutil.rmtree(out, ignore_errors=True)  # a new corpus every time, made outside the clock
                    runs[variant].setdefault(name, []).append(run_once(argv, path))
            if args.before:
                identical &= same_corpus(Path(tmp) / "before", Path(tmp) / "this-code")
    result = {
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "command": "make bench  (python benchmarks/startup.py" + (f" --before {args.before})" if args.before else ")"),
        "commands": {  # the songs as a checkout's neighbour, not by this machine's absolute path
            name: "tunesmith " + " ".join(argv).replace(str(SONGS), os.path.relpath(SONGS, ROOT))
            for name, argv in commands(Path("OUT")).items()
        },
        "results": {variant: {name: summary(rs) for name, rs in by.items()} for variant, by in runs.items()},
    }
    if args.before:
        result["prepare_output_identical"] = identical
    print(write_result("startup", result).read_text())


if __name__ == "__main__":
    main()
