"""``generate --form``: sections of bars, a later section with an earlier one's letter repeated bar for bar.

One tiny event model (an LSTM trained for seconds on made songs with flute, bass and drums) serves the tests.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
import torch
from symusic import Score

from musicgen import key_song, make_score
from tunesmith.cli import main
from tunesmith.form import Form, FormFollower, parse_form
from tunesmith.generate import GenerateConfig, Generator

PREPARE = ["--encoding", "event", "--instruments", "merge", "--drums", "keep", "--no-cache", "-q"]
TINY = ["--model-option", "hidden=64", "--model-option", "embed_dim=32", "--lr", "5e-3", "-q", "--seq-len", "32"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny LSTM on eight made songs (REMI events with band headers)."""
    root = tmp_path_factory.mktemp("form")
    for i in range(8):
        key_song(root / "songs" / f"s{i}.mid", 0 if i % 2 else 9, bool(i % 2 == 0), seed=i, with_drums=i % 2 == 0)
    data, run_dir = root / "data", root / "run"
    assert main(["prepare", str(root / "songs"), "-o", str(data), *PREPARE]) == 0
    args = ["train", str(data), "-o", str(run_dir), *TINY, "--epochs", "3", "--steps-per-epoch", "8"]
    assert main([*args, "--batch-size", "8"]) == 0
    return run_dir


def _sections(generator: Generator, ids: list[int], primer: int, form: Form) -> list[list[int]]:
    """The new tokens of each section: from a section's first bar line to the next section's."""
    bar = generator.tokenizer.bar_id
    new = ids[primer:]
    lines = [i for i, t in enumerate(new) if t == bar]
    starts = lines[:: form.section_bars]
    return [new[a:b] for a, b in pairwise(starts)]


def _bar_notes(score, bar: int, length: float = 4.0) -> list[tuple]:
    """The notes starting in bar ``bar`` (from 0), their times from the bar's start: (program, drums, time, ...)."""
    return sorted(
        (t.program, t.is_drum, round(n.time - bar * length, 4), n.pitch, round(n.duration, 4), n.velocity)
        for t in score.tracks
        for n in t.notes
        if bar * length <= n.time < (bar + 1) * length
    )


def test_repeated_sections_are_the_first_occurrence_bar_for_bar(run):
    options = dict(num=4, primer="none", band="flute,bass,drums", seed=3, progress=False, retries=6)
    generator = Generator(run, GenerateConfig(form="AABA", section_bars=2, **options))
    form = generator.form
    samples = generator.generate()
    assert [s.ok for s in samples] == [True] * 4, [s.reasons for s in samples]
    for s in samples:
        sections = _sections(generator, s.ids, s.ids.index(generator.tokenizer.bar_id), form)
        assert len(sections) == 4  # A A B A, each closed by the next bar line
        assert sections[1] == sections[0] and sections[3] == sections[0]  # tokens: the repeats are copies
        assert sections[2] != sections[0]  # B is drawn, not copied
        assert s.reached == form.bars == 8
        # Decoded: every bar of a repeat holds the first A's notes at the same places (4/4: 4 quarters a bar).
        score = s.decoded
        assert score.time_signatures[0].numerator == 4 and score.time_signatures[0].denominator == 4
        a = [_bar_notes(score, bar) for bar in range(2)]
        assert any(a)  # A has notes: the comparison below compares music
        assert [_bar_notes(score, bar) for bar in (2, 3)] == a and [_bar_notes(score, bar) for bar in (6, 7)] == a
        assert {t.program for t in score.tracks if not t.is_drum} <= {33, 73}  # the band holds through repeats


def test_the_form_sets_the_number_of_bars_from_any_primer(run):
    for primer in ("none", "random"):
        for letters, bars in (("AB", 3), ("ABAC", 2)):
            options = dict(num=2, primer=primer, seed=1, progress=False, check=False)  # the bars, not the music
            config = GenerateConfig(form=letters, section_bars=bars, **options)
            generator = Generator(run, config)
            for s in generator.generate():
                assert s.ok, s.reasons
                new = s.ids[s.ids.index(generator.tokenizer.bar_id) :]  # the row after BOS starts with a bar line
                # The first bar line starts the form, the one after the last section ends it.
                assert new.count(generator.tokenizer.bar_id) == len(letters) * bars + 1
                assert s.reached == len(letters) * bars
                assert new[-1] == generator.tokenizer.bar_id


