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

Against the floor, per model kind, float32 (``floor_ratios``; ``--floors-only`` runs this part alone and updates the
JSON): the classic LSTM, the GRU of the same size (3 x 512, embedding 256) and the ``transformer`` preset (4 layers,
d 256, 4 heads, d_ff 1024), each stepping ``TOKENS`` tokens after a 100-token primer at batch 1 and 16, beside the
matrix products of one step alone: LSTM three joined layers and the output layer; GRU the input and recurrent
products of each layer and the output layer; transformer, per layer, the QKV projection, the two attention products
against the key/value cache at the run's mean cache length (primer + ``TOKENS`` / 2: the attention cost grows with
the cache, so the mean length gives the mean step), the output projection and the two MLP products, then the output
layer. The linear products use the packed oneDNN weights ``FusedStep`` and ``CachedStep`` use (the fastest this CPU
has). ``over_floor`` divides the whole run (stepper built, primer read, ``TOKENS`` steps) by ``TOKENS`` floors;
``steps_alone_over_floor`` first takes off what building the stepper and reading the primer cost alone
(``primer_and_stepper_ms``, timed in turn with the runs). Each kind and batch is timed twice in the same rounds:
as ``tunesmith generate`` runs it (the whole step, and the softmax and draw, each one call into C++ where
``make install`` built ``tunesmith.native``, the same bits as TorchScript: ``native`` in the JSON says whether it
was loaded), with the C++ steps off (``torchscript_*``: each one TorchScript call, ``models/scripted.py``) and with
TorchScript off too (``python_*``: the same operations called from Python), the floor taking its turn in every
round. ``--threads N`` sets torch's threads,
``--tokens N`` the tokens per row, ``--no-write`` prints the figures without touching the JSON (a shared machine).
``--paired-steps`` times the steps alone (``pick`` and the stepper after a primer read once), C++, TorchScript and
Python taking turns in 12 rounds with the floor, and prints the median ratios of the pairs (``paired_steps``); for
the transformer also against ``buffer_floor``, the same products with the attention reading the keys and values
where the step keeps them (the first positions of a buffer of twice the context) rather than from tensors of
exactly the cache's length.

Cost of the precision: the same model trained for a few minutes (``tunesmith train``), then read through the
validation split with the true tokens fed back (a 100-token primer, then 300 steps, 16 rows): NLL per token of
each precision, KL divergence from the float32 distribution and how often the most likely token is the same.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from contextlib import nullcontext
from functools import partial
from itertools import pairwise
from pathlib import Path

import tunesmith  # noqa: F401  # isort: skip  (first: the OpenMP wait its commands run with, set before torch)
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, SHARED, machine, write_result
from tunesmith.checkpoint import load_model
from tunesmith.cli import main as cli
from tunesmith.data import TokenData, load_data_tokenizer
from tunesmith.models import build_model, model_spec
from tunesmith.models.base import int8_copy
from tunesmith.models.fused_rnn import PRECISIONS, joined_linear
from tunesmith.models.scripted import scripting
from tunesmith.native import native
from tunesmith.native import status as native_status
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


def incremental(
    model, primers: torch.Tensor, precision: str, generator: torch.Generator, tokens: int = TOKENS
) -> torch.Tensor:
    """``tokens`` new tokens per row as ``tunesmith generate --precision`` makes them, building the stepper included."""
    return sample(model, primers, tokens, generator=generator, window=WINDOW, stepper=model.stepper(precision))


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


KINDS = {
    "lstm": ("lstm", MODEL),
    "gru": ("gru", MODEL),
    "transformer": ("transformer", {"dropout": 0.1}),
}


