"""Scale: ``prepare`` and training on a corpus of 20,000 MIDI files made from the 71 Bollywood songs.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/scale.py``; ``--sizes 2000,20000``). Writes
``benchmarks/results/scale.json``.

The corpus: every song cut into 16-bar windows (64 quarters, starting 8 quarters apart, wrapping round the song) and
transposed by -5..+6 semitones, drums kept as they are, written once into ``out/scale/corpus`` (not committed; reused
when it is already complete). Variant ``v`` of a song is transposed by ``v % 12 - 5`` and cut at window ``v // 12``;
files are named ``VVVVV-SONG.mid``, so the first 2,000 files (``--max-files 2000``) hold every song in every
transposition. Tokens: monophonic piano-roll frames (``--encoding pianoroll --encoding-option mode=mono``), whose
vocabulary (pitches, hold, rest) is the same at both sizes: what grows is the data alone, not the model.

Each measurement runs ``tunesmith`` in its own process (``--no-cache``: every file parsed). Peak memory is that of the
whole process tree: the sum of the resident memory of the command and all its worker processes, sampled from /proc
every 50 ms while it runs (``ru_maxrss`` would give the largest single process only). Beside each figure, its floor
in the same run:

- prepare: files per second against raw symusic parsing the same files in one process (read + parse, nothing kept);
- training: tokens (targets) per second of ``tunesmith train`` on the memory-mapped splits against a bare PyTorch loop
  with the same model, batch and optimizer over the same memory map.

It also prepares the large corpus in two shards and merges them (``--shard 1/2``, ``--shard 2/2``, ``--merge``), and
checks that the merged corpus is the same bytes as the one prepare's.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tunesmith  # noqa: F401  # isort: skip  (first: its OpenMP wait, before the bare loop imports torch)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SHARED, machine, tree_rss_kib, write_result

SONGS = SHARED / "data" / "bollywood"
CORPUS = ROOT / "out" / "scale" / "corpus"
WINDOW, HOP = 64.0, 8.0  # quarters: 16 bars of 4/4, windows starting 2 bars apart
TRANSPOSE = range(-5, 7)
TRAIN = {  # a small LSTM: the figure is the data path's cost and memory, not a big model's arithmetic
    "model": "lstm",
    "options": ["hidden=256,256", "embed_dim=128", "dropout=0.0"],
    "batch": 32,
    "seq_len": 128,
    "steps": 15,  # per epoch; epoch 2 is timed (epoch 1 warms up)
}
TUNESMITH = [sys.executable, "-m", "tunesmith"]
# Monophonic piano-roll frames: a vocabulary of pitches, hold and rest that does not grow with the corpus, so the
# training figures at both sizes use the same model and only the data differs.
ENCODING = ("--encoding", "pianoroll", "--encoding-option", "mode=mono")


# -- the corpus ----------------------------------------------------------------------------------------------------


def build_corpus(target: int) -> Path:
    """Write ``target`` variant files into ``CORPUS`` (kept for the next run when complete)."""
    from symusic import Score

    stamp = CORPUS / f".complete-{target}-{WINDOW:g}-{HOP:g}"
    if stamp.is_file():
        return CORPUS
    CORPUS.mkdir(parents=True, exist_ok=True)
    songs = sorted(p for p in SONGS.iterdir() if p.suffix.lower() in (".mid", ".midi"))
    scores = [(p.stem, Score(str(p), ttype="quarter")) for p in songs]
    per_song = -(-target // len(scores))
    written = 0
    for v in range(per_song):
        shift, cut = v % 12 - 5, v // 12
        for stem, score in scores:
            if written == target:
                break
            end = max(score.end(), WINDOW)
            start = (cut * HOP) % max(end - WINDOW, HOP)
            part = score.clip(start, start + WINDOW, clip_end=True).shift_time(-start)
            for track in part.tracks:
                if not track.is_drum:
                    track.shift_pitch(shift, inplace=True)
                    track.notes.filter(lambda n: 0 <= n.pitch <= 127, inplace=True)
            part.dump_midi(str(CORPUS / f"{v:05d}-{stem}.mid"))
            written += 1
    stamp.touch()
    return CORPUS


def corpus_files(limit: int) -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".mid")[:limit]


# -- measuring a process tree --------------------------------------------------------------------------------------


def run_measured(args: list[str], cwd: Path | None = None) -> dict:
    """Run a command; its wall seconds, its output, and the peak memory of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_tree_mib": round(peak[0] / 1024, 1), "output": out}


