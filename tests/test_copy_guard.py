"""``generate --no-copy``: an over-fitted model stops copying; the guard follows each encoding's note lines exactly."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from symusic import Score

from musicgen import make_score, melody
from tunesmith.cli import main
from tunesmith.config import dump_toml, from_dict, load_toml
from tunesmith.copy_guard import CopyGuard, LineTable
from tunesmith.encodings import make_tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.generate_options import GenerateConfig
from tunesmith.music import Piece
from tunesmith.pitch_ngrams import PitchNgrams, pitch_lines
from tunesmith.recipe import load_recipe, to_argv

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def copycat(tmp_path_factory) -> Path:
    """A small LSTM over-fitted to four random tunes, chords in two of them (notechord): it plays them back."""
    root = tmp_path_factory.mktemp("copycat")
    (root / "songs").mkdir()
    for i in range(4):
        notes = [(t, d, p, 80) for t, d, p, _ in melody(40, seed=300 + i)]
        if i % 2:  # a chord every four notes: chord tokens end several n-grams at once
            notes += [(t, d, p - 5, 80) for t, d, p, _ in notes[::4]]
        make_score([{"program": 0, "notes": notes}]).dump_midi(str(root / "songs" / f"t{i}.mid"))
    data, run = root / "data", root / "run"
    prepare = ["prepare", str(root / "songs"), "-o", str(data), "--encoding", "notechord", "--no-cache", "-q"]
    assert main([*prepare, "--split", "1,0,0"]) == 0
    train = ["train", str(data), "-o", str(run), "-q", "--epochs", "12", "--seq-len", "16", "--batch-size", "8"]
    assert main([*train, "--model-option", "hidden=64", "--model-option", "dropout=0", "--lr", "3e-2"]) == 0
    return run


def _generate(run: Path, out: Path, *extra: str) -> tuple[list[Score], list[dict]]:
    args = ["generate", str(run), "-o", str(out), "-q", "--num", "6", "--length", "60", "--primer", "random"]
    assert main([*args, "--temperature", "0.5", "--seed", "3", *extra]) == 0
    records = json.loads((out / "generate.json").read_text())["files"]
    return [Score(str(out / f"{r['name']}.mid")) for r in records], records


def _index(run: Path) -> PitchNgrams:
    from tunesmith.data import TokenData, load_data_tokenizer

    data = Path(load_toml(run / "config.toml")["data"])
    return PitchNgrams.of_split(load_data_tokenizer(data), TokenData(data, "train"), 5_000)


def test_no_copy_stops_an_overfitted_model_from_copying_and_counts_what_it_let_through(copycat, tmp_path):
    index = _index(copycat)
    free, free_records = _generate(copycat, tmp_path / "free")
    assert index.share(free)["found"] >= 20  # the model copies (about one n-gram in six): the test below can fail
    assert all("no_copy" not in r for r in free_records)
    guarded, records = _generate(copycat, tmp_path / "guarded", "--no-copy")
    summary = json.loads((tmp_path / "guarded" / "generate.json").read_text())
    assert summary["options"]["no_copy"] is True
    assert sum(r["no_copy"]["held_back"] for r in records) > 0
    let_through = sum(r["no_copy"]["let_through"] for r in records)
    found = index.share(guarded)
    # notechord writes a chord's notes in ascending order, as the metric reads them: what is found was let through
    # (a chord token let through may end up to one n-gram a note).
    assert found["found"] <= let_through * 2 and found["ngrams"] > 0
    _generate(copycat, tmp_path / "again", "--no-copy")
    for a, b in zip(sorted((tmp_path / "guarded").glob("*.mid")), sorted((tmp_path / "again").glob("*.mid"))):
        assert a.read_bytes() == b.read_bytes()  # same seed, same bytes with the guard on


def test_no_copy_is_one_line_without_the_training_data_or_with_beam_search(copycat, tmp_path, capsys):
    assert main(["generate", str(copycat), "-o", str(tmp_path / "o"), "--no-copy", "--beam", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--no-copy follows the samples as they are drawn" in err and len(err.splitlines()) == 1
    data = Path(load_toml(copycat / "config.toml")["data"])
    hidden = tmp_path / "hidden"
    shutil.move(str(data), str(hidden))  # the run's training data is gone
    try:
        assert main(["generate", str(copycat), "-o", str(tmp_path / "o2"), "--no-copy", "--primer", "none"]) == 2
    finally:
        shutil.move(str(hidden), str(data))
    err = capsys.readouterr().err.strip()
    assert "--no-copy compares the samples with the run's training split" in err and str(data) in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["abc", "pianoroll"])
def test_an_encoding_without_note_pitch_tokens_is_one_line(name):
    pieces = [Piece(make_score([{"program": 0, "notes": melody(20, seed=1)}]).to("quarter"), id="a")]
    tokenizer = make_tokenizer(name).fit(pieces)
    with pytest.raises(TunesmithError, match=rf"--no-copy .*\({name}\) does not have"):
        LineTable.of(tokenizer, PitchNgrams([]))


def test_the_option_round_trips_through_toml_a_recipe_and_the_command_line(tmp_path):
    from tunesmith.cli import build_parser

    config = GenerateConfig(no_copy=True, num=3)
    dump_toml(config, tmp_path / "generate.toml")
    assert from_dict(GenerateConfig, load_toml(tmp_path / "generate.toml")) == config
    assert GenerateConfig().no_copy is False
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\n[prepare]\nsources = ["x"]\n[[runs]]\nname = "a"\n[generate]\nno_copy = true\n')
    argv = to_argv(load_recipe(recipe).step("generate", "a"))
    assert argv == ["--no-copy"] and build_parser().parse_args(["generate", "RUN", "-o", "O", *argv]).no_copy is True
    assert not build_parser().parse_args(["generate", "RUN", "-o", "O"]).no_copy


# -- the lines, token by token -------------------------------------------------------------------------------------


def _band_song(seed: int, chords: bool = True, bass: bool = True, drums: bool = True) -> Score:
    """A lead (with chords), a bass line and drums: three tracks, two of them with note lines."""
    lead = [(t, d, p, 80) for t, d, p, _ in melody(40, 70, seed)]
    if chords:
        lead += [(t, d, p - 7, 80) for t, d, p, _ in lead[::5]]
    tracks = [{"program": 73, "notes": lead}]
    if bass:
        tracks.append({"program": 33, "notes": [(i * 1.0, 1.0, 36 + (i * 5 + seed) % 12, 90) for i in range(20)]})
    if drums:
        tracks.append({"program": 0, "is_drum": True, "notes": [(i * 0.5, 0.25, 36 + i % 3, 100) for i in range(40)]})
    return make_score(tracks).to("quarter")


def _guard(tokenizer, index: PitchNgrams, prefix: list[int] | None = None) -> CopyGuard:
    return CopyGuard(tokenizer, index, [prefix or []], LineTable.of(tokenizer, index), CPU)


@pytest.mark.parametrize(
    ("name", "settings", "song"),
    [
        ("pseudonote", {}, {}),  # tracks merged into one line, a chord one note a token
        ("notechord", {}, {}),  # a chord is one token, its pitches ascending
        # MidiTok keeps a file's order of one instrument's notes at one position (here the chord's lower note comes
        # last): the guard sorts each onset as the metric does
        ("event", {}, {}),
        ("event", {"scheme": "TSD"}, {}),
        ("event", {"use_programs": False}, {}),  # one stream: every track's notes in one line, drums included
    ],
)
def test_the_guard_follows_each_tracks_line_as_the_metric_reads_it(name, settings, song):
    songs = [Piece(_band_song(seed, **song), id=str(seed)) for seed in (1, 2)]
    tokenizer = make_tokenizer(name, **settings).fit(songs)
    ids = tokenizer.encode(songs[0])
    decoded = tokenizer.decode(ids)
    guard = _guard(tokenizer, PitchNgrams([decoded]))
    for token in ids[1:]:
        guard.see(torch.tensor([token]))
    followed = {t: (guard.lines[0].get(t, []) + guard.onsets[0].get(t, []))[-7:] for t in guard.lines[0]}
    expected = pitch_lines(decoded)  # drums left out
    pitched = [t for t in decoded.tracks if not t.is_drum and len(t.notes)]
    assert len(followed) == len(expected) == len(pitched)
    programs = [t.program for t in pitched] if tokenizer.first_track is None else [0] * len(pitched)
    for program, line in zip(programs, expected):
        assert followed[program] == line[-7:]  # the last seven pitches, in the metric's order (chords ascending)


def test_notes_before_the_first_program_and_drum_notes_have_no_line():
    songs = [Piece(_band_song(seed), id=str(seed)) for seed in (1, 2)]
    tokenizer = make_tokenizer("event").fit(songs)
    guard = _guard(tokenizer, PitchNgrams([s.score for s in songs]))
    pitch = next(i for i, t in enumerate(tokenizer.vocab) if t.startswith("Pitch_"))
    played = tokenizer.pitches(tokenizer.vocab[pitch])[0]
    for token in (pitch, tokenizer.index["Program_-1"], pitch, tokenizer.index["Program_33"], pitch):
        guard.see(torch.tensor([token]))
    assert guard.onsets[0] == {33: [played]} and guard.lines[0] == {}  # one onset so far, the bass's


def test_every_token_that_would_complete_a_training_ngram_is_held_back_and_no_other():
    """notechord decodes token by token at the end of its one line: decoding says which tokens add a found n-gram."""
    training = [make_score([{"program": 0, "notes": melody(60, seed=s)}]).to("quarter") for s in (5, 6)]
    songs = [Piece(score, id=str(i)) for i, score in enumerate(training)]
    tokenizer = make_tokenizer("notechord").fit(songs)
    index = PitchNgrams([tokenizer.decode(tokenizer.encode(s)) for s in songs], shifts=range(-1, 2))
    ids = tokenizer.encode(songs[1])[:30]  # a training tune's start: most continuations are copies
    guard = _guard(tokenizer, index, ids)
    table = LineTable.of(tokenizer, index)
    before = index.count(tokenizer.decode(ids))[0]
    held = set(guard.banned[0].tolist())
    copying = {t for t in range(len(tokenizer)) if table.pitches[t]
               and index.count(tokenizer.decode([*ids, t]))[0] > before}  # fmt: skip
    assert held == copying and copying  # at least the tune's own next token
    assert torch.isneginf(guard.bias[0, sorted(held)]).all() and (guard.bias[0].isneginf().sum() == len(held))
    guard.see(torch.tensor([min(copying)]))  # drawn all the same (every candidate held back, or a form's repeat)
    assert guard.record(0) == {"held_back": 1, "let_through": 1}


def _found(index: PitchNgrams, score: Score) -> Counter:
    """The indexed n-grams of a score's note lines, counted."""
    return Counter(tuple(line[i : i + 8]) for line in pitch_lines(score) for i in range(len(line) - 7)
                   if tuple(line[i : i + 8]) in index)  # fmt: skip


