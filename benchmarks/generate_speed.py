"""Generation speed: the seeds' loop (re-run the window for every token) against incremental sampling, batched.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/generate_speed.py``). Writes
``benchmarks/results/generate_speed.json``. Model: the classic 3 x LSTM(512) (embedding 256) with the vocabulary
of the Bollywood songs in ``notechord`` tokens; primers are windows of 100 tokens from their training split.
Speed does not depend on the weights, so the model is not trained here.

- seeds' loop: for each new token, run the whole 100-token window through the network and sample the last step
  (the output layer runs on the last step only, as in the seeds' Keras models).
- incremental, batch 1: read the primer once, then one step per token, carrying the LSTM state.
- incremental, 16 in one batch: the same for 16 samples at once (tokens per second counts all 16).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.cli import main as cli
from tunesmith.data import TokenData, load_data_tokenizer
from tunesmith.models import build_model, model_spec
from tunesmith.sample import pick, quantize_int8, sample

WINDOW = 100
MODEL = {"embed_dim": 256, "hidden": (512, 512, 512), "dropout": 0.3}


@torch.no_grad()
def seeds_loop(model, primer: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Re-run the whole window for every new token, as the seeds generated."""
    window, out = primer.clone(), []
    for _ in range(steps):
        logits, _ = model(window)
        token = pick(logits[:, -1], 1.0, generator=generator)
        out.append(token)
        window = torch.cat([window[:, 1:], token[:, None]], dim=1)
    return torch.stack(out, dim=1)


def rate(fn, tokens: int) -> dict:
    fn()  # warm-up
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "bollywood"
        args = ["prepare", str(SHARED / "data" / "bollywood"), "-o", str(data_dir), "--instruments", "all"]
        assert cli([*args, "--encoding", "notechord", "-q"]) == 0
        vocab = len(load_data_tokenizer(data_dir))
        train = TokenData(data_dir, "train")
        ids = np.asarray(train.ids, dtype=np.int64)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - WINDOW, 16)
    primers = torch.from_numpy(np.stack([ids[s : s + WINDOW] for s in starts]))
    torch.manual_seed(0)
    model = build_model(model_spec("lstm", vocab, MODEL)).eval()
    g = torch.Generator()

    # The seeds' Keras models computed the output layer for the last step only (return_sequences=False): so does
    # their loop here, with the same weights.
    last_only = build_model(model_spec("lstm", vocab, {**MODEL, "last_only": True})).eval()
    last_only.load_state_dict(model.state_dict())
    seeds = rate(lambda: seeds_loop(last_only, primers[:1], 40, g), 40)
    one = rate(lambda: sample(model, primers[:1], 400, generator=g, window=WINDOW), 400)
    many = rate(lambda: sample(model, primers, 400, generator=g, window=WINDOW), 16 * 400)
    q = quantize_int8(model)
    seeds_q = rate(lambda: seeds_loop(quantize_int8(last_only), primers[:1], 40, g), 40)
    one_q = rate(lambda: sample(q, primers[:1], 400, generator=g, window=WINDOW), 400)
    many_q = rate(lambda: sample(q, primers, 400, generator=g, window=WINDOW), 16 * 400)
    result = {
        "machine": machine(),
        "command": "make bench  (python benchmarks/generate_speed.py)",
        "model": "lstm preset: embedding 256, 3 x LSTM 512 (untrained; speed does not depend on the weights)",
        "vocabulary": vocab,
        "window": WINDOW,
        "torch_threads": torch.get_num_threads(),
        "seeds_loop_batch_1": seeds,
        "incremental_batch_1": one,
        "incremental_batch_16": many,
        "incremental_over_seeds": round(one["tokens_per_s"] / seeds["tokens_per_s"], 1),
        "batch_16_over_batch_1": round(many["tokens_per_s"] / one["tokens_per_s"], 1),
        "int8_seeds_loop_batch_1": seeds_q,
        "int8_incremental_batch_1": one_q,
        "int8_incremental_batch_16": many_q,
        "int8_incremental_over_fp32_seeds": round(one_q["tokens_per_s"] / seeds["tokens_per_s"], 1),
        "int8_incremental_over_int8_seeds": round(one_q["tokens_per_s"] / seeds_q["tokens_per_s"], 1),
        "int8_batch_16_over_batch_1": round(many_q["tokens_per_s"] / one_q["tokens_per_s"], 1),
        "targets": {"incremental_over_seeds_at_least": 30, "batch_16_over_batch_1_at_least": 8},
    }
    result["met"] = result["incremental_over_seeds"] >= 30 and result["batch_16_over_batch_1"] >= 8
    print(write_result("generate_speed", result).read_text())


if __name__ == "__main__":
    main()