# -- prepare -------------------------------------------------------------------------------------------------------


def raw_symusic(n: int) -> dict:
    """The floor: read and parse the same files with symusic in this one process (nothing selected or written)."""
    from symusic import Score

    files = corpus_files(n)
    start = time.perf_counter()
    notes = 0
    for path in files:
        notes += Score.from_midi(path.read_bytes()).note_num()
    seconds = time.perf_counter() - start
    return {"files": len(files), "seconds": round(seconds, 2), "files_per_s": round(len(files) / seconds, 1)}


def prepare(n: int, out: Path, workers: int, extra: tuple[str, ...] = ()) -> dict:
    args = [*TUNESMITH, "prepare", str(CORPUS), "-o", str(out), "--max-files", str(n), "--no-cache", "-q"]
    row = run_measured([*args, "--workers", str(workers), *extra])
    report = json.loads((out / "report.json").read_text())
    row.pop("output")
    row["files"] = report["summary"]["files_considered"]
    row["pieces"] = report["summary"]["pieces"]
    row["files_per_s"] = round(row["files"] / row["seconds"], 1)
    row["prepare_own_seconds"] = report["summary"]["seconds"]  # without the interpreter's start and the encoding
    return row


# -- training ------------------------------------------------------------------------------------------------------


def train(data: Path, run: Path) -> dict:
    args = [*TUNESMITH, "train", str(data), "-o", str(run), "--model", TRAIN["model"], "-q"]
    for option in TRAIN["options"]:
        args += ["--model-option", option]
    args += ["--epochs", "2", "--steps-per-epoch", str(TRAIN["steps"]), "--batch-size", str(TRAIN["batch"])]
    args += ["--seq-len", str(TRAIN["seq_len"]), "--valid-batches", "2", "--checkpoint-every", "0", "--device", "cpu"]
    row = run_measured(args)
    row.pop("output")
    import csv

    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    row["tokens_per_s"] = round(float(rows[-1]["targets_per_second"]), 1)
    return row


def bare(data: Path) -> dict:
    """The floor: the same model, batch and optimizer in a plain loop over the memory-mapped training split."""
    row = run_measured([sys.executable, __file__, "--bare", str(data)])
    result = json.loads(row.pop("output").strip().splitlines()[-1])
    return {**row, **result}


