"""Training steps per second at 1 and 2 torch threads, on an idle machine and beside a competing CPU-bound process.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/threads.py``). Writes ``benchmarks/results/threads.json``.
Models: two recipes' networks at full size on the Bollywood songs: ``bollywood-v4`` (the attention recipe: one
target per window of 15, batch 64) and the multitrack recipe's transformer (REMI events with drums, window 256,
batch 16). Each measurement runs in a fresh interpreter: three warm-up steps, then steps until 40 are done or
15 seconds have passed. "Competing" is one ``python -c "while True: pass"`` started before the measurement and
killed after it. The machine may be shared: the load average and the cores other work kept busy (measured just
before each run) are recorded beside every figure.
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
    from tunesmith.train import Trainer

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


def load() -> dict:
    from tunesmith.threads import allowed_cores, busy_cores

    busy = busy_cores(allowed_cores(), seconds=1.0)
    return {"load_average_1min": round(os.getloadavg()[0], 2), "busy_cores": round(busy, 2) if busy else None}


def run_one(data_dir: Path, model: str, threads: int, competing: bool) -> dict:
    before = load()
    rival = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if competing else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(data_dir), model, str(threads)],
            capture_output=True,
            text=True,
            check=True,
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
                for threads in (1, 2):
                    row = {"model": model, "threads": threads, "competing": competing}
                    row.update(run_one(data_dir, model, threads, competing))
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
