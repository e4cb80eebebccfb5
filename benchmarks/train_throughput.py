"""Training targets per second: window mode (the seeds) against many-to-many, and the trainer against a bare loop.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/train_throughput.py``). Writes
``benchmarks/results/train_throughput.json``. Model: the classic 3 x LSTM(512) (embedding 256) at window 100,
batch 64, on the Bollywood songs (all instruments, ``notechord`` tokens, the seeds' vocabulary). Every measurement
runs the same number of optimizer steps after one warm-up step; seconds include drawing the batches.

- window: the trainer with ``--targets last``: one target per window, as the seeds trained.
- many-to-many: the trainer with a target at every position (the default).
- bare loop: the same model, optimizer, clipping and loss in a plain PyTorch loop over random windows.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import tunesmith  # noqa: F401  # isort: skip  (first: the OpenMP wait its commands run with, set before torch)
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.cli import main as cli
from tunesmith.config import TrainConfig
from tunesmith.data import TokenData, load_data_tokenizer
from tunesmith.models import build_model, model_spec
from tunesmith.trainer import Trainer

SEQ, BATCH, STEPS = 100, 64, 6
MODEL = {"embed_dim": 256, "hidden": (512, 512, 512), "dropout": 0.3}


def trainer_rate(data_dir: Path, run_dir: Path, targets: str) -> dict:
    cfg = TrainConfig(
        data=str(data_dir),
        model="lstm",
        model_options=MODEL,
        targets=targets,
        epochs=2,
        batch_size=BATCH,
        seq_len=SEQ,
        steps_per_epoch=STEPS,
        valid_batches=0,
        checkpoint_every=0,
        optimizer="adam",
        lr=1e-3,
        device="cpu",
    )
    trainer = Trainer(cfg, run_dir, progress=False, log=lambda _m: None)
    try:
        trainer.fit()
    finally:
        trainer.close()  # releases the run and data directory locks
    row = trainer.history[-1]  # the second epoch: the first one warms up allocators and oneDNN
    return {"targets_per_s": round(row["targets_per_second"], 1), "seconds": round(row["seconds"], 2), "steps": STEPS}


def bare_rate(data_dir: Path, vocab: int, pad_id: int) -> dict:
    torch.manual_seed(0)
    model = build_model(model_spec("lstm", vocab, MODEL))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = np.asarray(TokenData(data_dir, "train").ids, dtype=np.int64)
    rng = np.random.default_rng(0)

    def step() -> int:
        starts = rng.integers(0, len(ids) - SEQ - 1, BATCH)
        w = torch.from_numpy(np.stack([ids[s : s + SEQ + 1] for s in starts]))
        x, y = w[:, :-1], w[:, 1:]
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1), ignore_index=pad_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return int((y != pad_id).sum())

    model.train()
    step()  # warm-up
    start, targets = time.perf_counter(), 0
    for _ in range(STEPS):
        targets += step()
    seconds = time.perf_counter() - start
    return {"targets_per_s": round(targets / seconds, 1), "seconds": round(seconds, 2), "steps": STEPS}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "bollywood"
        args = ["prepare", str(SHARED / "data" / "bollywood"), "-o", str(data_dir), "--instruments", "all"]
        assert cli([*args, "--encoding", "notechord", "-q"]) == 0
        tokenizer = load_data_tokenizer(data_dir)
        window = trainer_rate(data_dir, Path(tmp) / "window", "last")
        many = trainer_rate(data_dir, Path(tmp) / "many", "all")
        bare = bare_rate(data_dir, len(tokenizer), tokenizer.pad_id)
    result = {
        "machine": machine(),
        "command": "make bench  (python benchmarks/train_throughput.py)",
        "corpus": "bollywood, --instruments all, notechord",
        "vocabulary": len(tokenizer),
        "model": "lstm preset: embedding 256, 3 x LSTM 512, dropout 0.3; Adam; clip 1.0",
        "window": SEQ,
        "batch": BATCH,
        "torch_threads": torch.get_num_threads(),
        "window_mode": window,
        "many_to_many": many,
        "bare_loop_many_to_many": bare,
        "many_to_many_over_window": round(many["targets_per_s"] / window["targets_per_s"], 1),
        "bare_over_trainer": round(bare["targets_per_s"] / many["targets_per_s"], 3),
        "targets": {"many_to_many_over_window_at_least": 50, "bare_over_trainer_at_most": 1.5},
    }
    result["met"] = result["many_to_many_over_window"] >= 50 and result["bare_over_trainer"] <= 1.5
    print(write_result("train_throughput", result).read_text())


if __name__ == "__main__":
    main()