def bare_loop(data: Path) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from tunesmith.data import TokenData, load_data_tokenizer
    from tunesmith.models import build_model, model_spec
    from tunesmith.threads import choose_threads

    torch.set_num_threads(choose_threads(0)[0])
    tokenizer = load_data_tokenizer(data)
    options = dict(option.split("=") for option in TRAIN["options"])
    spec = {"hidden": tuple(int(h) for h in options["hidden"].split(",")), "embed_dim": int(options["embed_dim"])}
    torch.manual_seed(0)
    model = build_model(model_spec(TRAIN["model"], len(tokenizer), {**spec, "dropout": 0.0}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = TokenData(data, "train").ids  # the memory map, as the trainer reads it
    rng = np.random.default_rng(0)
    seq, batch, pad = TRAIN["seq_len"], TRAIN["batch"], tokenizer.pad_id

    def step() -> int:
        starts = rng.integers(0, len(ids) - seq - 1, batch)
        w = torch.from_numpy(np.stack([np.asarray(ids[s : s + seq + 1], dtype=np.int64) for s in starts]))
        x, y = w[:, :-1], w[:, 1:]
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=pad)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return int((y != pad).sum())

    model.train()
    for _ in range(TRAIN["steps"]):  # warm-up, as the trainer's first epoch
        step()
    start, targets = time.perf_counter(), 0
    for _ in range(TRAIN["steps"]):
        targets += step()
    seconds = time.perf_counter() - start
    print(json.dumps({"tokens_per_s": round(targets / seconds, 1), "timed_seconds": round(seconds, 2)}))


# -- the benchmark -------------------------------------------------------------------------------------------------


def measure_size(n: int, tmp: Path) -> dict:
    floor = raw_symusic(n)
    rows = {}
    for workers in (1, 2):
        rows[f"{workers}_workers"] = prepare(n, tmp / f"p{n}-{workers}", workers)
        rows[f"{workers}_workers"]["symusic_over_prepare"] = round(
            floor["files_per_s"] / rows[f"{workers}_workers"]["files_per_s"], 2
        )
    data = tmp / f"data{n}"
    encoded = prepare(n, data, 2, ENCODING)
    meta = json.loads((data / "tokens" / "meta.json").read_text())
    sizes = {s: (data / "tokens" / f"{s}.bin").stat().st_size for s in ("train", "valid", "test")}
    trained = train(data, tmp / f"run{n}")
    floor_train = bare(data)
    return {
        "files": n,
        "raw_symusic": floor,
        "prepare": rows,
        "prepare_with_encoding_2_workers": encoded,
        "tokens": {"vocabulary": meta.get("vocab_size"), "split_bytes": sizes},
        "train": trained,
        "bare_loop": floor_train,
        "bare_over_train": round(floor_train["tokens_per_s"] / trained["tokens_per_s"], 2),
    }


def shard_and_merge(n: int, tmp: Path, whole: Path) -> dict:
    shards = []
    rows = {}
    for k in (1, 2):
        out = tmp / f"shard{k}"
        rows[f"shard_{k}_of_2"] = prepare(n, out, 1, ("--shard", f"{k}/2"))
        shards.append(str(out))
    merged = tmp / "merged"
    row = run_measured([*TUNESMITH, "prepare", "--merge", *shards, "-o", str(merged), "-q"])
    row.pop("output")
    rows["merge"] = row
    rows["same_as_one_prepare"] = all(
        filecmp.cmp(whole / name, merged / name, shallow=False) for name in ("pieces.bin", "pieces.jsonl")
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="corpus sizes in files (the largest is built)")
    parser.add_argument("--bare", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_loop(Path(args.bare))
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.perf_counter()
    build_corpus(sizes[-1])
    built = time.perf_counter() - started
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tunesmith-scale-") as tmp:
        results = [measure_size(n, Path(tmp)) for n in sizes]
        sharded = shard_and_merge(sizes[-1], Path(tmp), Path(tmp) / f"p{sizes[-1]}-2")
    small, large = results[0], results[-1]
    result = {
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_at_end": [round(x, 2) for x in os.getloadavg()],  # what else ran while it measured, roughly
        "command": "make bench  (python benchmarks/scale.py)",
        "encoding": " ".join(ENCODING),
        "corpus": f"{sizes[-1]} 16-bar cuts of the 71 Bollywood songs, transposed -5..+6, in out/scale/corpus",
        "corpus_build_seconds": round(built, 1),
        "train_model": TRAIN,
        "sizes": results,
        "sharded_prepare": sharded,
        "memory_growth": {
            "files": f"{small['files']} -> {large['files']}",
            "prepare_2_workers_tree_mib": [
                small["prepare"]["2_workers"]["peak_tree_mib"],
                large["prepare"]["2_workers"]["peak_tree_mib"],
            ],
            "train_tree_mib": [small["train"]["peak_tree_mib"], large["train"]["peak_tree_mib"]],
            "train_split_bytes": [small["tokens"]["split_bytes"]["train"], large["tokens"]["split_bytes"]["train"]],
        },
    }
    print(write_result("scale", result).read_text())


if __name__ == "__main__":
    main()
