import pytest
from symusic import KeySignature

from musicgen import make_score, melody
from tunesmith.config import SelectConfig, parse_programs
from tunesmith.corpus.select import select_midi, select_tracks, track_infos
from tunesmith.errors import TunesmithError


def _song():
    return make_score(
        [
            {"name": "Flute", "program": 73, "notes": melody(30)},
            {"name": "\x00\x01", "program": 104, "notes": melody(10, 60, 1)},
            {"name": "Tiny", "program": 0, "notes": melody(3)},
            {"name": "Kit", "program": 0, "is_drum": True, "notes": [(b, 0.25, 36, 100) for b in range(40)]},
        ]
    )


def test_dominant_takes_the_busiest_pitched_track():
    (only,) = select_tracks(_song(), SelectConfig(instruments="dominant"))
    assert [t.name for t in only.tracks] == ["Flute"]
    assert only.tempos[0].qpm == pytest.approx(120)


def test_all_keeps_each_track_with_min_notes_and_names_odd_tracks():
    examples = select_tracks(_song(), SelectConfig(instruments="all", min_notes=5))
    infos = [track_infos(e)[0] for e in examples]
    assert [(i.program, i.instrument, i.name) for i in infos] == [(73, "Flute", "Flute"), (104, "Sitar", "Sitar")]


def test_merge_and_drums_keep():
    (merged,) = select_tracks(_song(), SelectConfig(instruments="merge", drums="keep", min_notes=1))
    assert [t.is_drum for t in merged.tracks] == [False, False, False, True]


def test_programs_filter():
    examples = select_tracks(_song(), SelectConfig(instruments="all", programs="100-110"))
    assert [e.tracks[0].program for e in examples] == [104]
    assert parse_programs("0-2,73") == (0, 1, 2, 73)


@pytest.mark.parametrize("bad", [{"instruments": "loud"}, {"drums": "maybe"}, {"min_notes": 0}, {"programs": "5-x"}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(TunesmithError):
        SelectConfig(**bad)


def test_no_track_qualifies():
    score = make_score([{"program": 0, "notes": melody(2)}])
    assert select_tracks(score, SelectConfig(min_notes=5)) == []


@pytest.mark.parametrize(
    ("config", "count"),
    [
        (SelectConfig(instruments="dominant"), 1),
        (SelectConfig(instruments="all", min_notes=1, drums="keep"), 4),
        (SelectConfig(instruments="all", min_notes=5, programs="100-110"), 1),
        (SelectConfig(instruments="merge", drums="keep", min_notes=1), 1),
        (SelectConfig(instruments="merge", programs="1-2"), 0),
    ],
)
def test_select_midi_writes_the_bytes_of_select_tracks_and_leaves_the_song_alone(config, count):
    song = _song()
    song.key_signatures.append(KeySignature(0, -2, 1, ttype="tick"))
    before = song.dumps_midi()
    examples = select_tracks(song, config)
    fast = select_midi(song, config)
    assert len(fast) == len(examples) == count
    assert [midi for midi, _ in fast] == [e.dumps_midi() for e in examples]
    assert [lines for _, lines in fast] == [[t.to_dict() for t in track_infos(e)] for e in examples]
    assert song.dumps_midi() == before and [t.name for t in song.tracks] == ["Flute", "\x00\x01", "Tiny", "Kit"]
