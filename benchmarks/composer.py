"""The composer's controls on a smoke-sized model: how often ``--key`` is kept, and whether ``--band`` is.

Run: ``make bench-composer`` (or ``.venv/bin/python benchmarks/composer.py [--steps N --num N --length L]``); not
part of ``make test`` or ``make bench`` (it trains for a few minutes). Writes ``benchmarks/results/composer.json``.

The 71 Bollywood songs are prepared as the ``bollywood-multitrack`` recipe does (REMI events with programs, every
track and the drums, transposition -3..3) plus ``--condition key,tempo``: each song's Krumhansl-Schmuckler key and
tempo bin follow BOS, then its band. A small transformer trains for ``--steps`` optimizer steps. For each key asked
(C major, A minor, D minor, E-flat major, as issue 14 asks) ``--num`` samples of ``--length`` are generated from
nothing with ``--key KEY --tempo 96 --band BAND``, and, as the baseline, as many with no key asked (the model draws
the key from the training songs' keys). Reported per key:

- ``key_accuracy``: the share of written samples whose estimated key (Krumhansl-Schmuckler) is the key asked;
  ``baseline``: the share of the samples generated without ``--key`` that came out in that key;
- ``band_kept``: the share of written samples whose programs all lie in the band, and the programs per sample;
- ``tempo_exact``: the share whose every written tempo is the one asked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.band import band_names, parse_band
from tunesmith.cli import main as cli

SONGS = SHARED / "data" / "bollywood"
KEYS = ("C major", "A minor", "D minor", "Eb major")
BAND = "sitar,flute,bass,strings,drums"
PREPARE = ["--instruments", "merge", "--drums", "keep", "--encoding", "event", "--transpose=-3..3"]
PREPARE += ["--encoding-option", "use_tempos=false", "--encoding-option", "num_velocities=8"]
PREPARE += ["--encoding-option", "positions_per_beat=12", "--condition", "key,tempo", "-q"]
MODEL = ["--model", "transformer", "--model-option", "d_model=64", "--model-option", "layers=2"]
MODEL += ["--model-option", "heads=4", "--model-option", "d_ff=256", "--model-option", "context=256"]
MODEL += ["--seq-len", "128", "--batch-size", "16", "--lr", "2e-3", "--schedule", "cosine", "--warmup", "20"]


def tempos(path: str) -> list[float]:
    import mido

    return [mido.tempo2bpm(m.tempo) for t in mido.MidiFile(path).tracks for m in t if m.type == "set_tempo"]


def generate(run: Path, out: Path, args: argparse.Namespace, extra: list[str]) -> list[dict]:
    command = ["generate", str(run), "-o", str(out), "--primer", "none", "--num", str(args.num), "-q"]
    command += ["--length", args.length, "--band", args.band, "--tempo", "96", "--seed", "0", *extra]
    cli(command)  # a batch whose samples all failed exits non-zero: its generate.json still says why
    if not (out / "generate.json").is_file():
        raise SystemExit(f"generate wrote nothing: {' '.join(command)}")
    return json.loads((out / "generate.json").read_text())["files"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of the model (default 300)")
    parser.add_argument("--num", type=int, default=20, help="samples per key (default 20)")
    parser.add_argument("--length", default="16bars", help="length of each sample (default 16bars)")
    parser.add_argument("--band", default=BAND, help=f"the band asked for (default {BAND})")
    parser.add_argument("--keep", metavar="DIR", help="keep the data, run and samples in DIR")
    args = parser.parse_args()
    if not SONGS.is_dir():
        raise SystemExit(f"needs the Bollywood songs in {SONGS}")
    band = set(parse_band(args.band))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-composer-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        data, run = root / "data", root / "run"
        if not (run / "train.json").is_file():  # --keep DIR with a finished run: measure it again
            if cli(["prepare", str(SONGS), "-o", str(data), *PREPARE, "--cache-dir", str(root / "cache")]) != 0:
                raise SystemExit("prepare failed")
            train = ["train", str(data), "-o", str(run), *MODEL, "--epochs", "1", "--steps-per-epoch", str(args.steps)]
            if cli([*train, "-q", "--valid-batches", "10"]) != 0:
                raise SystemExit("train failed")
        training = json.loads((run / "train.json").read_text())
        for name in ["baseline", *KEYS]:
            shutil.rmtree(root / name.replace(" ", "-"), ignore_errors=True)
        baseline = [r for r in generate(run, root / "baseline", args, []) if "files" in r]
        drawn = Counter(r["key"]["estimated"] for r in baseline)
        rows = {}
        for key in KEYS:
            records = generate(run, root / key.replace(" ", "-"), args, ["--key", key])
            written = [r for r in records if "files" in r]
            programs = [set(r["programs"]) | ({-1} if r["drums"] else set()) for r in written]
            rows[key] = {
                "asked": args.num,
                "written": len(written),
                "key_accuracy": _share(r["key"]["estimated"] == r["key"]["asked"] for r in written),
                "baseline": round(drawn[key] / len(baseline), 3) if baseline else None,
                "estimated": dict(Counter(r["key"]["estimated"] for r in written).most_common()),
                "band_kept": _share(p <= band for p in programs),
                "programs_per_sample_median": statistics.median(len(p) for p in programs) if programs else None,
                "tempo_exact": _share(all(abs(t - 96) < 1e-6 for t in tempos(r["files"][0])) for r in written),
            }
    result = {
        "machine": machine(),
        "command": " ".join(["benchmarks/composer.py", *sys.argv[1:]]),
        "model": " ".join(MODEL),
        "steps": training["steps"],
        "length": args.length,
        "band": band_names(tuple(sorted(band))),
        "train_minutes": training["minutes"],
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "keys": rows,
        "baseline_keys": dict(drawn.most_common()),
    }
    print(json.dumps(result, indent=1))
    print(f"wrote {write_result('composer', result)}")


def _share(flags) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 3) if flags else None


if __name__ == "__main__":
    main()
