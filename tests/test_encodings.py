"""Every encoding in the registry: the contract, persistence, vocabulary control and round-trip properties."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicgen import melody, note_set, piece_of
from tunesmith.encodings import ENCODINGS, load_tokenizer, make_tokenizer
from tunesmith.encodings.base import UNK
from tunesmith.errors import TunesmithError

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JIG = "X:1\nT:Jig\nM:6/8\nL:1/8\nK:D\n|:DFA dFA|BGB AFD|DFA dFA|BGE FDD:|\n"


def corpus_pieces():
    """A few small pieces of every kind an encoding may see."""
    from tunesmith.corpus.readers import read_source
    from tunesmith.music import Piece

    pieces = [piece_of(melody(40, 60, seed), style=f"s{seed % 2}") for seed in range(4)]
    chords = [(b, 1.0, p, 80) for b in range(8) for p in (60, 64, 67)]
    pieces.append(piece_of(chords, style="s0"))
    (parsed,), _ = read_source(Path("jig.abc"), JIG.encode(), 480)
    pieces.append(Piece(parsed.score.to("quarter"), id="jig", style="s1", abc=parsed.abc))
    return pieces


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_contract_and_persistence(name, tmp_path):
    pieces = corpus_pieces()
    tokenizer = make_tokenizer(name, style_tokens=True).fit(pieces)
    assert tokenizer.vocab[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tokenizer.styles == ["s0", "s1"]
    ids = tokenizer.encode(pieces[0])
    assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id and ids[1] == tokenizer.index["<style:s0>"]
    assert tokenizer.unk_id not in ids
    path = tmp_path / "tok.json"
    tokenizer.save(path)
    again = load_tokenizer(path)
    assert again.vocab == tokenizer.vocab
    for piece in pieces:
        assert again.encode(piece) == tokenizer.encode(piece)
    result = again.try_decode(ids)
    assert result.ok, result.error
    assert result.score.note_num() > 0


def _pitches(score) -> list[int]:
    return [p for _, _, p in note_set(score)]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_try_decode_names_what_is_broken_and_round_trips_what_is_not(name):
    pieces = corpus_pieces()
    jig = pieces[-1]  # a real tune: every encoding (ABC included) encodes it
    tokenizer = make_tokenizer(name).fit(pieces)
    ids = tokenizer.encode(jig)
    good = tokenizer.try_decode(ids)
    assert good.ok and good.error is None and _pitches(good.score) == _pitches(jig.score)
    # One id past the end of the vocabulary (another tokenizer's id, a model of another size): reported, named.
    past = len(tokenizer) + 3
    bad = tokenizer.try_decode([*ids[: len(ids) // 2], past, *ids[len(ids) // 2 :]])
    assert (
        not bad.ok and bad.error == f"ValueError: id {past} is outside the vocabulary (ids 0 to {len(tokenizer) - 1})"
    )
    with pytest.raises(ValueError, match=f"id {past} is outside"):
        tokenizer.decode([tokenizer.bos_id, past])
    assert "outside" in tokenizer.try_decode([tokenizer.bos_id, -1, *ids[1:]]).error


def test_unknown_encoding_and_setting():
    with pytest.raises(TunesmithError, match="unknown encoding"):
        make_tokenizer("midi-bytes")
    with pytest.raises(TunesmithError, match="has no setting colour: it has "):
        make_tokenizer("notechord", colour="blue")
    with pytest.raises(TunesmithError):
        make_tokenizer("pianoroll", mode="stereo")


def test_rare_tokens_map_to_unk_or_nearest():
    common = [(i * 0.5, 0.5, 60 + (i % 3), 80) for i in range(30)]
    pieces = [piece_of(common), piece_of([*common, (15.0, 0.5, 62 + 12, 80)])]  # D5 occurs once
    unk = make_tokenizer("notechord", min_token_count=2).fit(pieces)
    assert "D5:0.5" not in unk.index
    assert unk.token_id("D5:0.5") == unk.index[UNK]
    assert unk.stats["coverage"] < 1 and unk.stats["rare_tokens"] == 1
    near = make_tokenizer("notechord", min_token_count=2, rare="nearest").fit(pieces)
    assert near.vocab[near.token_id("D5:0.5")] == "D4:0.5"  # same duration, nearest pitch set


@pytest.mark.parametrize("name", ["notechord", "pseudonote", "pianoroll", "event"])
def test_transposition_table_shifts_pitches(name):
    pieces = corpus_pieces()[:4]
    tokenizer = make_tokenizer(name).fit(pieces)
    table = tokenizer.transposition_table(2)
    up = make_tokenizer(name).fit(pieces)  # same vocabulary
    ids = np.array(tokenizer.encode(pieces[0]))
    shifted = table[ids]
    ok = shifted >= 0
    assert ok.mean() > 0.5
    decoded = tokenizer.decode(shifted[ok])
    original = tokenizer.decode(ids[ok])
    assert [n.pitch for n in decoded.tracks[0].notes] == [n.pitch + 2 for n in original.tracks[0].notes]
    assert up.vocab == tokenizer.vocab
    assert (make_tokenizer("abc").fit([corpus_pieces()[-1]]).transposition_table(1)[4:] == -1).all()


# --------------------------------------------------------------------------------------- round-trip properties
GRID = 0.25


@st.composite
def event_sequences(draw):
    """Non-overlapping events on the grid: rest before, chord of pitches, one duration for the chord."""
    notes, cursor = [], 0
    for _ in range(draw(st.integers(1, 25))):
        cursor += draw(st.integers(0, 4))
        length = draw(st.integers(1, 12))
        for p in draw(st.sets(st.integers(30, 96), min_size=1, max_size=4)):
            notes.append((cursor * GRID, length * GRID, p, 80))
        cursor += length
    return notes


@st.composite
def polyphony(draw):
    """Arbitrary notes on the grid; two notes of one pitch never overlap."""
    notes, busy = [], {}
    for _ in range(draw(st.integers(1, 30))):
        p = draw(st.integers(36, 90))
        start = max(draw(st.integers(0, 64)), busy.get(p, 0))
        length = draw(st.integers(1, 8))
        busy[p] = start + length
        notes.append((start * GRID, length * GRID, p, 80))
    return notes


@st.composite
def melodies(draw):
    notes, cursor = [], 0
    for _ in range(draw(st.integers(1, 30))):
        cursor += draw(st.integers(0, 3))
        length = draw(st.integers(1, 8))
        notes.append((cursor * GRID, length * GRID, draw(st.integers(40, 90)), 80))
        cursor += length
    return notes


def _exact(name, **config):
    def check(notes):
        piece = piece_of(notes)
        tokenizer = make_tokenizer(name, **config).fit([piece])
        assert note_set(tokenizer.decode(tokenizer.encode(piece)), GRID) == note_set(piece.score, GRID)

    return check


def _pseudonote(notes):
    piece = piece_of([(t, d, p, 40 + (i * 7) % 80) for i, (t, d, p, _) in enumerate(notes)])
    tokenizer = make_tokenizer("pseudonote").fit([piece])
    decoded = tokenizer.decode(tokenizer.encode(piece))
    t0, d0, p0, v0 = _arrays(piece.score)
    t1, d1, p1, v1 = _arrays(decoded)
    assert p1.tolist() == p0.tolist()  # pitches exact, in order
    assert (tokenizer.duration(d1) == tokenizer.duration(d0)).all()  # same duration bin
    assert (tokenizer.velocity(v1) == tokenizer.velocity(v0)).all()
    assert ((np.diff(t1) > 1e-6) == (np.diff(t0) > 1e-6)).all()  # chords stay chords, onsets stay ordered


def _arrays(score):
    from tunesmith.music import pitched_notes

    return pitched_notes(score)


def _event(notes):
    notes = [(t, min(d, 4.0), min(max(p, 21), 108), v) for t, d, p, v in notes]
    _exact("event", use_tempos=False, use_time_signatures=False)(notes)


PROPERTIES = {
    "notechord": (event_sequences(), _exact("notechord", grid=GRID, max_duration=8.0)),
    "pianoroll": (polyphony(), _exact("pianoroll", grid=GRID, mode="poly")),
    "pseudonote": (polyphony(), _pseudonote),
    "event": (polyphony(), _event),
}


def test_every_encoding_has_a_round_trip_property():
    assert set(PROPERTIES) | {"abc"} == set(ENCODINGS)


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_round_trip_property(name):
    strategy, check = PROPERTIES[name]
    SETTINGS(given(strategy)(check))()


@SETTINGS
@given(melodies())
def test_pianoroll_mono_round_trip(notes):
    _exact("pianoroll", grid=GRID, mode="mono")(notes)


@pytest.mark.parametrize("name", ["notechord", "pianoroll", "pseudonote"])  # the encodings whose tokens spell "C-1"
def test_the_lowest_midi_pitches_decode_where_they_were(name):
    notes = [(i * 0.5, 0.5, p, 80) for i, p in enumerate([0, 5, 11, 12, 60, 127])]
    piece = piece_of(notes)
    tokenizer = make_tokenizer(name).fit([piece])
    result = tokenizer.try_decode(tokenizer.encode(piece))
    assert result.ok, result.error
    assert _pitches(result.score) == [p for _, _, p, _ in notes]


@pytest.mark.slow
def test_abc_round_trips_tunes_of_the_music21_corpus():
    from tunesmith.corpus.readers import read_source
    from tunesmith.corpus.sources import resolve_sources

    source = resolve_sources(["corpus:oneills"])[0]
    parsed, _ = read_source(source.path, source.path.read_bytes(), 480)
    from tunesmith.music import Piece

    pieces = [Piece(p.score.to("quarter"), id=str(i), abc=p.abc) for i, p in enumerate(parsed[:12])]
    for unit in ("char", "whitespace"):
        tokenizer = make_tokenizer("abc", unit=unit).fit(pieces)
        for piece in pieces:
            result = tokenizer.try_decode(tokenizer.encode(piece))
            assert result.ok, (piece.id, result.error)
            assert note_set(result.score) == note_set(piece.score)


def test_abc_failure_is_reported_with_its_text():
    tokenizer = make_tokenizer("abc").fit([corpus_pieces()[-1]])
    ids = [tokenizer.bos_id] + [tokenizer.index[c] for c in "K:D\n|::|"] + [tokenizer.eos_id]
    result = tokenizer.try_decode(ids)
    assert not result.ok and result.error and result.text == "K:D\n|::|"


def test_damaged_abc_is_repaired_and_marked_so():
    from tunesmith.encodings.abc import AbcTokenizer, repair_abc

    damaged = 'M: jig|\nL: 1/8\nK:D\n"Am"A2B {g}c2d | e2f gfe |]\nR:rf2 | d6 ||\nq(de'
    tokenizer = AbcTokenizer()
    with pytest.raises(ValueError):
        tokenizer.parse(damaged)
    repaired = repair_abc(damaged)
    assert repaired.splitlines()[:3] == ["L:1/8", "M:4/4", "K:D"]  # the broken M: line gives way to the default
    assert '"' not in repaired and "{" not in repaired and "q" not in repaired
    assert tokenizer.parse(repaired).note_num() == 11  # the R: line goes whole (a field line), "q" goes
    good = "M:6/8\nL:1/8\nK:G\nGAB c2d | e3 d3 |"
    assert repair_abc(good).splitlines()[:3] == ["L:1/8", "M:6/8", "K:G"]


def test_absurd_abc_note_lengths_are_refused_not_parsed_for_minutes():
    from tunesmith.encodings.abc import AbcTokenizer, repair_abc

    tokenizer = AbcTokenizer()
    with pytest.raises(ValueError, match="three digits"):
        tokenizer.parse("L:1/8\nK:C\nA2 B99999999 c|")
    assert tokenizer.parse(repair_abc("L:1/8\nK:C\nA2 B99999999 c|")).note_num() == 3  # capped at B99


def test_event_encoding_keeps_a_drum_track_on_midi_channel_10(tmp_path):
    """Drums survive encode -> decode -> MIDI: their own track, is_drum, drum pitches untouched, channel 10."""
    import mido

    from musicgen import make_score
    from tunesmith.music import Piece

    kick_snare = [(b * 0.5, 0.25, 36 if b % 2 == 0 else 38, 100) for b in range(16)]
    triplets = [(4 + k / 3, 0.25, 42, 80) for k in range(6)]
    score = make_score(
        [{"program": 33, "notes": melody(16, 40)}, {"is_drum": True, "notes": kick_snare + triplets}]
    ).to("quarter")
    piece = Piece(score, id="band", style="s")
    tokenizer = make_tokenizer("event", use_tempos=False, positions_per_beat=12).fit([piece])
    ids = tokenizer.encode(piece)
    assert "Program_-1" in tokenizer.vocab and any(t.startswith("PitchDrum_") for t in tokenizer.vocab)
    assert all(tokenizer.transpose_token(t, 3) == t for t in tokenizer.vocab if t.startswith("PitchDrum_"))
    decoded = tokenizer.decode(ids)
    drums = [t for t in decoded.tracks if t.is_drum]
    assert len(drums) == 1 and [t.program for t in decoded.tracks if not t.is_drum] == [33]
    got = sorted((round(n.time * 12), n.pitch) for n in drums[0].notes)
    assert got == sorted((round(t * 12), p) for t, _, p, _ in kick_snare + triplets)  # triplets kept on 12/beat
    path = tmp_path / "band.mid"
    decoded.dump_midi(str(path))
    on = [m for tr in mido.MidiFile(path).tracks for m in tr if m.type == "note_on" and m.velocity]
    assert sorted(m.note for m in on if m.channel == 9) == sorted(p for _, _, p, _ in kick_snare + triplets)
    assert len([m for m in on if m.channel != 9]) == 16  # the bass line, on a channel of its own