@pytest.mark.parametrize("cut", [38, 41])  # inside chords of three and two notes
def test_a_note_joining_a_chord_is_held_back_where_its_place_in_the_sorted_chord_copies(cut):
    """Pseudo-notes write a chord one note a token: decoding sorts the chord, and the guard reads it so too."""
    songs = [Piece(_band_song(seed, drums=False), id=str(seed)) for seed in (3, 4)]
    tokenizer = make_tokenizer("pseudonote").fit(songs)
    index = PitchNgrams([tokenizer.decode(tokenizer.encode(s)) for s in songs])
    ids = tokenizer.encode(songs[0])[:cut]  # a training song's start, cut at or inside a chord
    guard = _guard(tokenizer, index, ids)
    before = _found(index, tokenizer.decode(ids))
    table = LineTable.of(tokenizer, index)
    copying = {t for t in range(len(tokenizer))
               if table.pitches[t] and _found(index, tokenizer.decode([*ids, t])) - before}  # fmt: skip
    assert set(guard.banned[0].tolist()) == copying
    assert len(guard.onsets[0][0]) >= 2 and any(not table.onset[t] for t in copying)  # a note joining the chord


def test_a_row_with_every_candidate_held_back_draws_as_the_model_would():
    from tunesmith.models import build_model, model_spec
    from tunesmith.sample import sample

    class HoldAll:  # a keeper that holds back every token of row 0
        def __init__(self, vocab: int) -> None:
            self.bias = torch.zeros(2, vocab)
            self.bias[0] = float("-inf")

        def see(self, tokens: torch.Tensor) -> None:
            pass

    torch.manual_seed(0)
    model = build_model(model_spec("lstm", 12, {"hidden": [16], "embed_dim": 8}))
    primer = torch.tensor([[1, 5], [1, 6]])
    free = sample(model, primer, 8, generator=torch.Generator().manual_seed(0))
    held = sample(model, primer, 8, generator=torch.Generator().manual_seed(0), keep=[HoldAll(12)])
    assert torch.equal(held, free)  # row 0 drew as the model would; row 1 was never held back
