"""Adding an encoding is one module plus one registry line: a toy encoding runs prepare -> train -> generate.

The toy below is the whole "module" (a real one would live in ``src/tunesmith/encodings/``); the fixture's
``register(PitchOnlyTokenizer)`` is the one registry line (a built-in adds its class to ``ENCODINGS`` in
``encodings/registry.py`` instead). See ``docs/extending.md``.
"""

from __future__ import annotations

import json

import pytest
from symusic import Score

from tunesmith.cli import main
from tunesmith.encodings import ENCODINGS, Tokenizer, register, unregister
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, build_score, parse_pitch_name, pitch_name, pitched_notes

STEP = 0.5  # quarters per note of the toy's output


class PitchOnlyTokenizer(Tokenizer):
    """The pitches of a piece's notes in order, one token each; decoded as even eighth notes."""

    name = "toy-pitch"
    description = "pitches only (a test's toy)"

    def tokens(self, piece: Piece) -> list[str]:
        _time, _duration, pitch, _velocity = pitched_notes(piece.score)
        return [pitch_name(int(p)) for p in pitch]

    def score(self, tokens: list[str]) -> Score:
        return build_score([(i * STEP, STEP, parse_pitch_name(t), 80) for i, t in enumerate(tokens)])

    def transpose_token(self, token: str, semitones: int) -> str | None:
        pitch = parse_pitch_name(token) + semitones
        return pitch_name(pitch) if 0 <= pitch <= 127 else None


@pytest.fixture
def toy_encoding():
    register(PitchOnlyTokenizer)  # the one line that makes "toy-pitch" an encoding
    yield PitchOnlyTokenizer.name
    unregister(PitchOnlyTokenizer.name)


def test_a_registered_toy_encoding_runs_prepare_train_generate(toy_encoding, song_dir, tmp_path, capsys):
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "out"
    assert main(["prepare", "--list-encodings"]) == 0
    assert toy_encoding in capsys.readouterr().out
    prepare = ["prepare", str(song_dir), "-o", str(data), "--encoding", toy_encoding, "--split", "0.34,0.33,0.33"]
    assert main([*prepare, "--transpose=-2..2", "--no-cache", "-q"]) == 0
    assert json.loads((data / "tokenizer.json").read_text())["encoding"] == toy_encoding
    train = ["train", str(data), "-o", str(run), "-q", "--epochs", "2", "--seq-len", "12", "--batch-size", "4"]
    assert main([*train, "--model-option", "hidden=24", "--model-option", "embed_dim=8"]) == 0
    assert main(["generate", str(run), "-o", str(out), "--num", "2", "--length", "30", "--seed", "1", "-q"]) == 0

    melodies = sorted(out.glob("sample-*.mid"))
    assert len(melodies) == 2
    vocabulary = set(json.loads((data / "tokenizer.json").read_text())["vocab"])
    for path in melodies:
        notes = Score(str(path)).tracks[0].notes
        assert len(notes) > 0
        assert {pitch_name(n.pitch) for n in notes} <= vocabulary  # every note is one of the toy's tokens

    unregister(toy_encoding)  # without the registry line the checkpoint's encoding is unknown: a one-line error
    assert toy_encoding not in ENCODINGS
    assert main(["generate", str(run), "-o", str(tmp_path / "again"), "--seed", "1", "-q"]) == 2
    assert f"unknown encoding {toy_encoding!r}" in capsys.readouterr().err


def test_register_refuses_a_taken_name_and_what_is_not_a_tokenizer(toy_encoding):
    class Impostor(PitchOnlyTokenizer):
        name = "notechord"

    with pytest.raises(TunesmithError, match="taken"):
        register(Impostor)
    with pytest.raises(TunesmithError, match="Tokenizer subclass"):
        register(dict)
    assert register(PitchOnlyTokenizer) is PitchOnlyTokenizer  # registering the same class again is harmless
