"""*Nothing copied* (issue 14): a run's samples with and without ``generate --no-copy``, and what the guard costs.

Run from a folder where the run is reachable by a relative path (so no absolute path lands in the results)::

    cd EXPERIMENTS
    python PATH/TO/tunesmith/benchmarks/copying.py runs/seq2seq-3/best --index-data runs/seq2seq-3/data-best
        runs/bollywood-multitrack/data

Not part of ``make test`` or ``make bench``. Writes ``benchmarks/results/copying.json`` (``--result NAME``:
``NAME.json``) and prints a markdown summary. Nothing is written into the run or its data.

- **Copying.** ``--num`` samples at temperature 1.0 with the run recipe's generate settings (``--length 16bars``,
  ``--primer random``), the same seed with the guard off and on, written as MIDI and read back; the pooled share of
  their 8-note pitch n-grams found in the training split, measured as ``tunesmith evaluate`` measures it
  (``PitchNgrams`` of the first 5,000 training pieces decoded by the run's tokenizer, at its training
  transpositions); the guard's own counts (draws at which it held tokens back, draws it let through).
- **Quality.** Each sample's new tokens scored by the model itself (NLL per token given its primer, the model's
  full distribution at temperature 1: what unguarded sampling draws from, so the guard can only raise it), and the
  generator's checks (samples refused and redrawn).
- **Speed.** Generation of the same batch with the guard off and on, interleaved, ``--rounds`` times, best of each:
  ms per sampling step (one token for every row) and the time inside the guard (its lookups and bias updates).
  ``--rounds 0`` leaves it out.
- ``--set KEY=VALUE`` adds a generate option to both sets (as a recipe generates: ``form=AABA``, ``key=auto``,
  ``density=auto``, ``band=...``).
- **The index.** For each ``--index-data`` folder: the time to decode the training split and to build
  ``PitchNgrams`` from it, its n-grams and bytes, against a Python set of 8-tuples of the same n-grams (what
  ``PitchNgrams`` held before; memory by ``tracemalloc``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import tunesmith  # noqa: F401  # isort: skip  (first: the OpenMP wait its commands run with, set before torch)
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, write_result

EVALUATE_TRAIN_PIECES = 5_000  # EvaluateConfig.max_train_pieces: what evaluate indexes


def _index_figures(data_dir: Path) -> dict:
    from tunesmith.data import TokenData, decoded_scores, load_data_tokenizer
    from tunesmith.pitch_ngrams import PitchNgrams, pitch_lines, training_shifts

    tokenizer = load_data_tokenizer(data_dir)
    train = TokenData(data_dir, "train")
    start = time.perf_counter()
    scores = decoded_scores(tokenizer, train, train.n_pieces)
    decoded = time.perf_counter() - start
    shifts = training_shifts(train.meta)
    tracemalloc.start()
    start = time.perf_counter()
    index = PitchNgrams(scores, shifts)
    built = time.perf_counter() - start
    packed_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    start = time.perf_counter()
    as_set: set[tuple[int, ...]] = set()  # the earlier PitchNgrams: every shifted n-gram as a tuple
    for score in scores:
        for line in pitch_lines(score):
            for i in range(len(line) - index.n + 1):
                gram = line[i : i + index.n]
                as_set.update(tuple(p + s for p in gram) for s in sorted({0, *shifts}))
    set_seconds = time.perf_counter() - start
    set_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    in_range = sum(1 for g in as_set if min(g) >= 0 and max(g) <= 127)
    return {
        "data": str(data_dir),
        "encoding": tokenizer.name,
        "train_pieces": train.n_pieces,
        "train_tokens": len(train),
        "transpositions": [shifts.start, shifts.stop - 1],
        "decode_seconds": round(decoded, 2),
        "build_seconds": round(built, 3),
        "build_peak_mib": round(packed_peak / 2**20, 1),
        "ngrams": len(index),
        "index_mib": round(index.nbytes / 2**20, 2),
        "python_set": {"seconds": round(set_seconds, 2), "mib": round(set_bytes / 2**20, 1), "ngrams": len(as_set)},
        "same_ngrams_as_the_set": in_range == len(index),  # the set also held moved n-grams outside 0..127
    }


def _nll(model, primer: list[int], new: list[int]) -> tuple[float, int]:
    """Summed NLL (nats) of ``new`` after ``primer`` under the model, and the number of tokens."""
    if not new:
        return 0.0, 0
    seq = torch.tensor([primer + new])
    logits, _ = model(seq[:, :-1])
    logp = torch.log_softmax(logits.float(), dim=-1)[0, len(primer) - 1 :]
    picked = logp.gather(1, seq[0, len(primer) :, None]).squeeze(1)
    return float(-picked.sum()), len(new)


class _Timed:
    """Time spent inside the guards ``Generator`` makes (their construction and every ``see``)."""

    seconds = 0.0

    @classmethod
    def wrap(cls, guard_class):
        class Timed(guard_class):
            def __init__(self, *args, **kwargs) -> None:
                start = time.perf_counter()
                super().__init__(*args, **kwargs)
                cls.seconds += time.perf_counter() - start

            def see(self, tokens) -> None:
                start = time.perf_counter()
                super().see(tokens)
                cls.seconds += time.perf_counter() - start

        return Timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--num", type=int, default=20)
    parser.add_argument("--length", default="16bars")
    parser.add_argument("--primer", default="random")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds of each (best of; 0: no timing)")
    parser.add_argument(
        "--set",
        dest="more",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another generate option for both sets, e.g. form=AABA, key=auto, density=auto (repeatable)",
    )
    parser.add_argument("--index-data", type=Path, nargs="*", default=[], help="data folders to build the index of")
    parser.add_argument("--result", default="copying")
    args = parser.parse_args()

    from symusic import Score

    import tunesmith.generate as generate_module
    from tunesmith.api import load_run
    from tunesmith.data import TokenData
    from tunesmith.pitch_ngrams import PitchNgrams

    run = load_run(args.run)
    data_dir = run.checkpoint.data_dir
    train = TokenData(data_dir, "train")
    index = PitchNgrams.of_split(run.tokenizer, train, EVALUATE_TRAIN_PIECES)  # as evaluate measures
    settings = {
        "num": args.num,
        "length": args.length,
        "primer": args.primer,
        "temperature": args.temperature,
        "seed": args.seed,
        "progress": False,
        **dict(item.split("=", 1) for item in args.more),
    }
    result: dict = {
        "machine": machine(),
        "shared_machine": True,
        "command": "python benchmarks/copying.py " + " ".join(sys.argv[1:]),
        "run": str(args.run),
        "settings": {k: v for k, v in settings.items() if k != "progress"},
        "sets": {},
    }
    guard_class = generate_module.CopyGuard
    generate_module.CopyGuard = _Timed.wrap(guard_class)
    timings: dict[str, list[float]] = {"off": [], "on": []}
    guard_seconds: list[float] = []
    try:
        start = time.perf_counter()
        guarded = run.generator(**settings, no_copy=True)
        result["guard_setup_seconds"] = round(time.perf_counter() - start, 2)  # its index and token table
        plain = run.generator(**settings)
        for label, generator in (("off", plain), ("on", guarded)):
            samples = generator.generate()
            primers, _ = generator.primers(np.random.default_rng((args.seed, 0)))  # the primers generate drew
            with tempfile.TemporaryDirectory() as tmp:
                records = [s.save(tmp, f"s{s.index:02d}") for s in samples]
                scores = [Score(f) for r in records for f in r.get("files", []) if f.endswith(".mid")]
            nll = tokens = 0.0
            with torch.no_grad():
                for s in samples:
                    if s.ok:
                        add, n = _nll(run.model, primers[s.index], s.ids[1:])  # ids: BOS and the new tokens
                        nll, tokens = nll + add, tokens + n
            result["sets"][label] = {
                "samples": sum(s.ok for s in samples),
                "redrawn": sum(s.attempts - 1 for s in samples),
                "new_tokens": int(tokens),
                "notes_per_sample": round(float(np.mean([s.score.note_num() for s in samples if s.ok])), 1),
                "pitch_ngrams": index.share(scores),
                "nll_per_token": round(nll / tokens, 4) if tokens else None,
                "held_back": sum(r["no_copy"]["held_back"] for r in records if "no_copy" in r) if label == "on" else 0,
                "let_through": sum(r["no_copy"]["let_through"] for r in records if "no_copy" in r)
                if label == "on"
                else 0,
            }
        for _ in range(args.rounds):
            for label, generator in (("off", plain), ("on", guarded)):
                _Timed.seconds = 0.0
                start = time.perf_counter()
                samples = generator.generate()
                timings[label].append(time.perf_counter() - start)
                if label == "on":
                    guard_seconds.append(_Timed.seconds)
    finally:
        generate_module.CopyGuard = guard_class
    steps = {label: max(1, result["sets"][label]["new_tokens"] // max(1, result["sets"][label]["samples"]))
             for label in timings}  # fmt: skip
    result["speed"] = (
        {}
        if not args.rounds
        else {
            label: {
                "best_seconds": round(min(times), 3),
                "rounds": [round(t, 3) for t in times],
                "ms_per_sample_token": round(1000 * min(times) / max(1, result["sets"][label]["new_tokens"]), 3),
            }
            for label, times in timings.items()
        }
    )
    if args.rounds:
        result["speed"]["on"]["guard_ms_per_step"] = round(1000 * min(guard_seconds) / steps["on"], 3)
        result["speed"]["on"]["guard_share_of_time"] = round(min(guard_seconds) / min(timings["on"]), 3)
    result["index"] = [_index_figures(d) for d in args.index_data]
    path = write_result(args.result, result)
    off, on = result["sets"]["off"], result["sets"]["on"]
    print("| guard | samples | pitch 8-grams in training | NLL / token | held back | let through | ms / token |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, s in (("off", off), ("on", on)):
        grams = s["pitch_ngrams"]
        print(
            f"| {label} | {s['samples']} | {grams['found']} of {grams['ngrams']} ({100 * grams['share']:.1f} %) "
            f"| {s['nll_per_token']} | {s['held_back']} | {s['let_through']} "
            f"| {result['speed'].get(label, {}).get('ms_per_sample_token', '-')} |"
        )
    for row in result["index"]:
        print(row)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