def _notes(score, shift: float = 0.0) -> list[tuple]:
    """The notes from ``shift`` on, moved back by it: (program, drums, time, pitch, duration, velocity)."""
    return sorted(
        (t.program, t.is_drum, round(n.time - shift, 4), n.pitch, round(n.duration, 4), n.velocity)
        for t in score.tracks
        for n in t.notes
        if n.time >= shift - 1e-6
    )


@pytest.mark.parametrize("last", [(5.0, 0.5), (7.0, 2.0)], ids=["ends-mid-bar", "rings-into-the-next-bar"])
def test_without_the_primer_the_output_starts_on_the_forms_first_bar(run, tmp_path, last):
    """``--primer FILE --no-primer-in-output --form``: the file begins with the form's bar 1, not the primer's rest.

    The primer is a bar and a half of flute (4/4) whose last note ends mid-bar, or rings across the bar line; the
    form starts on the bar line after its two bars (8 quarters), and the output is the music from there on.
    """
    from tunesmith.api import load_run
    from tunesmith.length import note_end

    primer = tmp_path / "primer.mid"
    notes = [(i * 0.5, 0.5, 72 + i % 5, 90) for i in range(10)] + [(*last, 76, 90)]
    make_score([{"program": 73, "notes": notes}]).dump_midi(str(primer))
    options = dict(num=2, primer=str(primer), band="flute,bass,drums", form="AABA", section_bars=2, seed=5, retries=6)
    loaded = load_run(run)
    samples = loaded.generate(primer_in_output=False, **options)
    assert [s.ok for s in samples] == [True, True], [s.reasons for s in samples]
    for s in samples:
        full = loaded.tokenizer.decode(s.ids)  # the primer and the new music, as the tokens decode
        assert _notes(s.decoded) == _notes(full, shift=8.0)  # the music from the form's first bar line, moved to 0
        assert [_bar_notes(s.decoded, b) for b in (2, 3)] == [_bar_notes(s.decoded, b) for b in (0, 1)]  # A, A
        assert [_bar_notes(s.decoded, b) for b in (6, 7)] == [_bar_notes(s.decoded, b) for b in (0, 1)]  # ... A
        assert any(_bar_notes(s.decoded, b) for b in (0, 1)) and note_end(s.score) <= 8 * 4  # AABA's 8 bars, no more
    # The command line writes the same music into its MIDI files (onsets: a MIDI note-off ends the first of two
    # overlapping notes of one pitch and channel, so a duration may read back shorter).
    args = ["generate", str(run), "-o", str(tmp_path / "out"), "--primer", str(primer), "--no-primer-in-output"]
    args += ["--band", "flute,bass,drums", "--form", "AABA", "--section-bars", "2", "--seed", "5", "--retries", "6"]
    args += ["--num", "2", "-q"]
    assert main(args) == 0
    for s in samples:
        written = Score(str(tmp_path / "out" / f"{s.name}.mid")).to("quarter")
        assert [n[:4] for n in _notes(written)] == [n[:4] for n in _notes(s.score)]


def test_bar_starts_follow_the_time_signatures_as_remi_decodes_its_bar_lines():
    """Two bars of 3/4, then 4/4: a note on each bar's first beat decodes where ``bar_start`` puts that bar."""
    from symusic import TimeSignature

    from tunesmith.encodings import make_tokenizer
    from tunesmith.length import bar_start
    from tunesmith.music import Piece

    starts = [0.0, 3.0, 6.0, 10.0, 14.0]
    score = make_score(
        [{"program": 0, "notes": [(s, 1, 60 + i, 80) for i, s in enumerate(starts)]}], time_signature=(3, 4)
    )
    score.time_signatures.append(TimeSignature(6 * 480, 4, 4, "tick"))
    piece = Piece(score.to("quarter"), id="meters")
    tokenizer = make_tokenizer("event").fit([piece])
    ids = tokenizer.encode(piece)
    decoded = tokenizer.decode(ids)
    assert ids.count(tokenizer.bar_id) == len(starts)
    assert sorted(n.time for t in decoded.tracks for n in t.notes) == starts
    assert [bar_start(decoded, bar) for bar in range(6)] == [*starts, 18.0]  # the bar after the last: 4/4 goes on
    assert bar_start(Score(480).to("quarter"), 2) == 8.0  # no time signature: 4/4, as MIDI has it


