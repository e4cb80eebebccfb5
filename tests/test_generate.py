"""Generation end to end: real controls, reproducible bytes, multi-track MIDI every reader accepts, one-line errors."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from collections import Counter
from itertools import pairwise
from pathlib import Path

import mido
import pretty_midi
import pytest
import torch
from symusic import Score

from musicgen import make_score, melody
from tunesmith.cli import main

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small LSTM trained for a few epochs on chord-and-melody songs (notechord)."""
    root = tmp_path_factory.mktemp("gen")
    (root / "songs").mkdir()
    for i in range(16):
        make_score([{"program": 0, "notes": markov_tune(160, seed=i)}]).dump_midi(str(root / "songs" / f"s{i}.mid"))
    data, run = root / "data", root / "run"
    assert main(["prepare", str(root / "songs"), "-o", str(data), "--encoding", "notechord", "--no-cache", "-q"]) == 0
    args = ["train", str(data), "-o", str(run), "-q", "--epochs", "30", "--seq-len", "16", "--batch-size", "8"]
    assert main([*args, "--model-option", "hidden=64,64", "--model-option", "embed_dim=32", "--lr", "5e-3"]) == 0
    return run


def markov_tune(n: int, seed: int) -> list[tuple]:
    """A C-major line that mostly steps up the scale (p 0.7), sometimes down or repeats: learnable, not fixed."""
    rng = random.Random(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    k, notes = 0, []
    for i in range(n):
        k = (k + rng.choices([1, -1, 0], [0.7, 0.2, 0.1])[0]) % len(scale)
        notes.append((i * 0.5, 0.5, scale[k], 80))
    return notes


def entropy(ids: list) -> float:
    """Shannon entropy (bits) of the pooled distribution of ``ids``."""
    counts = Counter(ids)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values())


@pytest.mark.slow
def test_temperature_really_changes_the_output(run_dir):
    from tunesmith.checkpoint import load_model
    from tunesmith.sample import sample

    model, tokenizer, _ = load_model(run_dir, prefer="last.pt")
    primer = torch.full((20, 1), tokenizer.bos_id)
    h = []
    for temperature in (0.5, 1.0, 1.5):
        ids = sample(model, primer, 64, temperature, generator=torch.Generator().manual_seed(0), forbid=(0, 1, 3))
        rows = ids.tolist()
        h.append(entropy([(a, b) for row in rows for a, b in pairwise(row)]))  # of token pairs: the moves
    assert h[0] < h[1] < h[2], h


@pytest.mark.slow
def test_same_checkpoint_options_and_seed_give_identical_bytes(run_dir, tmp_path):
    args = ["generate", str(run_dir), "--num", "3", "--length", "48", "--seed", "7", "--instruments", "bollywood"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    a = sorted((tmp_path / "a").glob("*.mid"))
    assert len(a) == 3
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in a)
    assert main([*args[:-4], "--seed", "8", "--instruments", "bollywood", "-o", str(tmp_path / "c")]) == 0
    assert any(f.read_bytes() != (tmp_path / "c" / f.name).read_bytes() for f in a)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_reduced_precision_is_reproducible_and_close_to_float32(precision, run_dir, tmp_path):
    args = ["generate", str(run_dir), "--num", "2", "--length", "64", "--seed", "3", "--primer", "none"]
    for name in ("a", "b"):
        assert main([*args, "--precision", precision, "-o", str(tmp_path / name)]) == 0
    assert main([*args, "-o", str(tmp_path / "float32")]) == 0
    files = sorted((tmp_path / "a").glob("*.mid"))
    assert len(files) == 2 and all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    # The weights are rounded, not changed: the samples mostly follow the float32 ones note for note.
    same = [sum(x == y for x, y in zip(note_pitches(f), note_pitches(tmp_path / "float32" / f.name))) for f in files]
    assert sum(same) >= 0.5 * sum(len(note_pitches(f)) for f in files), same


def note_pitches(path: Path) -> list[int]:
    return [n.pitch for t in Score(str(path)).tracks for n in t.notes]


@pytest.mark.slow
@needs_fluidsynth
def test_bollywood_output_is_multitrack_and_every_reader_accepts_it(run_dir, tmp_path):
    out = tmp_path / "out"
    args = ["generate", str(run_dir), "-o", str(out), "--num", "2", "--length", "8bars", "--tempo", "96"]
    assert main([*args, "--time-signature", "3/4", "--instruments", "bollywood", "--format", "mid,wav,png"]) == 0
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    for path in files:
        mid = mido.MidiFile(path)
        programs = {m.program for track in mid.tracks for m in track if m.type == "program_change"}
        assert {104, 111, 73} <= programs
        tempos = [m.tempo for track in mid.tracks for m in track if m.type == "set_tempo"]
        assert tempos and round(mido.tempo2bpm(tempos[0])) == 96
        meters = [(m.numerator, m.denominator) for t in mid.tracks for m in t if m.type == "time_signature"]
        assert meters[0] == (3, 4)
        pm = pretty_midi.PrettyMIDI(str(path))
        assert sorted(i.program for i in pm.instruments) == [73, 104, 111]
        assert pm.get_end_time() <= 8 * 3 * 60 / 96 + 1e-3  # eight bars of 3/4 at 96 BPM
        import music21

        parsed = music21.converter.parse(str(path))
        assert len(parsed.parts) == 3 and len(parsed.recurse().notes) > 0
        wav = path.with_suffix(".wav")
        assert wav.stat().st_size > 10_000 and path.with_suffix(".png").stat().st_size > 5_000
        # FluidSynth reads it too, straight from the command line.
        done = subprocess.run(["fluidsynth", "-ni", "-F", str(tmp_path / "x.wav"), str(_soundfont()), str(path)])
        assert done.returncode == 0 and (tmp_path / "x.wav").stat().st_size > 10_000


