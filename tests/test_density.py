"""``generate --density``: the corpus's notes a bar counted at fit, the keeper's pull at each bar line, the samples."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from musicgen import make_score
from tunesmith.checkpoint import load_model
from tunesmith.cli import main
from tunesmith.data import TokenData
from tunesmith.density import DENSITY_AUTO, GAIN, MAX_ERROR, density_target, parse_density
from tunesmith.density_keeper import DensityKeeper
from tunesmith.encodings import make_tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.metrics import Notes, note_density
from tunesmith.generate import GenerateConfig, Generator

PREPARE = ["--encoding", "event", "--instruments", "merge", "--drums", "keep", "--no-cache", "-q"]
TINY = ["--model-option", "hidden=64", "--model-option", "embed_dim=32", "--lr", "5e-3", "-q", "--seq-len", "32"]


def chord_song(path: Path, seed: int, bars: int = 8) -> None:
    """Eight melody notes, a triad on every beat and a kick on every beat, each bar: 20 pitched notes a bar."""
    rng = random.Random(seed)
    melody = [(i * 0.5, 0.5, 72 + rng.choice([0, 2, 4, 5, 7, 9]), 90) for i in range(bars * 8)]
    roots = [rng.choice([48, 53, 55]) for _ in range(bars)]
    pad = [(b * 4.0 + beat, 1.0, roots[b] + step, 60) for b in range(bars) for beat in range(4) for step in (0, 4, 7)]
    kick = [(beat, 0.25, 36, 100) for beat in range(bars * 4)]
    tracks = [{"program": 73, "notes": melody}, {"program": 0, "notes": pad}, {"is_drum": True, "notes": kick}]
    path.parent.mkdir(parents=True, exist_ok=True)
    make_score(tracks).dump_midi(str(path))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny LSTM on eight 8-bar songs of 20 pitched notes a bar (``chord_song``)."""
    root = tmp_path_factory.mktemp("density")
    for i in range(8):
        chord_song(root / "songs" / f"s{i}.mid", seed=i)
    data, run_dir = root / "data", root / "run"
    assert main(["prepare", str(root / "songs"), "-o", str(data), *PREPARE, "--transpose=-2..2"]) == 0
    args = ["train", str(data), "-o", str(run_dir), *TINY, "--epochs", "6", "--steps-per-epoch", "10"]
    assert main([*args, "--batch-size", "8"]) == 0
    return run_dir


def test_fit_counts_the_corpus_pitched_notes_a_bar_drums_left_out(run):
    tokenizer = load_model(run)[1]
    assert tokenizer.stats["notes_per_bar"] == 20.0  # the kick's four notes a bar are not counted
    assert tokenizer.pitches("Pitch_60") == (60,) and tokenizer.pitches("PitchDrum_36") == ()
    assert tokenizer.opens_note("Program_0") and not tokenizer.opens_note("Program_-1")
    assert not tokenizer.opens_note("Pitch_60")  # with programs, the program token opens the note
    ids = np.asarray(TokenData(run.parent / "data", "train").ids)
    notes = np.array([len(tokenizer.pitches(t)) for t in tokenizer.vocab])
    assert notes[ids].sum() / (ids == tokenizer.bar_id).sum() == pytest.approx(20.0)


def test_parse_density_and_its_errors(run):
    assert parse_density(None) is None
    assert parse_density("auto") == DENSITY_AUTO and parse_density("AUTO") == DENSITY_AUTO
    assert parse_density("12.5") == 12.5
    for wrong, message in (
        ("lots", "takes a number"),
        ("0", "between 0 and 1000"),
        ("-3", "between"),
        ("nan", "between"),
    ):
        with pytest.raises(TunesmithError, match=message):
            parse_density(wrong)
    with pytest.raises(TunesmithError, match="needs an event \\(REMI\\) model"):
        density_target(make_tokenizer("notechord"), 10.0)
    tokenizer = load_model(run)[1]
    assert density_target(tokenizer, DENSITY_AUTO) == 20.0 and density_target(tokenizer, 4.0) == 4.0
    del tokenizer.stats["notes_per_bar"]  # a model prepared before the count
    with pytest.raises(TunesmithError, match="did not record"):
        density_target(tokenizer, DENSITY_AUTO)


def test_the_keeper_moves_each_rows_pull_at_its_bar_lines(run):
    tokenizer = load_model(run)[1]
    keeper = DensityKeeper(tokenizer, target=3.0, rows=2)
    bar, pad = tokenizer.bar_id, tokenizer.pad_id
    program, pitch = tokenizer.index["Program_0"], tokenizer.index["Pitch_60"]

    def step(a: int, b: int) -> None:
        keeper.see(torch.tensor([a, b]))

    for _ in range(5):  # notes before the first bar line (a primer's bar) are not judged
        step(program, pad)
        step(pitch, pad)
    step(bar, bar)
    assert keeper.bias is None and keeper.bars.tolist() == [0, 0]
    for _ in range(10):  # row 0 plays 10 notes, row 1 none, against a target of 3
        step(program, pad)
        step(pitch, pad)
    step(bar, bar)
    pull = GAIN * min(np.log(11 / 4), MAX_ERROR)
    assert keeper.pulls.tolist() == pytest.approx([pull, 0.0])  # a sparse bar never pushes notes in
    assert keeper.bars.tolist() == [1, 1]
    opens = torch.tensor([tokenizer.opens_note(t) for t in tokenizer.vocab])
    assert torch.equal(keeper.bias[0] != 0, opens) and not keeper.bias[1].any()  # only the pitched programs
    assert keeper.bias[0, program] == pytest.approx(-pull)
    for _ in range(3):  # three empty bars: the pull eases off by GAIN * MAX_ERROR a bar, down to none
        step(bar, bar)
    assert keeper.pulls.tolist() == [0.0, 0.0] and keeper.bars.tolist() == [4, 4]


def _pitched_density(samples) -> float:
    return float(np.mean([note_density(Notes.from_score(s.score)) for s in samples if s.ok]))


def test_density_thins_the_samples_and_is_recorded(run, tmp_path):
    settings = dict(num=4, length="16bars", primer="none", seed=3, progress=False, check=False)  # every draw counts
    own = _pitched_density(Generator(run, GenerateConfig(**settings)).generate())
    sparse = _pitched_density(Generator(run, GenerateConfig(density="4", **settings)).generate())
    assert sparse < own * 0.7  # the tiny model plays about the corpus's 20; asked for 4 it thins its chords
    out = tmp_path / "out"
    args = ["generate", str(run), "-o", str(out), "--primer", "none", "--num", "2", "-q", "--length", "4bars"]
    assert main([*args, "--density", "auto"]) == 0
    records = [r for r in json.loads((out / "generate.json").read_text())["files"] if "files" in r]
    by = f"20 notes a bar (the training corpus's), kept by pulling the note tokens at each bar line (gain {GAIN:g})"
    assert records and all(r["density"] == {"asked": "auto", "by": by} for r in records)


def test_density_errors_are_one_line(run, tmp_path, capsys):
    args = ["generate", str(run), "-o", str(tmp_path / "o"), "--primer", "none", "-q"]
    for extra, message in (
        (["--density", "busy"], "--density takes a number of notes a bar or auto, not 'busy'"),
        (["--density", "8", "--beam", "2"], "--density follows the samples as they are drawn: leave out --beam"),
    ):
        assert main([*args, *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
