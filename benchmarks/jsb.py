"""The classic polyphonic benchmark: JSB Chorales at quarter-note resolution, NLL per time step on the test split.

Run: ``make bench-jsb`` (or ``.venv/bin/python benchmarks/jsb.py``). Writes ``benchmarks/results/jsb.json``.
Trains on the standard train split of ../shared/data/jsb (Boulanger-Lewandowski et al. 2012) with the poly piano-roll
encoding (each frame's pitches in ascending order, then a frame-end token; no onset marks, since the data has none)
and random transposition of -6..+5 semitones, for at most ``JSB_MINUTES`` (default 30) minutes of training on the
CPU. The checkpoint is chosen on the valid split (best validation loss), scored on valid, then on test once.

Published figures (nats per time step, test): RNN-RBM 7.27 and RNN-NADE 5.56 (Boulanger-Lewandowski et al. 2012);
LSTM 8.67 and GRU 8.54 (Chung et al. 2014).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, SHARED, machine, write_result
from tunesmith.cli import main as cli

DATA = SHARED / "data" / "jsb" / "jsb-chorales-quarter.json"
OUT = ROOT / "out" / "bench-jsb"
MINUTES = float(os.environ.get("JSB_MINUTES", "30"))
PUBLISHED = {"RNN-RBM": 7.27, "RNN-NADE": 5.56, "LSTM (Chung 2014)": 8.67, "GRU (Chung 2014)": 8.54}

PREPARE = [
    "prepare", str(DATA), "-o", str(OUT / "data"), "-q",
    "--encoding", "pianoroll", "--encoding-option", "grid=1", "--encoding-option", "mark_onsets=false",
    "--transpose=-6..5",
]  # fmt: skip
TRAIN = [
    "train", str(OUT / "data"), "-o", str(OUT / "run"), "-q",
    "--model", "lstm", "--model-option", "hidden=512,512", "--model-option", "embed_dim=64",
    "--model-option", "dropout=0.3", "--seq-len", "128", "--batch-size", "64", "--lr", "2e-3",
    "--schedule", "cosine", "--warmup", "100", "--epochs", "300", "--valid-batches", "4",
    "--max-minutes", f"{MINUTES:g}", "--seed", "0",
]  # fmt: skip


def run(args: list[str]) -> None:
    print("$ tunesmith " + shlex.join(args), flush=True)
    code = cli(args)
    if code:
        raise SystemExit(f"tunesmith {args[0]} failed with exit code {code}")


def nll_per_step(split: str) -> dict:
    run(["evaluate", str(OUT / "run"), "--split", split, "-q", "--samples", "8"])
    report = json.loads((OUT / "run" / "eval.json").read_text())
    return {"network": report["likelihood"]["network"], "ngram": report["likelihood"]["ngram"], "report": report}


def main() -> None:
    if not DATA.is_file():
        raise SystemExit(f"JSB data not found at {DATA}")
    shutil.rmtree(OUT, ignore_errors=True)
    run(PREPARE)
    start = time.perf_counter()
    run(TRAIN)
    wall = (time.perf_counter() - start) / 60
    metrics = (OUT / "run" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    history = [dict(zip(header, line.split(","))) for line in metrics[1:]]
    train_minutes = sum(float(r["seconds"]) for r in history) / 60
    valid = nll_per_step("valid")
    test = nll_per_step("test")  # the test split, read once, after every choice was made on valid
    report = test["report"]
    result = {
        "benchmark": "JSB Chorales, quarter-note resolution, NLL per time step (nats), standard split",
        "valid_nll_per_step": round(valid["network"]["nll_per_step"], 4),
        "test_nll_per_step": round(test["network"]["nll_per_step"], 4),
        "test_nll_per_token": round(test["network"]["nll"], 4),
        "test_accuracy": round(test["network"]["accuracy"], 4),
        "ngram_valid_nll_per_step": round(valid["ngram"]["nll_per_step"], 4),
        "ngram_test_nll_per_step": round(test["ngram"]["nll_per_step"], 4),
        "ngram_order": test["ngram"]["order"],
        "test_steps": test["network"]["steps"],
        "training_minutes": round(train_minutes, 2),
        "wall_minutes_train_command": round(wall, 2),
        "epochs": len(history),
        "parameters": report["model"]["parameters"],
        "published": PUBLISHED,
        "target": "below 5.56 (RNN-NADE) with at most 30 minutes of training",
        "commands": [
            "tunesmith " + shlex.join(PREPARE),
            "tunesmith " + shlex.join(TRAIN),
            f"tunesmith evaluate {OUT / 'run'} --split valid",
            f"tunesmith evaluate {OUT / 'run'} --split test",
        ],
        "machine": machine(),
    }
    path = write_result("jsb", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "commands")}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
