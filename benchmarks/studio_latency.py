"""Studio latency: from pressing Generate to playable audio, for 16 bars of the demo model, alone and two at once.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/studio_latency.py``). Writes
``benchmarks/results/studio_latency.json``.

The model is ``make demo``'s (``out/demo/run``: piano-roll tokens on an 8th-note grid from 120 Bach chorales, LSTM
2 x 256, embedding 64). Without it, the script makes one with the demo's own ``prepare`` and ``train`` commands
but one epoch (``--epochs 1``: a token costs the same whatever the training) in ``out/bench/studio-demo``.

A real ``tunesmith studio`` is started as a child process; each measurement is what the page does: ``POST
/api/generate`` (16 bars, strings, the page's default temperature 1.0 and top-p 1.0, a new seed each time), poll
``GET /api/jobs/ID`` every 50 ms until done, then ``GET`` the WAV in full. The clock covers all of it: loading
the checkpoint, sampling, decoding, writing the MIDI, FluidSynth and the transfer. Four rounds, each one request
alone and then two at once (two clients started together, as two users would; both latencies kept), after one
warm-up request. The machine's load average is recorded beside the figures (this machine is shared).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, write_result

DEMO_RUN = ROOT / "out" / "demo" / "run"
BENCH_DIR = ROOT / "out" / "bench" / "studio-demo"
TS = [sys.executable, "-m", "tunesmith"]
ROUNDS = 4


def demo_run() -> tuple[Path, str]:
    """``make demo``'s run, or one made with its commands (fewer epochs)."""
    if (DEMO_RUN / "checkpoints").is_dir():
        return DEMO_RUN, "out/demo/run (make demo)"
    run = BENCH_DIR / "run"
    if not (run / "checkpoints").is_dir():
        data = BENCH_DIR / "data"
        subprocess.run(
            [*TS, "prepare", "corpus:bach", "-o", str(data), "--instruments", "merge", "--sample", "120", "--seed",
             "0", "-q", "--encoding", "pianoroll", "--encoding-option", "grid=0.5"],
            check=True,
        )  # fmt: skip
        subprocess.run(
            [*TS, "train", str(data), "-o", str(run), "--model", "lstm", "--model-option", "hidden=256,256",
             "--model-option", "embed_dim=64", "--model-option", "dropout=0.2", "--epochs", "1", "--seq-len", "128",
             "--batch-size", "32", "--lr", "3e-3", "-q"],
            check=True,
        )  # fmt: skip
    return run, "out/bench/studio-demo/run (the demo's commands, 1 epoch)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_piece(base: str, run_id: str, seed: int) -> dict:
    """Generate -> playable WAV, timed as the page sees it."""
    with httpx.Client(base_url=base, timeout=600) as client:
        start = time.perf_counter()
        settings = {"primer": "none", "length": 16, "unit": "bars", "seed": seed, "instruments": "strings"}
        job = client.post("/api/generate", json={"run": run_id, **settings}).json()
        while job["state"] in ("queued", "running"):
            time.sleep(0.05)
            job = client.get(f"/api/jobs/{job['id']}").json()
        if job["state"] != "done":
            raise RuntimeError(f"generation {job['state']}: {job['error']}")
        wav = client.get(f"/api/jobs/{job['id']}/files/wav")
        wav.raise_for_status()
        seconds = time.perf_counter() - start
    result = job["result"]
    return {
        "seconds": round(seconds, 3),
        "job_seconds": job["seconds"],
        "tokens": result["tokens"],
        "notes": result["notes"],
        "music_seconds": result["duration"],
        "wav_bytes": len(wav.content),
        "timing": result["timing"],
    }


def pair(base: str, run_id: str, seeds: tuple[int, int]) -> list[dict]:
    results: list[dict] = [{}, {}]
    gate = threading.Barrier(2)

    def go(i: int) -> None:
        gate.wait()
        results[i] = one_piece(base, run_id, seeds[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    run, source = demo_run()
    port = free_port()
    server = subprocess.Popen([*TS, "studio", str(run), "--port", str(port)], stdout=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                runs = httpx.get(f"{base}/api/runs", timeout=30).json()["runs"]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        run_id = runs[0]["id"]
        load_before = os.getloadavg()
        one_piece(base, run_id, seed=999)  # warm-up: imports in the server, FluidSynth's first start
        alone, pairs = [], []
        for r in range(ROUNDS):  # taking turns, so the neighbours' load weighs on both alike
            alone.append(one_piece(base, run_id, seed=r))
            pairs.append(pair(base, run_id, (100 + 2 * r, 101 + 2 * r)))
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(30)
    both = [p["seconds"] for two in pairs for p in two]
    result = {
        "machine": machine(),
        "model": source,
        "command": "make bench (benchmarks/studio_latency.py)",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "alone": alone,
        "two_at_once": pairs,
        "summary": {
            "alone_median_s": statistics.median(p["seconds"] for p in alone),
            "alone_min_s": min(p["seconds"] for p in alone),
            "two_at_once_median_s": statistics.median(both),
            "two_at_once_max_s": max(both),
        },
    }
    path = write_result("studio_latency", result)
    print(f"wrote {path}")
    print(result["summary"], "load", result["load_average_before"], "->", result["load_average_after"])


if __name__ == "__main__":
    main()
