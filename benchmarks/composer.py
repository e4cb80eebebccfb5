"""The composer's controls on a smoke-sized model: ``--key`` with and without the key bias, ``--band``, ``--tempo``.

Run: ``make bench-composer`` (or ``.venv/bin/python benchmarks/composer.py [--steps N --num N --length L]``); not
part of ``make test`` or ``make bench`` (it trains for a few minutes). Writes ``benchmarks/results/composer.json``.

The 71 Bollywood songs are prepared as the ``bollywood-multitrack`` recipe does (REMI events with programs, every
track and the drums, transposition -3..3) plus ``--condition key,tempo``: each song's Krumhansl-Schmuckler key and
tempo bin follow BOS, then its band. A small transformer trains for ``--steps`` optimizer steps. The samples are drawn
through the API (``tunesmith.api.load_run(...).generate``, the code behind ``tunesmith generate``), from nothing, with
``--tempo 96 --band BAND``. For each key asked (C major, A minor, D minor, E-flat major, as issue 14 asks), ``--num``
samples of ``--length``: with the key token alone (``--key-strength 0``), with the key token and the pitch bias at
the default strength, and, as the baseline, as many with no key asked (the model draws one from the training songs'
keys). Reported per key:

- ``key_accuracy``: the share of samples whose estimated key (Krumhansl-Schmuckler) is the key asked, with the bias
  (``key_accuracy``) and with the key token alone (``key_accuracy_token_only``); ``baseline``: the share of the
  samples generated without a key that came out in that key;
- ``band_kept``: the share of samples whose programs all lie in the band, and the programs per sample;
- ``tempo_exact``: the share whose every tempo is the one asked.

The strength sweep (``--strengths``, ``--sweep-num`` samples of ``--sweep-length`` per key and strength) measures what
the bias costs besides the key: the samples' pitch-class entropy (bits; the real songs' beside it) and their NLL per
new token under the model itself, without the bias (over the first ``SCORED`` tokens of each sample, the head
included as context), so that a strength that buys its key by playing what the model finds unlikely shows.
"""

from __future__ import annotations

import argparse
import json
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


SCORED = 256  # tokens of each sample scored for the NLL: the transformer's context


def tempo_exact(score, bpm: float = 96.0) -> bool:
    return len(score.tempos) > 0 and all(abs(t.qpm - bpm) < 1e-3 for t in score.tempos)


def draw(run, args: argparse.Namespace, num: int, length: str, **options) -> list:
    """The written samples (those that passed the checks) of one batch, as ``tunesmith generate`` would write them."""
    common = dict(num=num, length=length, primer="none", band=args.band, tempo=96.0, seed=0, progress=False)
    return [s for s in run.generate(**common, **options) if s.ok]


def nll(run, sample) -> float:
    """Mean NLL per new token of ``sample`` under the model (no bias), over its first ``SCORED`` ids."""
    import torch

    ids = torch.tensor([sample.ids[:SCORED]])
    head = len(sample.head) + 1  # BOS, the conditions and the band header: context, not scored
    with torch.no_grad():
        logits, _ = run.model(ids[:, :-1])
    logp = torch.log_softmax(logits.float(), dim=-1)[0, head - 1 :]
    return float(-logp.gather(-1, ids[0, head:, None]).mean())


def key_share(samples, key: str | None) -> float | None:
    from tunesmith.keys import estimate_key, parse_key

    asked = parse_key(key) if key else None
    return _share(estimate_key(s.score) == asked for s in samples)


def entropy(samples) -> float | None:
    from tunesmith.evaluate.metrics import Notes, pitch_class_entropy

    values = [pitch_class_entropy(Notes.from_score(s.score)) for s in samples]
    return round(statistics.mean(values), 3) if values else None


