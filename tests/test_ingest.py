"""Ingestion never stops on a bad file: each is skipped with its reason and the good files beside it are kept."""

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from symusic import Score

from musicgen import write_song
from tunesmith.config import IngestConfig, PrepareConfig, SelectConfig
from tunesmith.corpus.ingest import _Worker, cpu_seconds
from tunesmith.corpus.pieces import load_pieces, read_manifest
from tunesmith.corpus.prepare import prepare_corpus

TUNES = """%abc file header
M:6/8
L:1/8

X:1
T:First Jig
K:D
|:DFA dFA|BGB AFD|DFA dFA|BGE FDD:|

X:2
T:Broken Tune
K:Zz_not_a_key
|:||][[[ ((( ~~~ 2/3/4/5 :|]]]

X:3
T:Second Jig
K:G
|:GBd gdB|cBA BGE|GBd gdB|cAF G3:|
"""
# music21 needs minutes for this one tune (its ABC reader is quadratic in the bars of a tune).
SLOW_TUNE = "X:1\nT:Endless\nM:6/8\nL:1/8\nK:D\n" + " ".join(["|abc' def|gfe dcB|"] * 600) + "\n"


def _prepare(sources, out, **ingest):
    ingest.setdefault("workers", 2)
    config = PrepareConfig([str(s) for s in sources], IngestConfig(**ingest), SelectConfig(instruments="all"))
    return prepare_corpus(config, out, progress=False)


