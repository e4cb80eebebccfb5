"""Reading one source file into parsed pieces: MIDI through symusic, everything else through music21.

Every reader returns ``symusic.Score`` objects in tick time; the rest of the program sees quarter-note time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from symusic import Score

from tunesmith.corpus.sources import source_format


class UnreadableFile(Exception):
    """A source file that cannot give any music; ``reason`` is one of the report's skip reasons."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class ParsedPiece:
    """One piece read from a file: an ABC file gives one per tune, other files one (or one per opus score)."""

    score: Score  # tick time
    title: str
    abc: str | None = None
    split: str | None = None  # a split fixed by the source (the JSB benchmark's train/valid/test)


@dataclass
class FailedPiece:
    """A tune or movement inside a file that could not be read while its siblings could."""

    title: str
    reason: str


def read_source(
    path: Path, data: bytes, grid: int, on_piece: Callable[[], None] | None = None, fmt: str | None = ""
) -> tuple[list[ParsedPiece], list[FailedPiece]]:
    """Parse the bytes of ``path`` by its format; raises ``UnreadableFile`` when nothing can be read.

    ``on_piece`` is called after each tune of a multi-tune ABC file, so a caller can apply its time limit per
    tune rather than to a whole songbook. ``fmt``: the format when the caller knows it (``source_format(path)``).
    """
    fmt = source_format(path) if fmt == "" else fmt
    if fmt is None:
        raise UnreadableFile("unsupported format", f"suffix {path.suffix or '(none)'!r}")
    if not data:
        raise UnreadableFile("empty", "zero bytes")
    if fmt == "midi":
        return [ParsedPiece(_read_midi(data), path.stem)], []
    if fmt == "jsb":
        return read_jsb(data, path.stem, grid), []
    if fmt == "abc":
        text = data.decode("latin-1") if _not_utf8(data) else data.decode("utf-8")
        return _read_abc(text, path.stem, grid, on_piece)
    return _read_music21_file(path, grid), []


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _read_midi(data: bytes) -> Score:
    try:
        return Score.from_midi(data, sanitize_data=True)
    except Exception as exc:  # symusic raises RuntimeError with its own message for every malformed file
        raise UnreadableFile("corrupt", _clean(str(exc))) from None


def _clean(message: str) -> str:
    message = message.replace("MiniMidi: ", "").replace(": iostream error", "")
    return " ".join(message.split())[:200]


_TUNE_START = re.compile(r"^X:", re.MULTILINE)


def split_abc_tunes(text: str) -> list[str]:
    """Split an ABC file into tunes; the file header (lines before the first ``X:``) is prepended to each."""
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    if not starts:
        return [text] if text.strip() else []
    header = text[: starts[0]].strip()
    header_lines = "\n".join(line for line in header.splitlines() if re.match(r"^[A-Za-z]:", line))
    tunes = []
    for start, end in zip(starts, [*starts[1:], len(text)]):
        tune = text[start:end].strip()
        tunes.append(f"{header_lines}\n{tune}" if header_lines else tune)
    return tunes


def abc_title(tune: str, default: str) -> str:
    """The first ``T:`` field of a tune, else ``default``."""
    match = re.search(r"^T:\s*(.+)$", tune, re.MULTILINE)
    return match.group(1).strip() if match else default


def _read_abc(
    text: str, stem: str, grid: int, on_piece: Callable[[], None] | None
) -> tuple[list[ParsedPiece], list[FailedPiece]]:
    from music21 import converter

    pieces: list[ParsedPiece] = []
    failed: list[FailedPiece] = []
    tunes = split_abc_tunes(text)
    if not tunes:
        raise UnreadableFile("empty", "no ABC tune in file")
    for index, tune in enumerate(tunes):
        if on_piece is not None and index:
            on_piece()
        title = abc_title(tune, f"{stem} #{index + 1}")
        try:
            stream = converter.parse(tune, format="abc")
            score = music21_to_score(stream, grid)
        except Exception as exc:  # music21 raises many types for malformed ABC
            failed.append(FailedPiece(title, f"corrupt: {type(exc).__name__}: {_clean(str(exc))}"))
            continue
        pieces.append(ParsedPiece(score, title, abc=tune))
    if not pieces:
        reason = failed[0].reason if failed else "corrupt"
        raise UnreadableFile(reason.split(":")[0], f"none of {len(tunes)} tune(s) parsed; first: {reason}")
    return pieces, failed


