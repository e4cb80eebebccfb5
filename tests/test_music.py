"""The bottom music layer: what it holds, and that importing it loads no tokenizer, corpus code or torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from musicgen import make_score
from tunesmith.music import (
    build_score,
    chord_name,
    gm_name,
    note_arrays,
    parse_pitch_name,
    pitch_name,
    pitched_notes,
)


def test_importing_the_music_layer_loads_no_encoding_corpus_or_torch():
    code = "import json, sys, tunesmith.music; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout))
    assert "tunesmith.music" in loaded
    assert not {"tunesmith.encodings", "tunesmith.corpus", "torch"} & loaded
    assert {m for m in loaded if m.startswith("tunesmith.")} <= {"tunesmith.music", "tunesmith.errors"}


def test_pitch_names_round_trip_over_all_midi_pitches():
    assert [parse_pitch_name(pitch_name(p)) for p in range(128)] == list(range(128))  # octave -1 included


def test_octave_minus_one_is_read_as_an_octave_and_a_dash_elsewhere_as_a_flat():
    assert pitch_name(0) == "C-1" and pitch_name(11) == "B-1"
    assert parse_pitch_name("C-1") == 0 and parse_pitch_name("B-1") == 11 and parse_pitch_name("c#-1") == 1
    assert parse_pitch_name("Db-1") == parse_pitch_name("D--1") == 1  # a flat, then octave -1
    assert parse_pitch_name("B#-1") == 12 and parse_pitch_name("E-4") == 63 and parse_pitch_name("G9") == 127


@pytest.mark.parametrize("name", ["Cb-1", "G#9", "C10", "C-10", "H4", "C", "D-", "C4.5", ""])
def test_pitch_names_outside_midi_or_malformed_are_one_line_errors(name):
    with pytest.raises(ValueError) as error:
        parse_pitch_name(name)
    assert "\n" not in str(error.value) and repr(name) in str(error.value)


def test_pitch_and_chord_names_spell_sharps_and_accept_flats():
    assert pitch_name(60) == "C4" and pitch_name(61) == "C#4" and pitch_name(21) == "A0"
    assert parse_pitch_name("Db4") == parse_pitch_name("C#4") == parse_pitch_name("D-4") == 61
    assert chord_name([67, 60, 64, 60]) == "C4.E4.G4"
    with pytest.raises(ValueError):
        parse_pitch_name("H4")
    with pytest.raises(ValueError):
        parse_pitch_name("C10")


def test_general_midi_names():
    assert gm_name(0) == "Acoustic Grand Piano"
    assert gm_name(40) == "Violin"
    assert gm_name(0, is_drum=True) == "Drums"
    assert gm_name(200) == "Program 200"


def test_pitched_notes_leave_out_drums_and_sort_by_time_then_pitch():
    score = make_score(
        [
            {"program": 0, "notes": [(1.0, 1.0, 64, 90), (0.0, 0.5, 67, 80)]},
            {"program": 0, "notes": [(0.0, 2.0, 60, 70)]},
            {"program": 0, "is_drum": True, "notes": [(0.0, 0.25, 36, 100)]},
        ]
    )
    time, duration, pitch, velocity = pitched_notes(score)
    assert time.tolist() == [0.0, 0.0, 1.0]
    assert pitch.tolist() == [60, 67, 64]
    assert duration.tolist() == [2.0, 0.5, 1.0]
    assert velocity.tolist() == [70, 80, 90]


def test_note_arrays_keep_drums_apart_in_the_score_time_unit():
    score = make_score(
        [
            {"program": 0, "notes": [(1.0, 1.0, 64, 90)]},
            {"program": 0, "is_drum": True, "notes": [(0.5, 0.25, 36, 100), (0.0, 0.25, 42, 90)]},
        ]
    )
    pitched, drums = note_arrays(score), note_arrays(score, drums=True)
    assert pitched["time"].tolist() == [480] and pitched["pitch"].tolist() == [64]  # ticks, as the score has them
    assert drums["time"].tolist() == [240, 0] and drums["pitch"].tolist() == [36, 42]  # unsorted, as written
    empty = note_arrays(make_score([{"program": 0, "notes": []}]))
    assert sorted(empty) == ["duration", "pitch", "time", "velocity"] and all(len(a) == 0 for a in empty.values())


def test_build_score_round_trips_through_pitched_notes():
    notes = [(0.0, 1.0, 60, 80), (0.5, 0.5, 72, 100), (2.0, 1.5, 55, 64)]
    score = build_score(notes, program=40, qpm=90.0, time_signature=(3, 4))
    assert score.tracks[0].program == 40
    assert score.tempos[0].qpm == pytest.approx(90.0)
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert list(zip(*(a.tolist() for a in pitched_notes(score)))) == sorted(notes)
