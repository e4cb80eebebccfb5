"""The length check of ``generate --length 16bars`` without a form: every row decoded at every check, or bounded.

Run: ``.venv/bin/python benchmarks/length_check.py RUN_DIR [--num 4] [--length 16bars] [--band LIST] [--rounds 1]``;
not part of ``make bench`` (a full-size model takes minutes a round). Writes ``benchmarks/results/length_check.json``.

Each round draws the same samples twice in this process through the API (``tunesmith.api.load_run(...).generate``,
the code behind ``tunesmith generate``), from nothing (``--primer none``), at temperature 1, with the band asked: once
with the check as it was before issue 18 (``Generator._until`` decoded every row's whole sequence every 64 tokens)
and once with ``tunesmith.length.LengthCheck`` (a row decoded only when its encoding's bound says it may be long
enough), taking turns. Reported: the wall and CPU time of each, the time spent inside the check and its decodes,
and whether both gave the same tokens and the same MIDI bytes. On a shared machine the wall time of a set moves by
more than the old check cost; the check's own seconds do not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, write_result

BAND = "bollywood-band,drums,48,25,35,0,49"  # as benchmarks/structure.py asks


class Timed:
    """A length check that adds up the seconds spent in its calls and the rows it decoded."""

    seconds = 0.0
    decodes = 0

    def __init__(self, check) -> None:
        self.check = check

    def __call__(self, out) -> list[bool]:
        start = time.perf_counter()
        try:
            return self.check(out)
        finally:
            Timed.seconds += time.perf_counter() - start


def exact(tokenizer, prefixes, target, starts) -> Timed:
    """The check before issue 18: every row's whole sequence decoded and measured at every check."""
    from tunesmith.length import new_length

    def enough(out) -> list[bool]:
        done = []
        for i in range(out.shape[0]):
            Timed.decodes += 1
            result = tokenizer.try_decode(list(prefixes[i]) + out[i].tolist())
            done.append(result.ok and new_length(result.score, target.unit, starts[i], target.meter) > target.amount)
        return done

    return Timed(enough)


def bounded(tokenizer, prefixes, target, starts) -> Timed:
    from tunesmith.length import LengthCheck

    check = LengthCheck(tokenizer, prefixes, target, starts)

    def enough(out) -> list[bool]:
        before = check.decodes
        answer = check(out)
        Timed.decodes += check.decodes - before
        return answer

    return Timed(enough)


def draw(run, args: argparse.Namespace, check) -> dict:
    """One set of samples with ``check`` in place of ``LengthCheck``: times, decodes, ids and MIDI bytes."""
    Timed.seconds, Timed.decodes = 0.0, 0
    options = {"num": args.num, "length": args.length, "seed": args.seed, "primer": "none", "band": args.band}
    start, cpu = time.perf_counter(), time.process_time()
    with mock.patch("tunesmith.generate.LengthCheck", check):
        samples = run.generate(progress=False, temperature=1.0, **options)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    files = []
    with tempfile.TemporaryDirectory() as folder:
        for sample in samples:
            if sample.ok:
                sample.save(folder)
                files.append((Path(folder) / f"{sample.name}.mid").read_bytes())
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),  # this process's, all threads: less moved than the wall time by other work
        "check_s": round(Timed.seconds, 1),
        "decodes": Timed.decodes,
        "tokens": sum(len(s.ids) for s in samples),
        "attempts": sum(s.attempts for s in samples),
        "_ids": [s.ids for s in samples],
        "_files": files,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained run directory (read only)")
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--length", default="16bars")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--band", default=BAND)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from tunesmith.api import load_run

    run = load_run(args.run)
    rounds = []
    for r in range(args.rounds):
        order = [("exact", exact), ("bounded", bounded)]
        sets = {name: draw(run, args, check) for name, check in (order if r % 2 == 0 else order[::-1])}
        same = sets["exact"]["_ids"] == sets["bounded"]["_ids"] and sets["exact"]["_files"] == sets["bounded"]["_files"]
        rounds.append({name: {k: v for k, v in s.items() if not k.startswith("_")} for name, s in sets.items()})
        rounds[-1]["same_tokens_and_bytes"] = same
        rounds[-1]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(rounds[-1], flush=True)
    result = {
        "command": " ".join(["benchmarks/length_check.py", *sys.argv[1:]]),
        "machine": machine(),
        "run": str(args.run),
        "rounds": rounds,
    }
    print(f"wrote {write_result('length_check', result)}")


if __name__ == "__main__":
    main()