def _linear_shapes(kind: str, model: torch.nn.Module, vocab: int) -> list[tuple[int, int]]:
    """(out, in) of every weight product in one step of ``model``."""
    if kind == "lstm":
        return [(4 * rnn.hidden_size, rnn.input_size + rnn.hidden_size) for rnn in model.rnns] + [(vocab, 512)]
    if kind == "gru":
        shapes = []
        for rnn in model.rnns:
            shapes += [(3 * rnn.hidden_size, rnn.input_size), (3 * rnn.hidden_size, rnn.hidden_size)]
        return [*shapes, (vocab, 512)]
    c = model.config
    per_layer = [(3 * c.d_model, c.d_model), (c.d_model, c.d_model), (c.d_ff, c.d_model), (c.d_model, c.d_ff)]
    return per_layer * c.layers + [(vocab, c.d_model)]


def step_floor(
    kind: str, model: torch.nn.Module, vocab: int, batch: int, cache: int, repeats: int = 100, in_buffer: bool = False
):
    """A run of ``repeats`` steps' matrix products alone (see the module docstring): time it, divide by ``repeats``.

    ``in_buffer``: the transformer's attention products read their keys and values where ``CachedStep`` keeps them,
    the first ``cache`` positions of a (B, h, 2 * context, dh) buffer, instead of tensors of exactly ``cache``
    positions (the same products and sizes; only where the rows lie in memory differs).
    """
    torch.manual_seed(0)
    layers, inputs = [], []
    for n, k in _linear_shapes(kind, model, vocab):
        layers.append(joined_linear(torch.randn(n, k) * 0.05, torch.zeros(n), "float32"))
        inputs.append(torch.randn(batch, k))
    attention = []
    if kind == "transformer":
        c = model.config
        dh = c.d_model // c.heads
        rows = 2 * c.context if in_buffer else cache
        for _ in range(c.layers):
            q = torch.randn(batch, c.heads, 1, dh)
            k, v = torch.randn(batch, c.heads, rows, dh), torch.randn(batch, c.heads, rows, dh)
            attention.append((q, k.narrow(2, 0, cache).transpose(-1, -2), v.narrow(2, 0, cache)))

    @torch.no_grad()
    def run() -> None:
        for _ in range(repeats):
            for layer, x in zip(layers, inputs):
                layer(x)
            for q, kt, v in attention:
                torch.matmul(torch.matmul(q, kt), v)

    return run


@torch.no_grad()
def _read_primer(model: torch.nn.Module, primers: torch.Tensor) -> None:
    """What a run of ``incremental`` pays once, before its first step: building the stepper, reading the primer."""
    model.stepper("float32")
    model.read(primers)


def _in_python(fn) -> None:
    """``fn()`` with TorchScript off: every step and draw in Python, the code before the scripted steps."""
    with scripting(False):
        fn()


def _in_torchscript(fn) -> None:
    """``fn()`` with the C++ steps off: every step and draw one TorchScript call."""
    with native(False):
        fn()


STEPPERS = {"native": nullcontext, "torchscript": partial(native, False), "python": partial(scripting, False)}