def test_the_same_seed_gives_the_same_bytes(run, tmp_path):
    args = ["generate", str(run), "--primer", "none", "--form", "ABA", "--section-bars", "2", "--seed", "7", "-q"]
    for name in ("a", "b"):
        assert main([*args, "-o", str(tmp_path / name), "--num", "2", "--band", "flute,bass,drums"]) == 0
    files = sorted((tmp_path / "a").glob("*.mid"))
    assert len(files) == 2
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)


def test_bad_forms_and_their_options_are_one_line(run, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        (["--form", "A1B"], "bad --form 'A1B': section letters A to Z"),
        (["--form", ""], "bad --form '': section letters"),
        (["--form", "AABA", "--length", "12bars"], "--form AABA with --section-bars 4 is 16 bars long"),
        (["--form", "AB", "--length", "300"], "leave out --length (or give 8bars)"),
        (["--section-bars", "8"], "--section-bars needs --form"),
        (["--form", "AB", "--section-bars", "0"], "--section-bars must be between 1 and"),
        (["--form", "AB", "--beam", "2"], "--form samples section by section: leave out --beam"),
    ]
    for extra, message in cases:
        assert main(["generate", str(run), "-o", str(out), "--primer", "none", "-q", *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and "Traceback" not in err
    assert parse_form("a a-b,a").letters == "AABA"
    assert GenerateConfig(form="AABA", length="16bars").target_length == "16bars"


def test_an_encoding_without_bars_is_one_line(tmp_path, capsys):
    songs, data, run_dir = tmp_path / "songs", tmp_path / "data", tmp_path / "run"
    for i in range(3):
        key_song(songs / f"s{i}.mid", 0, False, seed=i, bars=4, with_drums=False)
    assert main(["prepare", str(songs), "-o", str(data), "--encoding", "notechord", "--no-cache", "-q"]) == 0
    args = ["train", str(data), "-o", str(run_dir), *TINY, "--epochs", "1", "--steps-per-epoch", "1"]
    assert main([*args, "--batch-size", "2"]) == 0
    capsys.readouterr()
    assert main(["generate", str(run_dir), "-o", str(tmp_path / "o"), "--form", "AABA", "-q"]) != 0
    err = capsys.readouterr().err.strip()
    assert "this model's encoding (notechord) has none of: it works with event models of the REMI scheme" in err
    assert "\n" not in err and "Traceback" not in err


def test_the_follower_forces_the_first_bar_line_and_the_repeats():
    """Token by token: the bar line that starts the form, A's copy after its repeat's bar line, the end after B."""
    bar = 0
    follower = FormFollower(Form("AAB", 1), bar, rows=1)
    drawn = iter([5, 6, bar, 7, 8, bar])  # what the model draws where nothing is forced: A = 5 6, B = 7 8
    taken = []
    while True:
        forced = follower.forced()
        taken.append(int(forced[0]) if forced is not None and forced[0] >= 0 else next(drawn))
        if follower.see(torch.tensor([taken[-1]]))[0]:
            break
    assert taken == [bar, 5, 6, bar, 5, 6, bar, 7, 8, bar]
    assert follower.forced() is None and next(drawn, None) is None


def test_the_studio_passes_a_form_and_leaves_the_length_to_it():
    from tunesmith.api import generate_config
    from tunesmith.studio.engine import GenerateRequest

    request = GenerateRequest.from_json({"form": "AABA", "length": 7, "unit": "bars"})
    options = generate_config(**request.settings(("mid",)))
    assert options.form == "AABA" and options.target_length == "16bars"
    assert generate_config(**GenerateRequest.from_json({"length": 7}).settings(("mid",))).target_length == "7bars"
