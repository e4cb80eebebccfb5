"""Training steps per second at 1 and 2 torch threads, spinning or passive, idle and beside a competing process.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/threads.py``). Writes ``benchmarks/results/threads.json``.
Models: two recipes' networks at full size on the Bollywood songs: ``bollywood-v4`` (the attention recipe: one
target per window of 15, batch 64) and the multitrack recipe's transformer (REMI events with drums, window 256,
batch 16). Each measurement runs in a fresh interpreter: three warm-up steps, then steps until 40 are done or
15 seconds have passed. Two threads run with OpenMP's two wait policies, ``ACTIVE`` (threads spin at barriers) and
``PASSIVE`` (threads sleep at once), and with what tunesmith sets when the environment names no policy, ``SHORT``:
``PASSIVE`` with ``GOMP_SPINCOUNT=1000`` (a short spin, then sleep; ``tunesmith/__init__.py``). "Competing" is one
``python -c "while True: pass"`` started before the measurement and killed after it. The machine may be shared: the
load average and the cores other work kept busy (measured just before each run) are recorded beside every figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result

WARMUP, MAX_STEPS, MAX_SECONDS = 3, 40, 15.0
MODELS = {
    "bollywood-v4": {
        "prepare": ["--instruments", "all", "--encoding", "notechord"],
        "train": {"model": "bollywood-v4", "lr": 1e-4},
    },
    "transformer": {
        "prepare": [
            "--instruments",
            "merge",
            "--drums",
            "keep",
            "--encoding",
            "event",
            "--encoding-option",
            "use_tempos=false",
            "--encoding-option",
            "num_velocities=8",
            "--encoding-option",
            "positions_per_beat=12",
        ],
        "train": {
            "model": "transformer",
            "model_options": {"d_model": 192, "layers": 4, "heads": 4, "d_ff": 768, "context": 512},
            "seq_len": 256,
            "batch_size": 16,
        },
    },
}


def measure(data_dir: str, model: str, threads: int) -> dict:
    """Steps per second of one model at ``threads`` (run in its own interpreter)."""
    from tunesmith.config import TrainConfig
    from tunesmith.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data=data_dir, valid_batches=0, threads=threads, device="cpu", **MODELS[model]["train"])
        trainer = Trainer(cfg, Path(tmp) / "run", progress=False, log=lambda _m: None)
        batches = trainer.train_batches.epoch(0, 0, None)
        for _ in range(WARMUP):
            trainer._step(*next(batches))
        start, steps = time.perf_counter(), 0
        while steps < MAX_STEPS and time.perf_counter() - start < MAX_SECONDS:
            trainer._step(*next(batches))
            steps += 1
        seconds = time.perf_counter() - start
    return {"steps": steps, "seconds": round(seconds, 2), "steps_per_s": round(steps / seconds, 3)}


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores other work kept busy over ``seconds`` (from ``/proc/stat``; this process sleeps)."""

    def times() -> tuple[float, float]:
        values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        return sum(values) - values[3] - values[4], sum(values)  # busy, total (idle and iowait left out)

    (busy0, total0), _, (busy1, total1) = times(), time.sleep(seconds), times()
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(total1 - total0, 1e-9)


def load() -> dict:
    return {"load_average_1min": round(os.getloadavg()[0], 2), "busy_cores": round(busy_cores(), 2)}


def run_one(data_dir: Path, model: str, threads: int, policy: str, competing: bool) -> dict:
    before = load()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy != "SHORT":  # SHORT: no policy named, so tunesmith sets its own
        env["OMP_WAIT_POLICY"] = policy
    rival = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if competing else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(data_dir), model, str(threads)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "before": before}


def main() -> None:
    from tunesmith.cli import main as cli

    songs = SHARED / "data" / "bollywood"
    results: dict = {"machine": machine(), "load_at_start": load(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for model, spec in MODELS.items():
            data_dir = Path(tmp) / model
            assert cli(["prepare", str(songs), "-o", str(data_dir), "-q", *spec["prepare"]]) == 0
            for competing in (False, True):
                for threads, policy in ((1, "PASSIVE"), (2, "ACTIVE"), (2, "PASSIVE"), (2, "SHORT")):
                    row = {"model": model, "threads": threads, "wait_policy": policy, "competing": competing}
                    row.update(run_one(data_dir, model, threads, policy, competing))
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
    results["load_at_end"] = load()
    path = write_result("threads", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