def floor_ratios(vocab: int, primers: torch.Tensor, tokens: int = TOKENS, kinds: list[str] | None = None) -> dict:
    """Milliseconds per generated token against the step's products alone, per kind and batch, float32.

    Each round times, in turn, the scripted run (what ``tunesmith generate`` does), the same run with TorchScript
    off (``python_*``: the steps and draws in Python, as before the scripted steps), the primer read alone and the
    floor; each figure is its best round, and ``*_paired`` the median over rounds of each run against the same
    round's floor. Unprefixed figures are what ``tunesmith generate`` runs: the C++ steps and loop where built
    (``native``), else TorchScript; ``torchscript_*`` with the C++ steps off, ``python_*`` with both off. ``kinds``:
    a subset of ``KINDS``.
    """
    out: dict = {
        "tokens_per_row": tokens,
        "primer": WINDOW,
        "mean_cache_length": WINDOW + tokens // 2,
        "native": native_status(),
    }
    g = torch.Generator().manual_seed(0)
    for kind, (preset, options) in KINDS.items():
        if kinds and kind not in kinds:
            continue
        torch.manual_seed(0)
        model = build_model(model_spec(preset, vocab, options)).eval()
        out[kind] = {}
        for batch in (1, 16):
            run = partial(incremental, model, primers[:batch], "float32", g, tokens)
            repeats = 100
            parts = {
                "scripted": run,
                "torchscript": partial(_in_torchscript, run),
                "python": partial(_in_python, run),
                "fixed": partial(_read_primer, model, primers[:batch]),
                "floor": step_floor(kind, model, vocab, batch, WINDOW + tokens // 2, repeats),
            }
            times: dict = {name: [] for name in parts}
            for _ in range(ROUNDS + 1):  # taking turns, as everywhere here
                for name, fn in parts.items():
                    times[name].append(timed(fn))
            best = {name: min(values) for name, values in times.items()}
            floor_ms = best["floor"] / repeats * 1e3
            entry = {"floor_ms": round(floor_ms, 3), "primer_and_stepper_ms": round(best["fixed"] * 1e3, 1)}
            for name, prefix in (("scripted", ""), ("torchscript", "torchscript_"), ("python", "python_")):
                step_ms = best[name] / tokens * 1e3
                steps_alone_ms = (best[name] - best["fixed"]) / tokens * 1e3
                # Each round's run against the same round's floor: the figure a machine whose speed wanders (its
                # neighbours' memory traffic) moves least; the best-of ratios pair two different moments.
                paired = [
                    (run - best["fixed"]) / tokens / (floor / repeats)
                    for run, floor in zip(times[name], times["floor"])
                ]
                entry |= {
                    f"{prefix}tokens_per_s": round(batch * tokens / best[name], 1),
                    f"{prefix}step_ms": round(step_ms, 3),
                    f"{prefix}over_floor": round(step_ms / floor_ms, 2),
                    f"{prefix}steps_alone_over_floor": round(steps_alone_ms / floor_ms, 2),
                    f"{prefix}steps_alone_over_floor_paired": round(float(np.median(paired)), 2),
                }
            out[kind][f"batch_{batch}"] = entry
            print(kind, batch, entry, flush=True)
    return out


@torch.no_grad()
def _timed_steps(steppers: dict, last: torch.Tensor, primed, steps: int, name: str) -> float:
    """Seconds of ``steps`` draws and steps with ``steppers[name]`` from the primer's state (``STEPPERS[name]``)."""
    step, g = steppers[name], torch.Generator().manual_seed(0)
    state = copy.deepcopy(primed)  # CachedStep writes into its state's buffers
    with STEPPERS[name]():
        start = time.perf_counter()
        for _ in range(steps):
            token = pick(last, 1.0, generator=g)
            logits, state = step(token[:, None], state)
            last = logits[:, -1]
        return time.perf_counter() - start


@torch.no_grad()
def paired_steps(vocab: int, primers: torch.Tensor, steps: int = 100, rounds: int = 12) -> dict:
    """The steps alone (``pick`` + stepper, primer read beforehand): C++, TorchScript and Python in paired rounds.

    Per kind and batch: each round times ``steps`` steps with each stepper of ``STEPPERS`` (their order rotating
    between rounds) and the floor; ``native_over_torchscript`` and ``torchscript_over_python`` are medians over
    rounds of the two times of the same round, the steadiest figures a shared machine gives.
    """
    out: dict = {"steps": steps, "rounds": rounds, "native": native_status()}
    names = list(STEPPERS)
    for kind, (preset, options) in KINDS.items():
        torch.manual_seed(0)
        model = build_model(model_spec(preset, vocab, options)).eval()
        out[kind] = {}
        for batch in (1, 16):
            logits, primed = model(primers[:batch])
            steppers = {}
            for name, context in STEPPERS.items():
                with context():
                    steppers[name] = model.stepper()
            run = partial(_timed_steps, steppers, logits[:, -1], primed, steps)
            floors = {
                "floor": step_floor(kind, model, vocab, batch, primers.shape[1] + steps // 2, steps),
                "buffer_floor": step_floor(kind, model, vocab, batch, primers.shape[1] + steps // 2, steps, True),
            }
            times: dict = {name: [] for name in [*names, *floors]}
            for name in names:  # warm-up (TorchScript profiles its first calls)
                run(name)
            for r in range(rounds):
                for name in names[r % 3 :] + names[: r % 3]:
                    times[name].append(run(name))
                for floor_name, floor in floors.items():
                    times[floor_name].append(timed(floor))
            best = {name: min(values) / steps * 1e3 for name, values in times.items()}
            entry = {"floor_ms": round(best["floor"], 3)}
            if kind == "transformer":  # the other floors have no cache
                entry["buffer_floor_ms"] = round(best["buffer_floor"], 3)
            for name in names:
                entry[f"{name}_step_ms"] = round(best[name], 3)
                entry[f"{name}_over_floor"] = round(best[name] / best["floor"], 2)
                if kind == "transformer":
                    entry[f"{name}_over_buffer_floor"] = round(best[name] / best["buffer_floor"], 2)
            for a, b in pairwise(names):
                entry[f"{a}_over_{b}"] = round(float(np.median([x / y for x, y in zip(times[a], times[b])])), 3)
            out[kind][f"batch_{batch}"] = entry
            print(kind, batch, entry, flush=True)
    return out


def _bollywood_primers(tmp: str) -> tuple[Path, int, torch.Tensor]:
    data_dir = Path(tmp) / "bollywood"
    args = ["prepare", str(SHARED / "data" / "bollywood"), "-o", str(data_dir), "--instruments", "all"]
    assert cli([*args, "--encoding", "notechord", "-q"]) == 0
    vocab = len(load_data_tokenizer(data_dir))
    ids = np.asarray(TokenData(data_dir, "train").ids, dtype=np.int64)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - WINDOW, 16)
    return data_dir, vocab, torch.from_numpy(np.stack([ids[s : s + WINDOW] for s in starts]))


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floors-only", action="store_true", help="measure floor_ratios alone; update the JSON")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--tokens", type=int, default=TOKENS, help=f"floors: tokens per row and run ({TOKENS})")
    parser.add_argument("--no-write", action="store_true", help="floors: print, leave the JSON (a shared machine)")
    parser.add_argument("--paired-steps", action="store_true", help="print paired_steps (the steps alone); no JSON")
    parser.add_argument(
        "--kinds", help=f"floors: a comma-separated subset of {','.join(KINDS)} (the JSON keeps the rest)"
    )
    args = parser.parse_args()
    kinds = args.kinds.split(",") if args.kinds else None
    if kinds and not set(kinds) <= set(KINDS):
        parser.error(f"--kinds: one or more of {', '.join(KINDS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.paired_steps:
        with tempfile.TemporaryDirectory() as tmp:
            _data, vocab, primers = _bollywood_primers(tmp)
            print(json.dumps(paired_steps(vocab, primers), indent=1))
        return
    if args.floors_only:
        with tempfile.TemporaryDirectory() as tmp:
            _data, vocab, primers = _bollywood_primers(tmp)
            ratios = floor_ratios(vocab, primers, args.tokens, kinds)
        if args.no_write:
            print(json.dumps(ratios, indent=1))
            return
        path = RESULTS / "generate_speed.json"
        result = json.loads(path.read_text()) if path.is_file() else {}
        if kinds:  # the other kinds' figures stay as they were measured
            ratios = {**result.get("floor_ratios", {}), **ratios}
        result.update(machine=machine(), floor_ratios=ratios, torch_threads=torch.get_num_threads())
        print(write_result("generate_speed", result).read_text())
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, vocab, primers = _bollywood_primers(tmp)
        by_precision = speed(vocab, primers)
        floor = products(vocab)
        ratios = floor_ratios(vocab, primers)
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
        "floor_ratios": ratios,
        "precision_cost": {
            "training": f"tunesmith train {' '.join(TRAIN)}",
            "minutes": round(train_minutes, 1),
            **cost,
        },
    }
    print(write_result("generate_speed", result).read_text())


if __name__ == "__main__":
    main()
