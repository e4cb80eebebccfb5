"""Ingestion speed: ``tunesmith prepare`` end to end against raw symusic parsing and music21's converter.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/ingest.py``). Writes ``benchmarks/results/ingest.json``.

Corpora: the 71 Bollywood songs of ../shared/data/bollywood, and 300 pieces of the music21 corpus (Bach chorales
and more) exported to MIDI once, untimed: every row then reads the same MIDI files (``prepare corpus:bach`` itself
would convert each piece through music21 at about a second apiece, or read it from the parse cache). music21 parses
about one file per second, so it is timed on a subset and extrapolated (said so in the result), each file parsed
from its bytes (``forceSource``: music21 keeps a pickle of what it parsed and reads that on a later run). Each
measurement runs in its own interpreter, so its peak memory is its own.

Rows: ``symusic`` reads each file's bytes and parses them (one core), the floor; ``symusic-pieces`` also makes
each kept track the MIDI file ``prepare`` writes, in memory (``select_midi``, ``--instruments all``: symusic's
writer, one call per piece), the floor with what ``prepare`` must produce; ``tunesmith`` is ``prepare`` end to
end with ``--no-cache`` (every file parsed, selected, written with its manifest, report and checksums, fsynced and
committed) and the default ``--workers 0``; ``tunesmith-new-cache`` is ``prepare`` as a first run does it by
default, the parse cache on and empty (a new one each pass), so every file worth caching is parsed and stored;
``tunesmith-warm`` is the same with the parse cache filled by the untimed warm-up, so every file worth caching is
read from it (MIDI files under 16 KB are parsed on every run: ``tunesmith.corpus.cache``); ``paired`` runs raw
symusic and ``tunesmith`` taking turns in one interpreter, the steadier ratio of the two. Notes: symusic and music21
count every note, drums included; tunesmith counts the notes it keeps (pitched tracks), so files per second is the
like-for-like figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine, peak_rss_mib, run_isolated, write_result

EXPORT_DIR = Path(tempfile.gettempdir()) / "tunesmith-bench-music21-midi"


def midi_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi"))


def measure(mode: str, folder: Path, limit: int | None) -> dict:
    """Time one way of parsing ``folder``; imports happen before the clock starts, for every mode alike."""
    files = midi_files(folder)[:limit] if limit else midi_files(folder)
    from music21 import converter
    from symusic import Score

    from tunesmith.config import IngestConfig, PrepareConfig, SelectConfig
    from tunesmith.corpus.cache import worth_caching
    from tunesmith.corpus.prepare import prepare_corpus
    from tunesmith.corpus.select import select_midi

    pieces = SelectConfig(instruments="all", min_notes=1)
    cached = sum(worth_caching("midi", path.stat().st_size) for path in files)  # what a warm cache answers for
    cache = tempfile.TemporaryDirectory()  # the warm row's own parse cache, filled by the warm-up

    def once(out: Path, mode: str = mode) -> int:
        notes = 0
        if mode == "symusic":
            for path in files:
                notes += Score.from_midi(path.read_bytes()).note_num()
        elif mode == "symusic-pieces":  # and each kept track made a MIDI file in memory: what prepare must write
            for path in files:
                score = Score.from_midi(path.read_bytes())
                notes += sum(info["notes"] for _, infos in select_midi(score, pieces) for info in infos)
        elif mode == "music21":
            for path in files:
                # forceSource: music21 would otherwise read the pickle it stored of the same file on an earlier run
                notes += len(converter.parse(str(path), forceSource=True).flatten().notes)
        elif mode in ("tunesmith", "tunesmith-new-cache", "tunesmith-warm"):
            # The new cache lies in the pass's own fresh output folder, made and removed outside the clock.
            where = cache.name if mode == "tunesmith-warm" else str(out / "cache")
            ingest = IngestConfig(use_cache=mode != "tunesmith", cache_dir=where)
            config = PrepareConfig([str(p) for p in files], ingest, pieces)
            report = prepare_corpus(config, out / "data", progress=False)
            assert report["summary"]["from_cache"] == (cached if mode == "tunesmith-warm" else 0) or not timed
            notes = report["summary"]["notes"]
        return notes

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    timed = False
    if mode == "paired":
        return paired(files, once)
    # One untimed warm-up (page cache, lazy imports; for music21 one file), then the median of the timed passes.
    repeats = 1 if mode == "music21" else 5
    if mode == "music21":
        converter.parse(str(files[0]), forceSource=True)
    else:
        with tempfile.TemporaryDirectory() as out:
            once(Path(out))
    timed = True
    times, cpus = [], []
    load = os.getloadavg()[0]
    for _ in range(repeats):
        # A fresh output folder for each pass, made and removed outside the clock: prepare's work only.
        with tempfile.TemporaryDirectory() as out:
            start, start_cpu = time.perf_counter(), cpu()
            notes = once(Path(out))
            times.append(time.perf_counter() - start)
            cpus.append(cpu() - start_cpu)
    seconds = statistics.median(times)
    cache.cleanup()
    return {
        "mode": mode,
        "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)],  # before and after: others' work
        "cpu_seconds": round(statistics.median(cpus), 4),  # this process and its workers: the work, whatever the load
        "files": len(files),
        "notes": notes,
        "seconds": round(seconds, 4),
        "timed_passes": repeats,
        "files_per_s": round(len(files) / seconds, 2),
        "notes_per_s": round(notes / seconds, 1),
        "peak_memory": peak_rss_mib(),
    }


PAIRED_ROUNDS = 15


def paired(files: list[Path], once) -> dict:
    """Raw symusic and ``prepare`` (``--no-cache``) taking turns in one process, ``PAIRED_ROUNDS`` rounds.

    The ``symusic`` and ``tunesmith`` rows are measured a minute apart in interpreters of their own, and raw
    symusic's 14 ms on the chorales moves by a third between runs on this machine; a round's two passes see the same
    moment. Gives the median of the rounds' ratios and the ratio of the two best passes.
    """
    raw, prepared = [], []
    for mode in ("symusic", "tunesmith"):  # warm-up
        with tempfile.TemporaryDirectory() as out:
            once(Path(out), mode)
    for _ in range(PAIRED_ROUNDS):
        for mode, times in (("symusic", raw), ("tunesmith", prepared)):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                once(Path(out), mode)
                times.append(time.perf_counter() - start)
    return {
        "mode": "paired",
        "files": len(files),
        "rounds": PAIRED_ROUNDS,
        "symusic_seconds_median": round(statistics.median(raw), 4),
        "tunesmith_seconds_median": round(statistics.median(prepared), 4),
        "ratio_median": round(statistics.median(p / r for p, r in zip(prepared, raw)), 2),
        "ratio_of_best": round(min(prepared) / min(raw), 2),
    }


def export_music21_corpus(n: int) -> Path:
    """Export ``n`` pieces of the music21 corpus to MIDI once (cached between runs; not timed)."""
    marker = EXPORT_DIR / f".exported-{n}"
    if marker.is_file():
        return EXPORT_DIR
    from tunesmith.config import IngestConfig, PrepareConfig, SelectConfig
    from tunesmith.corpus.pieces import read_manifest, read_midi_blobs
    from tunesmith.corpus.prepare import prepare_corpus

    with tempfile.TemporaryDirectory() as tmp:
        config = PrepareConfig(
            ["corpus:bach", "corpus:mozart", "corpus:haydn", "corpus:beethoven"],
            IngestConfig(sample=n, seed=0),
            SelectConfig(instruments="merge", min_notes=1),
        )
        data = Path(tmp) / "data"
        prepare_corpus(config, data, progress=False)
        shutil.rmtree(EXPORT_DIR, ignore_errors=True)
        EXPORT_DIR.mkdir(parents=True)
        entries = read_manifest(data)
        for entry, blob in zip(entries, read_midi_blobs(data, entries)):
            (EXPORT_DIR / f"{entry['id']}.mid").write_bytes(blob)
    marker.touch()
    return EXPORT_DIR


def compare(name: str, folder: Path, music21_subset: int) -> dict:
    script = Path(__file__)
    modes = ("symusic", "symusic-pieces", "tunesmith", "tunesmith-new-cache", "tunesmith-warm")
    rows = {mode: run_isolated(script, "--one", mode, str(folder)) for mode in modes}
    m21 = run_isolated(script, "--one", "music21", str(folder), "--limit", str(music21_subset))
    m21["extrapolated"] = f"timed on the first {m21['files']} files; files/s and notes/s carry over"
    rows["music21"] = m21
    pair = run_isolated(script, "--one", "paired", str(folder))
    speedup = rows["tunesmith"]["files_per_s"] / rows["music21"]["files_per_s"]
    overhead = rows["symusic"]["files_per_s"] / rows["tunesmith"]["files_per_s"]
    warm = rows["symusic"]["files_per_s"] / rows["tunesmith-warm"]["files_per_s"]
    new_cache = rows["symusic"]["files_per_s"] / rows["tunesmith-new-cache"]["files_per_s"]
    written = rows["symusic-pieces"]["files_per_s"] / rows["tunesmith"]["files_per_s"]
    return {
        "corpus": name,
        "rows": rows,
        "tunesmith_vs_music21_x": round(speedup, 1),
        "symusic_vs_tunesmith_x": round(overhead, 2),
        "symusic_vs_tunesmith_new_cache_x": round(new_cache, 2),
        "symusic_vs_tunesmith_warm_cache_x": round(warm, 2),
        "symusic_pieces_vs_tunesmith_x": round(written, 2),
        "paired": pair,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", nargs=2, metavar=("MODE", "FOLDER"), help="internal: one isolated measurement")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--pieces", type=int, default=300, help="music21 corpus pieces to export")
    parser.add_argument("--music21-subset", type=int, default=20)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], Path(args.one[1]), args.limit)))
        return
    results = {"machine": machine(), "command": "make bench  (python benchmarks/ingest.py)", "corpora": []}
    results["load_average_1min_at_start"] = round(os.getloadavg()[0], 2)
    results["corpora"].append(compare("bollywood (71 songs)", SHARED / "data" / "bollywood", args.music21_subset))
    folder = export_music21_corpus(args.pieces)
    results["corpora"].append(compare(f"music21 corpus ({args.pieces} pieces as MIDI)", folder, args.music21_subset))
    path = write_result("ingest", results)
    for corpus in results["corpora"]:
        print(corpus["corpus"])
        for mode, row in corpus["rows"].items():
            print(
                f"  {mode:<19} {row['files']:>4} files {row['seconds']:>8.3f} s {row['files_per_s']:>10.1f} files/s "
                f"{row['notes_per_s']:>12.0f} notes/s  peak {row['peak_memory']}  load {row['load_average_1min']}"
            )
        print(
            f"  tunesmith = {corpus['tunesmith_vs_music21_x']}x music21; "
            f"raw symusic = {corpus['symusic_vs_tunesmith_x']}x tunesmith "
            f"({corpus['symusic_vs_tunesmith_new_cache_x']}x filling a new parse cache, "
            f"{corpus['symusic_vs_tunesmith_warm_cache_x']}x with a warm one; "
            f"{corpus['symusic_pieces_vs_tunesmith_x']}x with the pieces made)"
        )
        pair = corpus["paired"]
        print(
            f"  paired, {pair['rounds']} rounds taking turns: raw symusic = {pair['ratio_median']}x tunesmith "
            f"(median of the rounds; {pair['ratio_of_best']}x best over best)"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