def _read_music21_file(path: Path, grid: int) -> list[ParsedPiece]:
    from music21 import converter, stream

    try:
        # forceSource: music21 would store a pickle of the file in its scratch folder, keyed by the path, and read
        # it on the next parse of that path; tunesmith's own cache is keyed by the bytes, and --no-cache means none.
        parsed = converter.parse(str(path), forceSource=True)
    except Exception as exc:
        raise UnreadableFile("corrupt", f"{type(exc).__name__}: {_clean(str(exc))}") from None
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    pieces = []
    for index, part in enumerate(scores):
        title = (part.metadata.title if part.metadata and part.metadata.title else None) or path.stem
        if len(scores) > 1:
            title = f"{title} #{index + 1}"
        try:
            pieces.append(ParsedPiece(music21_to_score(part, grid), title))
        except Exception as exc:
            raise UnreadableFile("corrupt", f"{type(exc).__name__}: {_clean(str(exc))}") from None
    return pieces


def music21_to_score(m21_stream, grid: int) -> Score:
    """Convert through music21's own MIDI writer (repeats played out), then resample to ``grid`` ticks per quarter.

    A piece whose repeat signs cannot be played out (badly formed in the source) is written once through.
    """
    from music21.midi.translate import streamToMidiFile
    from music21.repeat import ExpanderException

    try:
        midi_bytes = streamToMidiFile(m21_stream).writestr()
    except ExpanderException:
        _drop_repeats(m21_stream)
        midi_bytes = streamToMidiFile(m21_stream).writestr()
    score = Score.from_midi(midi_bytes)
    return score.resample(tpq=grid, min_dur=1) if score.ticks_per_quarter != grid else score


def _drop_repeats(m21_stream) -> None:
    from music21 import bar, repeat

    for element in list(m21_stream.recurse().getElementsByClass((repeat.RepeatMark, repeat.RepeatExpression))):
        site = element.activeSite
        if isinstance(element, bar.Repeat):
            measure = site
            plain = bar.Barline("regular")
            if measure.leftBarline is element:
                measure.leftBarline = plain
            elif measure.rightBarline is element:
                measure.rightBarline = plain
            else:
                site.remove(element)
        else:
            site.remove(element)


def read_jsb(data: bytes, stem: str, grid: int) -> list[ParsedPiece]:
    """JSB Chorales JSON (``{"train"|"valid"|"test": [piece]}``, a piece a list of steps of MIDI pitches).

    The step length comes from the file name (``quarter``, ``8th``, ``16th``; default a quarter). A pitch sounding
    in consecutive steps becomes one held note, since the data does not tell held from repeated notes.
    """
    import json

    try:
        splits = json.loads(data)
        assert isinstance(splits, dict) and set(splits) <= {"train", "valid", "test"}
    except (ValueError, AssertionError):
        raise UnreadableFile("corrupt", "not a JSB JSON file with train/valid/test lists") from None
    step = grid // 4 if "16th" in stem else grid // 2 if "8th" in stem else grid
    pieces = []
    for split in ("train", "valid", "test"):
        for i, steps in enumerate(splits.get(split, [])):
            pieces.append(ParsedPiece(_steps_to_score(steps, step, grid), f"{split} #{i}", split=split))
    return pieces


def _steps_to_score(steps: list[list[int]], step: int, grid: int) -> Score:
    from symusic import Note, Tempo, TimeSignature, Track

    score = Score(grid)
    score.tempos.append(Tempo(0, qpm=100.0, ttype="tick"))
    score.time_signatures.append(TimeSignature(0, 4, 4, ttype="tick"))
    track = Track("Chorale", 52, False, ttype="tick")
    active: dict[int, int] = {}
    for t, pitches in enumerate([*steps, []]):
        now = {int(p) for p in pitches if int(p) >= 0}
        for p in [p for p in active if p not in now]:
            track.notes.append(Note(active[p] * step, (t - active[p]) * step, p, 80, "tick"))
            del active[p]
        for p in now - set(active):
            active[p] = t
    track.notes.sort()
    score.tracks.append(track)
    return score
