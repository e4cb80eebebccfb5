"""Generation speed: the seeds' loop (re-run the window for every token) against incremental sampling, batched.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/generate_speed.py``). Writes
``benchmarks/results/generate_speed.json``. Model: the classic 3 x LSTM(512) (embedding 256) with the vocabulary
of the Bollywood songs in ``notechord`` tokens; primers are windows of 100 tokens from their training split.

Speed, in each precision of ``tunesmith generate --precision`` (float32, bfloat16, int8), with untrained weights
(speed does not depend on them):

- seeds' loop: for each new token, run the whole 100-token window through the network and sample the last step
  (the output layer runs on the last step only, as in the seeds' Keras models), with the weights in the same
  precision (int8: PyTorch dynamic quantisation, as ``--precision int8`` does for window models; bfloat16: the
  model cast to bfloat16);
- incremental, batch 1: read the primer once, then one step per token carrying the LSTM state (what ``sample``
  does: ``FusedStep`` in that precision);
- incremental, 16 in one batch: the same for 16 samples at once (tokens per second counts all 16).

Each figure is the best of five timed runs, the loops taking turns (this machine's speed wanders by 30 % with its
neighbours' load); a run of incremental sampling includes building the stepper and reading the primer.

The floor: the four matrix products of one step alone (three joined LSTM layers and the output layer), per
precision, at batch 1 and 16.

Cost of the precision: the same model trained for a few minutes (``tunesmith train``), then read through the
validation split with the true tokens fed back (a 100-token primer, then 300 steps, 16 rows): NLL per token of
each precision, KL divergence from the float32 distribution and how often the most likely token is the same.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.checkpoint import load_model
from tunesmith.cli import main as cli
from tunesmith.data import TokenData, load_data_tokenizer
from tunesmith.models import build_model, model_spec
from tunesmith.models.base import int8_copy
from tunesmith.models.fused_rnn import PRECISIONS, joined_linear
from tunesmith.sample import pick, sample

WINDOW = 100
SEEDS_TOKENS = 30  # tokens per timed run of the seeds' loop
TOKENS = 1000  # tokens per row per timed run of incremental sampling (stepper built and primer read included)
ROUNDS = 5
MODEL = {"embed_dim": 256, "hidden": (512, 512, 512), "dropout": 0.3}
TRAIN = ["--epochs", "3", "--steps-per-epoch", "50", "--batch-size", "32", "--seq-len", "100", "--seed", "0"]


@torch.no_grad()
def seeds_loop(model, primer: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Re-run the whole window for every new token, as the seeds generated."""
    window, out = primer.clone(), []
    for _ in range(steps):
        logits, _ = model(window)
        token = pick(logits[:, -1].float(), 1.0, generator=generator)
        out.append(token)
        window = torch.cat([window[:, 1:], token[:, None]], dim=1)
    return torch.stack(out, dim=1)


def incremental(model, primers: torch.Tensor, precision: str, generator: torch.Generator) -> torch.Tensor:
    """``TOKENS`` new tokens per row as ``tunesmith generate --precision`` makes them, building the stepper included."""
    return sample(model, primers, TOKENS, generator=generator, window=WINDOW, stepper=model.stepper(precision))


def window_model(last_only: torch.nn.Module, precision: str) -> torch.nn.Module:
    """The seeds' window model with its weights in ``precision``."""
    if precision == "int8":
        return int8_copy(last_only)
    if precision == "bfloat16":
        return copy.deepcopy(last_only).to(torch.bfloat16)
    return last_only


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(vocab: int, primers: torch.Tensor, rounds: int = ROUNDS) -> dict:
    """Tokens per second of each loop in each precision: the best of ``rounds`` interleaved runs after a warm-up."""
    torch.manual_seed(0)
    model = build_model(model_spec("lstm", vocab, MODEL)).eval()
    # The seeds' Keras models computed the output layer for the last step only (return_sequences=False): so does
    # their loop here, with the same weights.
    last_only = build_model(model_spec("lstm", vocab, {**MODEL, "last_only": True})).eval()
    last_only.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(0)
    loops = {}
    for precision in PRECISIONS:
        seeds_model = window_model(last_only, precision)
        loops[precision, "seeds_loop_batch_1"] = (
            SEEDS_TOKENS,
            partial(seeds_loop, seeds_model, primers[:1], SEEDS_TOKENS, g),
        )
        loops[precision, "incremental_batch_1"] = (TOKENS, partial(incremental, model, primers[:1], precision, g))
        loops[precision, "incremental_batch_16"] = (16 * TOKENS, partial(incremental, model, primers, precision, g))
    best = {key: float("inf") for key in loops}
    for _ in range(rounds + 1):  # the first round warms up and counts like the others
        for key, (_, fn) in loops.items():
            best[key] = min(best[key], timed(fn))
    results: dict = {p: {} for p in PRECISIONS}
    for (precision, name), (tokens, _) in loops.items():
        seconds = best[precision, name]
        results[precision][name] = {
            "tokens": tokens,
            "seconds": round(seconds, 4),
            "tokens_per_s": round(tokens / seconds, 1),
        }
    float32_seeds = results["float32"]["seeds_loop_batch_1"]["tokens_per_s"]
    for entry in results.values():
        one = entry["incremental_batch_1"]["tokens_per_s"]
        entry["incremental_over_seeds"] = round(one / entry["seeds_loop_batch_1"]["tokens_per_s"], 1)
        entry["incremental_over_float32_seeds"] = round(one / float32_seeds, 1)
        entry["batch_16_over_batch_1"] = round(entry["incremental_batch_16"]["tokens_per_s"] / one, 1)
    return results


