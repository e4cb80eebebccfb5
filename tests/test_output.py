"""Every generated file is music as asked: checked, the asked length, playable channels, ABC that abc2midi reads.

The preset test trains each model preset small on real (tiny) MIDI and drives it through ``tunesmith generate``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mido
import pretty_midi
import pytest
import torch
from symusic import Note, Score, Track

from musicgen import make_score
from tunesmith.cli import main
from tunesmith.config import TrainConfig
from tunesmith.models import PRESETS
from tunesmith.quality import absurd_note, check_new_music
from tunesmith.rendering import TAIL_SECONDS, wav_seconds
from tunesmith.trainer import train

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")
needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi (abcmidi) is not installed")

TINY = {
    "rnn": lambda p: {
        "embed_dim": 16,
        "hidden": (32,) * len(p.model["hidden"]),
        "head": (32,) * len(p.model.get("head", ())),
        "dropout": 0.0,
    },
    "attention-lstm": lambda p: {"embed_dim": 16, "blocks": ((32, 32, 32),), "final_lstm": 16, "dropout": 0.0},
    "seq2seq": lambda p: {"embed_dim": 16, "hidden": 32, "phrase_len": 8, "dropout": 0.0},
    "transformer": lambda p: {"d_model": 32, "heads": 2, "d_ff": 64, "layers": 1, "dropout": 0.0},
}
BAR_SECONDS = 2.0  # a 4/4 bar at the default 120 BPM


def scale_tune(n: int, seed: int) -> list[tuple]:
    """Quarter notes stepping up and down a C-major scale, with a chord every bar: learnable in a few epochs."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = []
    for i in range(n):
        k = (i + seed) % 14
        notes.append((i * 1.0, 1.0, scale[k if k < 8 else 14 - k], 80))
        if i % 4 == 0:
            notes.append((i * 1.0, 4.0, 48 + (i // 4 + seed) % 5, 70))
    return notes


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models step faster on one thread, and much faster on a machine whose cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("presets")
    (root / "songs").mkdir()
    for i in range(12):
        make_score([{"program": 0, "notes": scale_tune(48, seed=i)}]).dump_midi(str(root / "songs" / f"s{i}.mid"))
    data = root / "data"
    assert main(["prepare", str(root / "songs"), "-o", str(data), "--encoding", "notechord", "--no-cache", "-q"]) == 0
    return data


def tiny_run(data: Path, preset: str, run: Path) -> Path:
    options = TINY[PRESETS[preset].kind](PRESETS[preset])
    cfg = TrainConfig(data=str(data), model=preset, model_options=options, epochs=4, seq_len=16, batch_size=16, lr=1e-2)
    train(cfg, run, progress=False, log=lambda _: None)
    return run


def midi_notes(path: Path) -> int:
    return sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(path)).instruments)


def assert_playable(path: Path) -> pretty_midi.PrettyMIDI:
    """Loads in mido, pretty_midi and music21; one program per channel."""
    import music21

    mid = mido.MidiFile(str(path))
    programs: dict[int, set[int]] = {}
    for track in mid.tracks:
        for msg in track:
            if msg.type == "program_change":
                programs.setdefault(msg.channel, set()).add(msg.program)
    assert all(len(p) == 1 for p in programs.values()), programs
    pm = pretty_midi.PrettyMIDI(str(path))
    assert len(music21.converter.parse(str(path)).recurse().notes) > 0
    return pm


@pytest.mark.slow
@needs_fluidsynth
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_writes_music_as_asked(preset, tiny_data, tmp_path):
    run = tiny_run(tiny_data, preset, tmp_path / "run")
    base = ["generate", str(run), "--num", "1", "--temperature", "0.05", "1.0", "3.0", "--primer", "none"]
    written = 0
    for length in ("4bars", "16notes"):
        out = tmp_path / length
        code = main([*base, "--length", length, "--format", "mid,wav", "--retries", "2", "-q", "-o", str(out)])
        records = json.loads((out / "generate.json").read_text())["files"]
        assert len(records) == 3 and code in (0, 2)
        for record in records:
            if "error" in record:  # refused after its tries: said why, wrote nothing
                assert record["attempts"] == 3 and not record.get("files") and record["refused"]
                assert not list(out.glob(f"{record['name']}.*"))
                continue
            written += 1
            midi = Path(record["files"][0])
            pm = assert_playable(midi)
            end, notes = pm.get_end_time(), midi_notes(midi)
            if length == "4bars":
                assert record["length"] == {"asked": 4, "unit": "bars", "reached": 4}
                assert notes >= 4, record  # at least one note per asked bar
                assert end <= 5 * BAR_SECONDS + 1e-6, (end, record)
            else:
                assert record["length"] == {"asked": 16, "unit": "notes", "reached": 16}
                assert 16 <= notes <= 16 + 7, record  # the 16th note's chord is kept whole
            wav = Path(record["files"][1])
            assert end - 0.05 <= wav_seconds(wav) <= end + TAIL_SECONDS + 0.05, (wav_seconds(wav), end)
    assert written, f"{preset}: no sample passed its checks at any temperature"


def test_checks_name_what_is_wrong():
    def score(notes, drum=False):
        s = Score(480, ttype="quarter")
        t = Track("t", 0, drum, ttype="quarter")
        for time, duration, pitch in notes:
            t.notes.append(Note(time, duration, pitch, 80, ttype="quarter"))
        s.tracks.append(t)
        return s

    assert check_new_music(score([]), 0, 16, 4) == "empty: no note"
    assert "rest loop" in check_new_music(score([(0, 1, 60), (1, 1, 62)]), 0, 16, 4)
    assert "single-pitch loop" in check_new_music(score([(i, 1, 60) for i in range(15)] + [(15, 1, 62)]), 0, 16, 4)
    assert "2 notes in 4.0 bars" in check_new_music(score([(0, 8, 60), (8, 8, 62)]), 0, 16, 4)
    assert check_new_music(score([(i, 1, 60 + i % 5) for i in range(16)]), 0, 16, 4) is None
    assert check_new_music(score([(i, 1, 36) for i in range(16)], drum=True), 0, 16, 4) is None  # a drum loop
    assert "lasts 1,024 bars" in absurd_note(score([(0, 4096, 60)]), 4)


@pytest.mark.slow
def test_primer_file_and_8_new_bars(tmp_path, tiny_data):
    run = tiny_run(tiny_data, "lstm", tmp_path / "run")
    primer = tmp_path / "mine.mid"
    primer_notes = scale_tune(6, seed=3)  # 6 beats, 8 notes
    make_score([{"program": 0, "notes": primer_notes}]).dump_midi(str(primer))
    args = ["generate", str(run), "--primer", str(primer), "--length", "8bars", "-q", "--seed", "1"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    record = json.loads((tmp_path / "a" / "generate.json").read_text())["files"][0]
    assert record["length"] == {"asked": 8, "unit": "bars", "reached": 8}
    score = Score(str(tmp_path / "a" / "sample-01.mid")).to("quarter")
    notes = sorted((n.time, n.pitch) for t in score.tracks for n in t.notes)
    assert notes[:8] == sorted((beat, pitch) for beat, _, pitch, _ in primer_notes)  # the primer, as written
    primer_end = 6.0  # its melody's last beat (the notechord encoding ends a chord with the next onset)
    new = [n for n in notes[8:] if n[0] >= primer_end - 1e-6]
    assert len(new) >= 8 and max(n.time + n.duration for t in score.tracks for n in t.notes) <= primer_end + 32
    assert max(t for t, _ in new) >= primer_end + 7 * 4  # new notes reach the eighth new bar
    # Without the primer: the same new music, moved to the start.
    assert main([*args, "--no-primer-in-output", "-o", str(tmp_path / "b")]) == 0
    alone = Score(str(tmp_path / "b" / "sample-01.mid")).to("quarter")
    moved = sorted((n.time + primer_end, n.pitch) for t in alone.tracks for n in t.notes)
    assert moved == [n for n in notes if n[0] >= primer_end - 1e-6]


def test_forty_programs_get_one_channel_each(tmp_path):
    from musicgen import piece_of
    from tunesmith.encodings import make_tokenizer
    from tunesmith.postprocess import fit_channels
    from tunesmith.rendering import write_midi

    tracks = [{"program": p, "notes": [(b, 0.5, 50 + p % 30, 80) for b in range(1 + p % 5)]} for p in range(40)]
    tracks.append({"program": 0, "is_drum": True, "notes": [(b, 0.25, 36, 100) for b in range(8)]})
    source = make_score(tracks).to("quarter")
    piece = piece_of([(0, 1, 60, 80)])
    piece = type(piece)(source, id="forty", style="default")
    tokenizer = make_tokenizer("event").fit([piece])
    decoded = tokenizer.decode(tokenizer.encode(piece))  # an event sample with 40 programs and drums
    assert len({t.program for t in decoded.tracks if not t.is_drum}) == 40
    score, said = fit_channels(decoded)
    assert said and "kept the 15 with most notes" in said[0]
    path = write_midi(score, tmp_path / "forty.mid", title="forty", composer="test")
    mid = mido.MidiFile(str(path))
    assert mid.tracks[0].name == "forty"
    channel_program: dict[int, set[int]] = {}
    for track in mid.tracks[1:]:
        channels = {m.channel for m in track if m.type in ("note_on", "program_change")}
        programs = {m.program for m in track if m.type == "program_change"}
        assert len(channels) == 1 and len(programs) == 1, track.name
        channel = channels.pop()
        channel_program.setdefault(channel, set()).update(programs)
        expected = "Drums" if channel == 9 else pretty_midi.program_to_instrument_name(programs.pop())
        assert track.name == expected  # named after its General MIDI instrument
    assert len(channel_program) <= 16 and all(len(p) == 1 for p in channel_program.values())
    assert 9 in channel_program  # drums on channel 10
    kept = {p for c, ps in channel_program.items() if c != 9 for p in ps}
    counts = {p: 1 + p % 5 for p in range(40)}
    assert len(kept) == 15 and min(counts[p] for p in kept) >= max(counts[p] for p in set(counts) - kept)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert sum(i.is_drum for i in pm.instruments) == 1 and len(pm.instruments) == 16


@pytest.mark.slow
@needs_abc2midi
def test_every_abc_written_passes_abc2midi(tmp_path, tiny_data, music21_scratch):
    run = tiny_run(tiny_data, "gru", tmp_path / "run")
    out = tmp_path / "out"
    args = ["generate", str(run), "-o", str(out), "--num", "3", "--length", "4bars", "--temperature", "1.0", "2.0"]
    assert main([*args, "--format", "mid,abc,musicxml", "--time-signature", "3/4", "--instruments", "band", "-q"]) == 0
    abcs = sorted(out.glob("*.abc"))
    assert abcs and len(abcs) == len(list(out.glob("*.mid")))
    for path in abcs:
        text = path.read_text()
        headers = [line.split(":")[0] for line in text.splitlines() if line[:2] in ("X:", "T:", "M:", "L:", "K:")]
        assert headers[0] == "X" and {"X", "T", "M", "L", "K"} <= set(headers) and "M:3/4" in text
        done = subprocess.run(["abc2midi", str(path), "-o", str(tmp_path / "x.mid")], capture_output=True, text=True)
        assert done.returncode == 0 and "error" not in (done.stdout + done.stderr).lower(), done.stdout
        assert midi_notes(tmp_path / "x.mid") > 0
    xml = (out / "sample-01-t1.musicxml").read_text()
    assert "Music21 Fragment" not in xml and "<work-title>sample-01-t1</work-title>" in xml and ">run<" in xml
    assert not [p for p in music21_scratch.rglob("*") if p.is_file()]  # no pickle of each sample left behind


@needs_abc2midi
def test_model_abc_gets_its_headers(tmp_path):
    from tunesmith.abc_writer import check_abc, ensure_headers

    path = tmp_path / "t.abc"
    path.write_text(ensure_headers("K:G\nGABc dedB|dedB dedB|", "tune"))
    assert path.read_text().startswith("X:1\nT:tune\nM:4/4\nL:1/8\nK:G\n") and check_abc(path) is None
    path.write_text("GABc dedB|dedB dedB|\n")
    assert check_abc(path) is not None  # what generate wrote before: abc2midi refuses it


@needs_fluidsynth
def test_a_far_event_renders_no_more_than_max_seconds(tmp_path, capsys):
    score = make_score([{"program": 0, "notes": [(0, 1, 60, 80), (1, 1, 64, 80)]}])
    score.tracks[0].notes.append(Note(2**28, 480, 67, 80, "tick"))  # 2^28 ticks: about 78 hours at 120 BPM
    path = tmp_path / "far.mid"
    score.dump_midi(str(path))
    assert main(["render", str(path), "--wav", "--max-seconds", "3"]) == 0
    assert wav_seconds(path.with_suffix(".wav")) <= 3 + TAIL_SECONDS + 0.01


@pytest.mark.slow
def test_earlier_samples_are_kept_numbered_or_replaced(tmp_path, tiny_data):
    run = tiny_run(tiny_data, "gru", tmp_path / "run")
    out = tmp_path / "out"
    args = ["generate", str(run), "-o", str(out), "--num", "2", "--length", "2bars", "-q"]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.mid")}
    assert sorted(first) == ["sample-01.mid", "sample-02.mid"]
    assert main([*args, "--seed", "4"]) == 0  # again into the same folder: new numbers, nothing lost
    assert sorted(p.name for p in out.glob("*.mid")) == [f"sample-0{i}.mid" for i in (1, 2, 3, 4)]
    assert all((out / name).read_bytes() == data for name, data in first.items())
    listed = json.loads((out / "generate.json").read_text())["files"]
    assert sorted(Path(f).name for r in listed for f in r["files"]) == sorted(p.name for p in out.glob("sample-*"))
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.mid")) == ["sample-01.mid", "sample-02.mid"]
    assert all((out / name).read_bytes() == data for name, data in first.items())  # same seed, same bytes
    assert len(json.loads((out / "generate.json").read_text())["files"]) == 2


@pytest.mark.slow
def test_generate_refusals_are_one_line(tmp_path, tiny_data, capsys):
    from tunesmith.locks import exclusive

    run = tiny_run(tiny_data, "gru", tmp_path / "run")
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")
    header_only = tmp_path / "header.mid"
    header_only.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0")
    out = tmp_path / "out"
    cases = [
        (["-o", str(a_file)], "is an existing file"),
        (["-o", str(out), "--primer", str(header_only)], "has no notes to continue"),
        (["-o", str(out), "--length", "99999999999"], "more than one sample can hold"),
        (["-o", str(out), "--length", "9999999bars"], "more than one sample can hold"),
    ]
    for extra, message in cases:
        assert main(["generate", str(run), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert a_file.read_text() == "mine"
    with exclusive(out, "generate"):  # another generate writing there
        assert main(["generate", str(run), "-o", str(out), "--length", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is being written by PID" in err and len(err.splitlines()) == 1
    assert not list(out.glob("sample-*"))
