"""Stages ask the tokenizer, never its name: the hooks every encoding answers, and a scan for name tests."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from musicgen import melody, piece_of
from tunesmith.encodings import ENCODINGS, make_tokenizer
from tunesmith.encodings.base import SPECIALS, is_control

SRC = Path(__file__).resolve().parents[1] / "src" / "tunesmith"


def _pieces():
    return [piece_of(melody(24, 60, seed), style=f"s{seed % 2}") for seed in range(3)]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_style_ids_are_the_condition_tokens_encode_writes(name):
    pieces = _pieces()
    tokenizer = make_tokenizer(name, style_tokens=True).fit(pieces)
    assert tokenizer.styles == ["s0", "s1"]
    assert [tokenizer.vocab[i] for i in tokenizer.style_ids] == ["<style:s0>", "<style:s1>"]
    for piece in pieces:
        assert tokenizer.encode(piece)[1] == tokenizer.style_id(piece.style)
    assert tokenizer.style_id("unheard") == tokenizer.unk_id
    plain = make_tokenizer(name).fit(pieces)
    assert plain.styles == [] and plain.style_ids == ()


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_a_tokens_note_line_pitches_are_its_pitch_classes_and_a_sequence_plays_its_pieces_notes(name):
    pieces = _pieces()
    tokenizer = make_tokenizer(name).fit(pieces)
    lines = 0
    for token in tokenizer.vocab:
        if token in SPECIALS or is_control(token):  # never asked (as for pitch_classes)
            continue
        pitches = tokenizer.pitches(token)
        assert list(pitches) == sorted(pitches)
        if pitches:  # a token with a note line has pitch classes, those of its pitches
            assert set(tokenizer.pitch_classes(token)) == {p % 12 for p in pitches}
            lines += 1
    if lines:  # the notes a piece's tokens play, in order, are the piece's (a melody: one note a time)
        played = [p for t in tokenizer.strip(tokenizer.encode(pieces[0])) for p in tokenizer.pitches(t)]
        assert played == [note[2] for note in melody(24, 60, 0)]
    assert tokenizer.first_track in (0, None)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_text_format_says_whether_decoding_gives_text(name):
    pieces = _pieces()
    tokenizer = make_tokenizer(name).fit(pieces)
    result = tokenizer.try_decode(tokenizer.encode(pieces[0]))
    assert result.ok, result.error
    assert (result.text is not None) == (tokenizer.text_format is not None)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_a_frame_end_closes_the_last_step_of_every_piece(name):
    pieces = _pieces()
    tokenizer = make_tokenizer(name).fit(pieces)
    if tokenizer.frame_end_id is not None:
        for piece in pieces:
            assert tokenizer.encode(piece)[-2] == tokenizer.frame_end_id  # [..., frame end, EOS]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_a_bar_token_starts_every_bar_of_a_piece(name):
    """``bar_id`` (what ``generate --form`` counts bars by): one per bar of 4/4 the piece spans, or None."""
    pieces = _pieces()
    tokenizer = make_tokenizer(name).fit(pieces)
    if tokenizer.bar_id is not None:
        for piece in pieces:
            spanned = math.ceil(max(n.time + n.duration for t in piece.score.tracks for n in t.notes) / 4)
            assert tokenizer.encode(piece).count(tokenizer.bar_id) == spanned


def test_remi_has_a_bar_token_and_tsd_none():
    pieces = _pieces()
    remi = make_tokenizer("event").fit(pieces)
    assert remi.vocab[remi.bar_id] == "Bar_None"
    assert make_tokenizer("event", scheme="TSD").fit(pieces).bar_id is None


def test_poly_piano_roll_frames_end_with_a_bar_and_mono_frames_have_no_end():
    pieces = _pieces()
    poly = make_tokenizer("pianoroll", mode="poly", grid=0.5).fit(pieces)
    assert poly.vocab[poly.frame_end_id] == "|"
    assert poly.encode(pieces[0]).count(poly.frame_end_id) == 24  # 24 notes of half a quarter: one frame each
    assert make_tokenizer("pianoroll", mode="mono").fit(pieces).frame_end_id is None
    assert make_tokenizer("notechord").fit(pieces).frame_end_id is None


def _name_tests(text: str, names: list[str]) -> list[str]:
    """Lines of ``text`` that test an encoding's name, reach for one concrete encoding or spell a style token."""
    name = "(?:" + "|".join(re.escape(n) for n in names) + ")"
    quoted = rf"[\"']{name}[\"']"
    compare = r"(?:==|!=|\bnot\s+in\b|\bin\b)"
    patterns = [
        rf"\.name\b\s*{compare}\s*[(\[{{]?[^#\n]*{quoted}",  # tokenizer.name == "abc", .name in ("abc", ...)
        rf"{quoted}\s*(?:==|!=)\s*[\w.\[\]\"'()]*\.name\b",  # "abc" == tokenizer.name
        rf"encoding\w*[\"']?\]?\)?\s*{compare}\s*[(\[{{]?[^#\n]*{quoted}",  # cfg["encoding"] == "abc"
        rf"{quoted}\s*(?:==|!=)\s*[\w.\[\]\"'()]*encoding",  # "abc" == cfg.encoding
        rf"(?:get_encoding|make_tokenizer|ENCODINGS\[)\(?\s*{quoted}",  # one encoding looked up by name
        rf"from tunesmith\.encodings\.{name} import|import tunesmith\.encodings\.{name}\b",  # its class imported
        r"<style:",  # a condition token spelled by hand (ask tokenizer.style_id)
    ]
    found = re.compile("|".join(f"(?:{p})" for p in patterns))
    return [line.strip() for line in text.splitlines() if found.search(line)]


def test_the_name_scan_catches_name_tests_and_passes_format_tests():
    names = sorted(ENCODINGS)
    bad = [
        'if tokenizer.name == "pianoroll" and getattr(tokenizer.config, "mode", "") == "poly":',
        'formats = ("mid", "abc") if probe.tokenizer.name == "abc" else ("mid",)',
        '"musicxml": tokenizer.name != "abc",',
        'if cfg["encoding"] in ("abc", "event"):',
        'if "pianoroll" == run.encoding:',
        'return tokenizer.index.get("|") if ckpt.get("encoding") == "pianoroll" else None',
        'cls = get_encoding("pianoroll")',
        "from tunesmith.encodings.abc import AbcTokenizer",
        'head.append(self.tokenizer.token_id(f"<style:{self.options.style}>"))',
    ]
    fine = [
        'elif fmt == "abc":',
        'if source_format(Path(path)) not in ("midi", "abc"):',
        'if path.name == "checkpoints":',
        '"abc": tokenizer.text_format == "abc",',
        'report["encoding"] = section',
        "tokenizer = make_tokenizer(args.encoding, **settings)",
    ]
    assert _name_tests("\n".join(bad), names) == bad
    assert _name_tests("\n".join(fine), names) == []


def test_no_stage_outside_the_encodings_package_tests_an_encoding_name():
    names = sorted(ENCODINGS)
    hits = [
        f"{path.relative_to(SRC)}: {line}"
        for path in sorted(SRC.rglob("*.py"))
        if "encodings" not in path.relative_to(SRC).parts
        for line in _name_tests(path.read_text(encoding="utf-8"), names)
    ]
    assert not hits, "ask the tokenizer (a property in encodings/base.py), not its name:\n" + "\n".join(hits)
