"""``prepare --rare nearest`` against ``--rare unk`` on all 71 Bollywood songs: the nearest-token search's cost.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/rare_nearest.py``). Writes
``benchmarks/results/rare_nearest.json``.
Each encoding with a distance (``notechord``, ``pseudonote``, ``pianoroll``) is prepared from the songs (all
instruments, ``--min-token-count 2``: a token seen once is rare) with rare tokens mapped to UNK and to their nearest
kept token; the figure is the median wall time of the whole ``prepare`` command over three runs (parses come from
the cache, warmed by one untimed run), and the CPU time of fitting the tokenizer alone, where the search happens.
The search used to compare every rare token with every kept one (68 s of CPU for 10 songs, unfinished after 11
minutes on all 71, issue 15); it now walks out from a binary search in the kept tokens sorted by a coordinate that
bounds the distance.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.cli import main as cli
from tunesmith.corpus.pieces import load_pieces
from tunesmith.encodings import make_tokenizer

SONGS = SHARED / "data" / "bollywood"
MIN_COUNT = 2
ENCODINGS = ("notechord", "pseudonote", "pianoroll")


def prepare_seconds(out: Path, encoding: str, rare: str, cache: Path) -> float:
    args = ["prepare", str(SONGS), "-o", str(out), "--instruments", "all", "--encoding", encoding, "-q"]
    args += ["--min-token-count", str(MIN_COUNT), "--rare", rare, "--cache-dir", str(cache)]
    started = time.perf_counter()
    if cli(args) != 0:
        raise SystemExit(f"prepare failed: {' '.join(args)}")
    return time.perf_counter() - started


def main() -> None:
    if not SONGS.is_dir():
        raise SystemExit(f"needs the Bollywood songs in {SONGS}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-rare-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        cli(["prepare", str(SONGS), "-o", str(tmp / "plain"), "--instruments", "all", "-q", "--cache-dir", str(cache)])
        pieces = load_pieces(tmp / "plain")
        for encoding in ENCODINGS:
            row = {}
            for rare in ("unk", "nearest"):
                prepare_seconds(tmp / "warm", encoding, rare, cache)  # untimed: page cache, lazy imports
                walls = [prepare_seconds(tmp / f"{encoding}-{rare}", encoding, rare, cache) for _ in range(3)]
                tokenizer = make_tokenizer(encoding, min_token_count=MIN_COUNT, rare=rare)
                cpu = time.process_time()
                tokenizer.fit(pieces)
                row[rare] = {
                    "prepare_seconds": round(statistics.median(walls), 3),
                    "fit_cpu_seconds": round(time.process_time() - cpu, 3),
                    "vocab_size": tokenizer.stats["vocab_size"],
                    "rare_tokens": tokenizer.stats["rare_tokens"],
                    "mapped_to_nearest": len(tokenizer.rare_map),
                }
            row["ratio"] = round(row["nearest"]["prepare_seconds"] / row["unk"]["prepare_seconds"], 3)
            results[encoding] = row
            print(
                f"{encoding:<11} unk {row['unk']['prepare_seconds']:6.2f} s   nearest "
                f"{row['nearest']['prepare_seconds']:6.2f} s   ratio {row['ratio']:.2f}   "
                f"({row['nearest']['rare_tokens']} rare, {row['nearest']['mapped_to_nearest']} mapped; fit CPU "
                f"{row['unk']['fit_cpu_seconds']:.2f} s -> {row['nearest']['fit_cpu_seconds']:.2f} s)"
            )
        songs = len(pieces and {p.source for p in pieces})
    path = write_result(
        "rare_nearest",
        {
            "machine": machine(),
            "command": "prepare ../shared/data/bollywood --instruments all --encoding E --min-token-count 2 --rare R",
            "songs": songs,
            "pieces": len(pieces),
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