def _broken_files(folder: Path) -> dict[str, str]:
    """Broken inputs beside each other, with the reason each must be reported under."""
    good = (folder / "good1.mid").read_bytes()
    (folder / "zero.mid").write_bytes(b"")
    (folder / "random.mid").write_bytes(os.urandom(2000))
    (folder / "truncated.mid").write_bytes(good[: len(good) // 2])
    (folder / "badheader.mid").write_bytes(b"RIFF" + good[4:])
    # First track chunk claims 2**32 - 1 bytes.
    (folder / "badchunk.mid").write_bytes(good[:18] + b"\xff\xff\xff\xff" + good[22:])
    (folder / "silent.mid").write_bytes(good[:14] + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00")
    (folder / "slow.abc").write_text(SLOW_TUNE)
    return {
        "zero.mid": "empty",
        "random.mid": "corrupt",
        "truncated.mid": "corrupt",
        "badheader.mid": "corrupt",
        "badchunk.mid": "corrupt",
        "silent.mid": "empty",
        "slow.abc": "timeout",
    }


def test_broken_files_are_reported_and_good_files_kept(tmp_path):
    folder = tmp_path / "in"
    write_song(folder / "good1.mid", seed=1)
    write_song(folder / "good2.mid", seed=2)
    expected = _broken_files(folder)
    report = _prepare([folder], tmp_path / "out", file_timeout=2.0)

    by_name = {Path(r["path"]).name: r for r in report["files"]}
    for name, reason in expected.items():
        assert by_name[name]["status"] == "skipped", name
        assert by_name[name]["reason"] == reason, (name, by_name[name])
        assert by_name[name].get("detail") is not None
    assert by_name["good1.mid"]["status"] == by_name["good2.mid"]["status"] == "kept"
    assert report["summary"]["files_kept"] == 2
    assert report["summary"]["pieces"] == 6  # three pitched tracks each; drums dropped
    assert report["skipped_by_reason"]["corrupt"] == 4
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["summary"] == report["summary"]
    assert len(load_pieces(tmp_path / "out")) == 6


def test_timeout_does_not_wait_for_the_slow_file(tmp_path):
    folder = tmp_path / "in"
    write_song(folder / "good.mid")
    (folder / "slow.abc").write_text(SLOW_TUNE)
    report = _prepare([folder], tmp_path / "out", file_timeout=1.0)
    assert report["summary"]["seconds"] < 8  # music21 would need minutes for this tune
    assert report["skipped_by_reason"] == {"timeout": 1}


def test_a_file_is_hashed_once_for_its_record_and_its_cache_key(tmp_path, monkeypatch):
    from tunesmith.corpus import cache as parse_cache
    from tunesmith.corpus.cache import cache_key
    from tunesmith.corpus.ingest import _WorkerConfig, process_file
    from tunesmith.corpus.sources import SourceFile

    path = tmp_path / "song.mid"
    write_song(path)
    data = path.read_bytes()
    real, hashed = hashlib.sha256, []

    def counting_sha256(*args, **kwargs):
        hashed.append(bytes(args[0]) if args else b"")
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    monkeypatch.setattr(parse_cache, "MIDI_MIN_BYTES", 0)  # this small file goes through the cache too
    cache = tmp_path / "cache"
    settings = _WorkerConfig(SelectConfig(instruments="all"), IngestConfig().grid, cache)
    first = process_file(SourceFile(path, "s"), settings)
    assert first["status"] == "kept" and not first["cached"] and first["sha256"] == real(data).hexdigest()
    assert hashed.count(data) == 1  # the record's digest is the cache key's too
    key = cache_key(first["sha256"], "midi", IngestConfig().grid)
    assert (cache / "parsed" / key[:2] / f"{key}.pkl").is_file()  # stored under the key made from that digest
    again = process_file(SourceFile(path, "s"), settings)
    assert again["cached"] and again["sha256"] == first["sha256"] and hashed.count(data) == 2


def _notes_by_source(out: Path) -> dict[str, list[list[tuple]]]:
    """Every stored piece's notes (time, duration, pitch, velocity), by its source file's name, in stored order."""
    notes: dict[str, list[list[tuple]]] = {}
    for piece in load_pieces(out):
        track = [(n.time, n.duration, n.pitch, n.velocity) for n in piece.score.tracks[0].notes]
        notes.setdefault(Path(piece.source).name, []).append(track)
    return notes


def test_rerun_parses_nothing_and_reads_what_the_first_run_parsed(tmp_path, monkeypatch):
    from tunesmith.corpus import cache as parse_cache
    from tunesmith.corpus.cache import cache_key

    monkeypatch.setattr(parse_cache, "MIDI_MIN_BYTES", 0)  # these small MIDI files go through the cache too
    folder = tmp_path / "in"
    for seed in range(3):
        write_song(folder / f"s{seed}.mid", seed=seed)
    (folder / "tunes.abc").write_text(TUNES)
    cache = tmp_path / "cache"
    first = _prepare([folder], tmp_path / "out", cache_dir=str(cache))
    assert first["summary"]["parsed"] == 4 and first["summary"]["from_cache"] == 0
    parsed = _notes_by_source(tmp_path / "out")
    assert set(parsed) == {"s0.mid", "s1.mid", "s2.mid", "tunes.abc"} and parsed["s0.mid"] != parsed["s1.mid"]

    # The cache answers for s0.mid with what was parsed from s1.mid: a rerun that really reads the cache stores
    # s1's notes under s0's name; one that parses s0.mid again would not.
    def entry(name: str) -> Path:  # where ParseCache keeps a MIDI file's parse under the default grid
        key = cache_key(hashlib.sha256((folder / name).read_bytes()).hexdigest(), "midi", IngestConfig().grid)
        return cache / "parsed" / key[:2] / f"{key}.pkl"

    assert entry("s0.mid").is_file() and entry("s1.mid").is_file()
    entry("s0.mid").write_bytes(entry("s1.mid").read_bytes())
    second = _prepare([folder], tmp_path / "out", cache_dir=str(cache))
    assert second["summary"]["parsed"] == 0 and second["summary"]["from_cache"] == 4
    cached = _notes_by_source(tmp_path / "out")
    assert cached["s0.mid"] == parsed["s1.mid"]
    # Every untouched entry gives back exactly the notes the first run parsed.
    assert {k: v for k, v in cached.items() if k != "s0.mid"} == {k: v for k, v in parsed.items() if k != "s0.mid"}

    no_cache = _prepare([folder], tmp_path / "out2", use_cache=False, cache_dir=str(cache))
    assert no_cache["summary"]["parsed"] == 4 and _notes_by_source(tmp_path / "out2") == parsed


def test_small_midi_files_are_parsed_on_every_run_and_never_cached(tmp_path, monkeypatch):
    from tunesmith.corpus import cache as parse_cache

    folder = tmp_path / "in"
    small = write_song(folder / "song.mid")
    (folder / "tunes.abc").write_text(TUNES)
    assert small.stat().st_size < parse_cache.MIDI_MIN_BYTES  # the default leaves a song this small out
    cache = tmp_path / "cache"

    def run() -> tuple[int, int, int]:
        summary = _prepare([folder], tmp_path / "out", workers=0, cache_dir=str(cache))["summary"]
        return summary["parsed"], summary["from_cache"], len(list((cache / "parsed").rglob("*.pkl")))

    # The ABC file is stored and read back; the MIDI file is parsed both times and no entry is written for it.
    assert run() == (2, 0, 1)
    assert run() == (1, 1, 1)
    # At the threshold it goes through the cache: stored once, then read.
    monkeypatch.setattr(parse_cache, "MIDI_MIN_BYTES", small.stat().st_size)
    assert run() == (1, 1, 2)
    assert run() == (0, 2, 2)


def test_abc_file_gives_one_piece_per_tune_and_reports_a_bad_tune(tmp_path):
    path = tmp_path / "folk" / "tunes.abc"
    path.parent.mkdir()
    path.write_text(TUNES)
    report = _prepare([path], tmp_path / "out")
    (record,) = report["files"]
    assert record["status"] == "kept"
    pieces = load_pieces(tmp_path / "out")
    assert [p.title for p in pieces] == ["First Jig", "Second Jig"]
    assert all(p.style == "folk" and p.abc.startswith("M:6/8") for p in pieces)
    assert [f["title"] for f in record["failed_pieces"]] == ["Broken Tune"]
    # Four bars of 6/8 (three quarter notes each), played twice for the repeat.
    assert pieces[0].score.end() == pytest.approx(24.0)


def test_unsupported_file_named_directly_and_duplicate_content(tmp_path):
    song = write_song(tmp_path / "a.mid")
    (tmp_path / "copy.mid").write_bytes(song.read_bytes())
    (tmp_path / "notes.txt").write_text("not music")
    report = _prepare([tmp_path / "a.mid", tmp_path / "copy.mid", tmp_path / "notes.txt"], tmp_path / "out")
    reasons = {Path(r["path"]).name: r.get("reason") for r in report["files"]}
    assert reasons == {"a.mid": None, "copy.mid": "duplicate", "notes.txt": "unsupported format"}


@pytest.mark.slow
def test_musicxml_and_humdrum_through_music21(tmp_path):
    from music21 import corpus

    xml = Path(corpus.getWork("bwv66.6"))
    krn = next(Path(p) for p in corpus.getComposer("bach") if str(p).endswith(".krn"))
    report = _prepare([xml, krn], tmp_path / "out")
    assert report["summary"]["files_kept"] == 2, report["files"]
    pieces = load_pieces(tmp_path / "out")
    assert len(pieces) >= 8  # four voices each
    assert all(isinstance(p.score, type(Score(480, ttype="quarter"))) for p in pieces)


@pytest.mark.slow
def test_music21_formats_are_parsed_from_source_without_music21s_own_pickles(tmp_path, music21_scratch):
    from music21 import corpus

    # music21 keeps a pickle of every file it parses in its scratch folder, keyed by the path, and reads it on the
    # next parse of that path: a second cache that --no-cache would not switch off.
    xml = Path(corpus.getWork("bwv66.6"))
    for run in ("first", "again"):
        report = _prepare([xml], tmp_path / run, workers=0, use_cache=False)
        assert report["summary"]["files_kept"] == 1 and report["summary"]["parsed"] == 1
    assert not [p for p in music21_scratch.rglob("*") if p.is_file()]  # nothing stored, so nothing read back


def test_worker_count_does_not_change_the_result(tmp_path):
    folder = tmp_path / "in"
    for seed in range(5):
        write_song(folder / f"s{seed}.mid", seed=seed)
    one = _prepare([folder], tmp_path / "one", workers=1, use_cache=False)
    two = _prepare([folder], tmp_path / "two", workers=2, use_cache=False)
    assert read_manifest(tmp_path / "one") == read_manifest(tmp_path / "two")
    assert one["summary"]["notes"] == two["summary"]["notes"]


def test_parent_and_workers_give_the_same_corpus(tmp_path, monkeypatch):
    """--workers 0 parses small MIDI files in the parent, alone or beside workers: the corpus is the same bytes."""
    import tunesmith.corpus.ingest as ingest

    folder = tmp_path / "in"
    for seed in range(12):
        write_song(folder / f"s{seed}.mid", seed=seed, with_drums=seed % 2 == 0)
    (folder / "broken.mid").write_bytes(b"MThd not a midi file")
    (folder / "notes.txt").write_text("not music")  # named directly below: a worker reports it
    sources = [folder, folder / "notes.txt"]
    runs = {"workers": _prepare(sources, tmp_path / "workers", workers=2, use_cache=False)}
    runs["parent"] = _prepare(sources, tmp_path / "parent", workers=0, use_cache=False)
    # Workers start at once; the parent takes files between their answers.
    monkeypatch.setattr(ingest, "HERE_SECONDS", 0.0)
    monkeypatch.setattr(ingest, "POOL_PAYS_SECONDS", 0.0)
    runs["both"] = _prepare(sources, tmp_path / "both", workers=0, use_cache=False)
    for name, report in runs.items():
        assert report["skipped_by_reason"] == {"corrupt": 1, "unsupported format": 1}, name
        assert report["files"] == runs["workers"]["files"], name
        for file in ("pieces.bin", "pieces.jsonl"):
            assert (tmp_path / name / file).read_bytes() == (tmp_path / "workers" / file).read_bytes(), (name, file)


def test_one_worker_is_this_process_with_a_worker_only_for_files_a_time_limit_must_stop(tmp_path, monkeypatch):
    """--workers 1 reads as one process parsing: the parent parses small MIDI files itself and starts no pool for
    them; a file only a killed process can stop (music21's ABC here) still gets one worker and its time limit."""
    import tunesmith.corpus.ingest as ingest

    pools = []  # the size of every pool started

    class CountedPool(ingest._Pool):
        def __init__(self, n, settings):
            pools.append(n)
            super().__init__(n, settings)

    monkeypatch.setattr(ingest, "_Pool", CountedPool)
    folder = tmp_path / "in"
    for seed in range(12):
        write_song(folder / f"s{seed}.mid", seed=seed, with_drums=seed % 2 == 0)
    (folder / "broken.mid").write_bytes(b"MThd not a midi file")
    one = _prepare([folder], tmp_path / "one", workers=1, use_cache=False)
    assert pools == []  # no process started: the parent parsed every file
    two = _prepare([folder], tmp_path / "two", workers=2, use_cache=False)
    assert pools == [2]
    assert one["files"] == two["files"] and one["skipped_by_reason"] == {"corrupt": 1}
    for file in ("pieces.bin", "pieces.jsonl"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes(), file
    (folder / "slow.abc").write_text(SLOW_TUNE)
    slow = _prepare([folder], tmp_path / "slow", workers=1, use_cache=False, file_timeout=1.0)
    assert pools == [2, 1]  # one worker, for the ABC file alone, stopped at its time limit
    assert slow["skipped_by_reason"] == {"corrupt": 1, "timeout": 1} and slow["summary"]["files_kept"] == 12


FUZZ = """
import json, random, sys
from pathlib import Path
from tunesmith.config import SelectConfig
from tunesmith.corpus.ingest import _WorkerConfig, process_file
from tunesmith.corpus.sources import SourceFile

seeds = [p.read_bytes() for p in sorted(Path(sys.argv[1]).glob("*.mid"))]
rng, out, reasons = random.Random(0), Path(sys.argv[1]) / "mutant.mid", {}
settings = _WorkerConfig(SelectConfig(instruments="all", min_notes=1, drums="keep"), 480, None)
for _ in range(int(sys.argv[2])):
    data = bytearray(rng.choice(seeds))
    if rng.random() < 0.3:
        data = data[: rng.randrange(14, len(data) + 1)]
    for _ in range(rng.choice([1, 2, 4, 16, 64])):
        data[rng.randrange(len(data))] = rng.choice([rng.randrange(256), 0, 0x7F, 0x80, 0xFF])
    out.write_bytes(bytes(data))
    record = process_file(SourceFile(out, "x"), settings)
    reasons[record.get("reason", record["status"])] = reasons.get(record.get("reason", record["status"]), 0) + 1
print(json.dumps(reasons))
"""


def test_mutated_midi_files_are_kept_or_skipped_never_crash_the_parser(tmp_path):
    """The parent parses small MIDI files itself (--workers 0), so symusic must raise on bad bytes, never crash.

    Run in a process of its own: a crash there fails this test instead of ending the test run.
    """
    for seed in range(4):
        write_song(tmp_path / f"s{seed}.mid", seed=seed, with_drums=seed % 2 == 0)
    done = subprocess.run([sys.executable, "-c", FUZZ, str(tmp_path), "400"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    reasons = json.loads(done.stdout)
    assert sum(reasons.values()) == 400
    assert set(reasons) <= {"kept", "corrupt", "empty", "no notes after selection"}, reasons
    assert reasons.get("kept") and reasons.get("corrupt"), reasons  # both kinds were made


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.slow
@pytest.mark.skipif(cpu_seconds(os.getpid()) is None, reason="no /proc: the wall clock decides there")
def test_file_timeout_counts_cpu_time_so_a_busy_machine_skips_the_same_files():
    """A worker that gets no CPU (as on a machine busy with other work) is not cut at the limit; a computing one is."""
    ctx = multiprocessing.get_context("fork")
    waiting = ctx.Process(target=_sleep, args=(5.0,))
    computing = ctx.Process(target=_spin, args=(30.0,))
    for process in (waiting, computing):
        process.start()
    try:
        idle, busy = _Worker(waiting, None), _Worker(computing, None)
        idle.start_file(0.5)
        busy.start_file(0.5)
        time.sleep(1.0)
        assert not idle.over_time(0.5)  # twice the limit on the wall clock, no CPU: not cut
        assert idle.check_at > time.monotonic()  # it is looked at again later
        deadline = time.monotonic() + 20  # however busy this machine, the spinner gets its 0.5 s of CPU
        while not busy.over_time(0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cpu_seconds(computing.pid) - busy.cpu_started > 0.5 and busy.over_time(0.5)
    finally:
        for process in (waiting, computing):
            process.kill()
            process.join()


@pytest.mark.parametrize(
    "title",
    ["plain", 'quote " and back\\slash', "tab\tnew\nline \x01", "Ünïcødé 日本 \u2028", "emoji \U0001f3b5"],
)
def test_manifest_lines_are_what_json_writes(title):
    """The manifest line formatted directly (``manifest_head``) is ``json.dumps(entry, ensure_ascii=False)``, and a
    piece that is not as ingest makes it (another key, a float, a null) goes through the encoder."""
    from tunesmith.corpus.pieces import manifest_head

    track = {"program": 73, "instrument": "Flute", "name": title, "notes": 30, "is_drum": False}
    drums = {"program": 0, "instrument": "Drums", "name": "Kit", "notes": 8, "is_drum": True}
    entry = {"id": "0123456789abcdef-0-1", "source": f"songs/{title}.mid", "style": title, "title": title}
    entry |= {"tracks": [track, drums], "notes": 38}
    for piece in (entry, {**entry, "abc": f"X:1\nT:{title}"}, {**entry, "notes": 38.0}, {**entry, "title": None}):
        line = f'{manifest_head(piece)}, "offset": 1234, "length": 56}}'
        assert line == json.dumps({**piece, "offset": 1234, "length": 56}, ensure_ascii=False)