def sweep(run, args: argparse.Namespace) -> dict:
    """Key accuracy, pitch-class entropy and NLL per strength, over the four keys."""
    rows = {}
    for strength in args.strengths:
        samples, hits = [], []
        for key in KEYS:
            drawn = draw(run, args, args.sweep_num, args.sweep_length, key=key, key_strength=strength)
            samples += drawn
            hits += [key_share([s], key) for s in drawn]
        rows[f"{strength:g}"] = {
            "samples": len(samples),
            "key_accuracy": _share(h == 1 for h in hits),
            "pitch_class_entropy": entropy(samples),
            "nll_per_token": round(statistics.mean(nll(run, s) for s in samples), 3) if samples else None,
        }
        print(f"strength {strength:g}: {rows[f'{strength:g}']}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of the model (default 300)")
    parser.add_argument("--num", type=int, default=20, help="samples per key (default 20)")
    parser.add_argument("--length", default="16bars", help="length of each sample (default 16bars)")
    parser.add_argument("--band", default=BAND, help=f"the band asked for (default {BAND})")
    parser.add_argument("--strengths", default="0,2,4,5,6,8", help="key strengths swept (default 0,2,4,5,6,8)")
    parser.add_argument("--sweep-num", type=int, default=5, help="samples per key and strength (default 5)")
    parser.add_argument("--sweep-length", default="8bars", help="length of the sweep's samples (default 8bars)")
    parser.add_argument("--keep", metavar="DIR", help="keep the data and the run in DIR")
    args = parser.parse_args()
    args.strengths = [float(x) for x in args.strengths.split(",") if x.strip()]
    if not SONGS.is_dir():
        raise SystemExit(f"needs the Bollywood songs in {SONGS}")
    from tunesmith.api import load_run
    from tunesmith.key_steering import KEY_STRENGTH

    band = set(parse_band(args.band))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-composer-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        data, run_dir = root / "data", root / "run"
        if not (run_dir / "train.json").is_file():  # --keep DIR with a finished run: measure it again
            if cli(["prepare", str(SONGS), "-o", str(data), *PREPARE, "--cache-dir", str(root / "cache")]) != 0:
                raise SystemExit("prepare failed")
            train = ["train", str(data), "-o", str(run_dir), *MODEL, "--epochs", "1"]
            if cli([*train, "--steps-per-epoch", str(args.steps), "-q", "--valid-batches", "10"]) != 0:
                raise SystemExit("train failed")
        training = json.loads((run_dir / "train.json").read_text())
        run = load_run(run_dir)
        real_entropy = _real_entropy(data)
        swept = sweep(run, args) if args.strengths else {}
        baseline = draw(run, args, args.num, args.length)
        rows = {}
        for key in KEYS:
            token_only = draw(run, args, args.num, args.length, key=key, key_strength=0.0)
            biased = draw(run, args, args.num, args.length, key=key)
            programs = [{-1 if t.is_drum else t.program for t in s.score.tracks if len(t.notes)} for s in biased]
            rows[key] = {
                "asked": args.num,
                "written": len(biased),
                "key_accuracy": key_share(biased, key),
                "key_accuracy_token_only": key_share(token_only, key),
                "baseline": key_share(baseline, key),
                "estimated": dict(Counter(_estimated(s) for s in biased).most_common()),
                "estimated_token_only": dict(Counter(_estimated(s) for s in token_only).most_common()),
                "band_kept": _share(p <= band for p in programs),
                "programs_per_sample_median": statistics.median(len(p) for p in programs) if programs else None,
                "tempo_exact": _share(tempo_exact(s.score) for s in biased),
            }
            print(f"{key}: {rows[key]}", flush=True)
    result = {
        "machine": machine(),
        "command": " ".join(["benchmarks/composer.py", *sys.argv[1:]]),
        "model": " ".join(MODEL),
        "steps": training["steps"],
        "length": args.length,
        "band": band_names(tuple(sorted(band))),
        "key_strength": KEY_STRENGTH,
        "train_minutes": training["minutes"],
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "keys": rows,
        "baseline_keys": dict(Counter(_estimated(s) for s in baseline).most_common()),
        "sweep": {"length": args.sweep_length, "per_key": args.sweep_num, "strengths": swept},
        "real_pitch_class_entropy": real_entropy,
    }
    print(json.dumps(result, indent=1))
    print(f"wrote {write_result('composer', result)}")


def _estimated(sample) -> str | None:
    from tunesmith.keys import estimate_key

    key = estimate_key(sample.score)
    return key.name if key else None


def _real_entropy(data: Path) -> float:
    """The mean pitch-class entropy of the training songs (bits)."""
    from tunesmith.corpus.pieces import load_pieces
    from tunesmith.evaluate.metrics import Notes, pitch_class_entropy

    return round(statistics.mean(pitch_class_entropy(Notes.from_score(p.score)) for p in load_pieces(data)), 3)


def _share(flags) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 3) if flags else None


if __name__ == "__main__":
    main()