@torch.no_grad()
def products(vocab: int, repeats: int = 200) -> dict:
    """Milliseconds of one step's four matrix products alone (three joined LSTM layers, the output layer).

    The floor under a step in each precision and batch: what the step costs when nothing else is done.
    ``float32_addmm``: the same products with ``torch.addmm`` on the unpacked weights, as ``nn.Linear`` runs them.
    """
    torch.manual_seed(0)
    sizes = [(4 * 512, 256 + 512), (4 * 512, 1024), (4 * 512, 1024), (vocab, 512)]
    weights = [(torch.randn(n, k) * 0.05, torch.zeros(n)) for n, k in sizes]
    result: dict = {}
    plain = [(lambda x, w=w, b=b: torch.addmm(b, x, w.t())) for w, b in weights]  # nn.Linear's way, unpacked
    variants = {p: [joined_linear(w, b, p) for w, b in weights] for p in PRECISIONS} | {"float32_addmm": plain}
    for precision, layers in variants.items():
        for batch in (1, 16):
            inputs = [torch.randn(batch, k) for _, k in sizes]

            def run(layers=layers, inputs=inputs) -> None:
                for _ in range(repeats):
                    for layer, x in zip(layers, inputs):
                        layer(x)

            seconds = min(timed(run) for _ in range(ROUNDS + 1))
            result.setdefault(precision, {})[f"batch_{batch}_ms"] = round(seconds / repeats * 1e3, 3)
        entry = result[precision]
        entry["batch_16_over_batch_1_bound"] = round(16 * entry["batch_1_ms"] / entry["batch_16_ms"], 1)
    megabytes = sum(n * k for n, k in sizes) * 4 / 1e6
    return {"float32_megabytes": round(megabytes, 1), **result}


@torch.no_grad()
def precision_cost(run_dir: Path, rows: int = 16, steps: int = 300) -> dict:
    """NLL per token of each precision, KL from float32 and top-1 agreement, feeding back the validation tokens."""
    model, _, ckpt = load_model(run_dir)
    model.eval()
    ids = np.asarray(TokenData(ckpt.data_dir, "valid").ids, dtype=np.int64)
    span = WINDOW + steps + 1
    starts = np.linspace(0, len(ids) - span, rows).astype(int)
    batch = torch.from_numpy(np.stack([ids[s : s + span] for s in starts]))
    _, primer_state = model(batch[:, :WINDOW])
    logprobs = {}
    for precision in PRECISIONS:
        step, state, out = model.stepper(precision), primer_state, []
        for t in range(WINDOW, WINDOW + steps):
            logits, state = step(batch[:, t : t + 1], state)
            out.append(torch.log_softmax(logits[:, -1].float(), dim=-1))
        logprobs[precision] = torch.stack(out, dim=1)  # (rows, steps, V): predicts batch[:, t + 1]
    targets = batch[:, WINDOW + 1 :]
    reference = logprobs["float32"]
    cost = {"rows": rows, "steps": steps, "tokens": rows * steps}
    for precision, lp in logprobs.items():
        nll = -lp.gather(-1, targets[..., None]).mean().item()
        kl = (reference.exp() * (reference - lp)).sum(-1).mean().item()
        same = (lp.argmax(-1) == reference.argmax(-1)).float().mean().item()
        cost[precision] = {"nll_per_token": round(nll, 4), "kl_from_float32": round(kl, 6), "same_top1": round(same, 4)}
    return cost


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "bollywood"
        args = ["prepare", str(SHARED / "data" / "bollywood"), "-o", str(data_dir), "--instruments", "all"]
        assert cli([*args, "--encoding", "notechord", "-q"]) == 0
        vocab = len(load_data_tokenizer(data_dir))
        ids = np.asarray(TokenData(data_dir, "train").ids, dtype=np.int64)
        rng = np.random.default_rng(0)
        starts = rng.integers(0, len(ids) - WINDOW, 16)
        primers = torch.from_numpy(np.stack([ids[s : s + WINDOW] for s in starts]))
        by_precision = speed(vocab, primers)
        floor = products(vocab)
        run_dir = Path(tmp) / "run"
        options = ["--model-option", "embed_dim=256", "--model-option", "hidden=512,512,512"]
        started = time.perf_counter()
        assert cli(["train", str(data_dir), "-o", str(run_dir), "--model", "lstm", *options, *TRAIN, "-q"]) == 0
        train_minutes = (time.perf_counter() - started) / 60
        cost = precision_cost(run_dir)
    met = {
        "incremental_over_seeds_at_least_30": [p for p, r in by_precision.items() if r["incremental_over_seeds"] >= 30],
        "batch_16_over_batch_1_at_least_8": [p for p, r in by_precision.items() if r["batch_16_over_batch_1"] >= 8],
    }
    result = {
        "machine": machine(),
        "command": "make bench  (python benchmarks/generate_speed.py)",
        "model": "lstm preset: embedding 256, 3 x LSTM 512 (speed: untrained; speed does not depend on the weights)",
        "vocabulary": vocab,
        "window": WINDOW,
        "torch_threads": torch.get_num_threads(),
        "speed": by_precision,
        "targets": {"incremental_over_seeds_at_least": 30, "batch_16_over_batch_1_at_least": 8},
        "met_in": met,
        "products_only": floor,
        "precision_cost": {
            "training": f"tunesmith train {' '.join(TRAIN)}",
            "minutes": round(train_minutes, 1),
            **cost,
        },
    }
    print(write_result("generate_speed", result).read_text())


if __name__ == "__main__":
    main()