def _soundfont() -> Path:
    from tunesmith.rendering import find_soundfont

    return find_soundfont()


@pytest.mark.slow
def test_random_indian_reaches_all_three_instruments(run_dir, tmp_path):
    out = tmp_path / "out"
    args = ["generate", str(run_dir), "-o", str(out), "--num", "12", "--length", "24"]
    assert main([*args, "--instruments", "random-indian"]) == 0
    chosen = {tuple(r["programs"]) for r in json.loads((out / "generate.json").read_text())["files"]}
    assert chosen == {(73,), (104,), (111,)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("instruments", "programs"),
    [("band", [33, 25, 4, 56]), ("bollywood-band", [33, 89, 104, 111, 73]), ("duo.toml", [32, 40])],
)
def test_generate_assigns_band_presets_and_an_instrument_file(instruments, programs, run_dir, tmp_path):
    if instruments.endswith(".toml"):  # absolute ranges: the model's C-major lines cut at F4
        spec = tmp_path / instruments
        spec.write_text('split = "range"\n[[part]]\nprogram = 32\nhigh = 64\n[[part]]\nprogram = 40\nlow = 65\n')
        instruments = str(spec)
    out = tmp_path / "out"
    args = ["generate", str(run_dir), "-o", str(out), "--num", "1", "--length", "8bars", "--primer", "none"]
    assert main([*args, "--instruments", instruments, "-q"]) == 0
    (path,) = out.glob("*.mid")
    # one track per part that got notes, in the preset's order from low to high (parts are cut at the sample's
    # pitch quantiles, so a part can stay empty when one pitch fills more than its share)
    ranges = sorted(
        (min(n.pitch for n in t.notes), max(n.pitch for n in t.notes), t.program)
        for t in Score(str(path)).tracks
        if t.notes
    )
    got = [program for _, _, program in ranges]
    assert got == [p for p in programs if p in got] and len(got) >= len(programs) - 1
    assert all(high < low for (_, high, _), (low, _, _) in pairwise(ranges))
    if len(programs) == 2:
        assert got == programs and ranges[0][1] <= 64 < 65 <= ranges[1][0]


@pytest.mark.slow
def test_primer_file_is_continued_and_beam_search_is_deterministic(run_dir, tmp_path):
    primer = tmp_path / "mine.mid"
    make_score([{"program": 0, "notes": melody(12, 64, seed=99)}]).dump_midi(str(primer))
    args = ["generate", str(run_dir), "--primer", str(primer), "--length", "30", "--beam", "3"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "--seed", "5", "-o", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "sample-01.mid").read_bytes()
    assert a == (tmp_path / "b" / "sample-01.mid").read_bytes()  # beam search draws nothing at random
    first = sorted((n.time, n.pitch) for t in Score(str(tmp_path / "a" / "sample-01.mid")).tracks for n in t.notes)
    assert len(first) > 12  # the primer's 12 notes and their continuation


@needs_fluidsynth
def test_render_any_midi_file(tmp_path, capsys):
    path = tmp_path / "song.mid"
    make_score([{"program": 40, "notes": melody(16)}]).dump_midi(str(path))
    assert main(["render", str(path)]) == 0
    assert path.with_suffix(".wav").stat().st_size > 10_000 and path.with_suffix(".png").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--temperature", "-1"], "--temperature must be 0"),
        (["--instruments", "kazoo"], "unknown instrument preset 'kazoo'"),
        (["--primer", "missing.mid"], "primer not found"),
        (["--length", "12parsecs"], "bad --length"),
        (["--format", "mid,mp3"], "--format takes"),
        (["--style", "jazz", "--primer", "none"], "unknown style 'jazz'"),
        (["--precision", "fp8"], "--precision takes float32, bfloat16, int8"),
    ],
)
def test_wrong_input_is_one_line(extra, message, run_dir, tmp_path, capsys):
    assert main(["generate", str(run_dir), "-o", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_missing_foreign_or_unreadable_inputs_are_one_line(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd this is not midi")
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint at all")
    cases = [
        (["generate", str(tmp_path / "nope"), "-o", str(tmp_path / "o")], "checkpoint not found"),
        (["generate", str(foreign), "-o", str(tmp_path / "o")], "not a tunesmith checkpoint"),
        (["generate", str(run_dir), "-o", str(tmp_path / "o"), "--primer", str(bad)], "cannot read primer"),
        (["render", str(bad)], "cannot read"),
    ]
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
