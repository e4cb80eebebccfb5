"""ABC text that other ABC tools read: headers completed on generated tunes, and any score written as ABC.

music21 reads ABC but has no ABC writer, so a score is written here: each melodic track is a voice (``V:``) with
its General MIDI program (``%%MIDI program``), quantised to sixteenth notes (``L:1/16``), notes sounding together
written as chords, a chord held across a bar line tied, accidentals spelled with sharps and cancelled with
naturals inside the bar as ABC requires. Drum tracks are left out (ABC has no drum notation abc2midi shares).
``check_abc`` runs abc2midi, the reference ABC-to-MIDI converter, on a file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from symusic import Score

from tunesmith.music import gm_name

GRID = 0.25  # quarter notes per ABC unit (L:1/16)
BARS_PER_LINE = 4
REQUIRED = ("X", "T", "M", "L", "K")
_NAMES = ("C", "^C", "D", "^D", "E", "F", "^F", "G", "^G", "A", "^A", "B")


def abc_pitch(pitch: int) -> tuple[str, str]:
    """(accidental, letter with octave marks) of a MIDI pitch: 60 -> ("", "C"), 73 -> ("^", "c")."""
    name = _NAMES[pitch % 12]
    accidental, letter = name[:-1], name[-1]
    octave = pitch // 12 - 1
    if octave >= 5:
        return accidental, letter.lower() + "'" * (octave - 5)
    return accidental, letter + "," * (4 - octave)


def ensure_headers(text: str, title: str, meter: str = "4/4") -> str:
    """A generated tune with every header abc2midi and others need (``X:``, ``T:``, ``M:``, ``L:``, ``K:``).

    Missing fields are added in the standard order, ``X:`` first and ``K:`` last of the header; fields already
    there are kept.
    """
    lines = [line for line in text.strip().splitlines()]
    present = {m.group(1) for line in lines if (m := re.match(r"^([A-Za-z]):", line))}
    body_start = next((i for i, line in enumerate(lines) if not re.match(r"^[A-Za-z]:", line)), len(lines))
    header, body = lines[:body_start], lines[body_start:]
    header = [h for h in header if not h.startswith("X:")]
    keys = [h for h in header if h.startswith("K:")]
    others = [h for h in header if not h.startswith("K:")]
    added = {"T": f"T:{title}", "M": f"M:{meter}", "L": "L:1/8"}
    out = ["X:1"]
    out += [added[k] for k in ("T", "M", "L") if k not in present]
    out += others
    out += keys or ["K:C"]
    return "\n".join(out + body) + "\n"


def score_to_abc(
    score: Score, title: str, composer: str = "", meter: tuple[int, int] = (4, 4), qpm: float = 120
) -> str:
    """Any quarter-time score as an ABC tune, one voice per melodic track."""
    quarter = score.to("quarter") if score.ttype != "quarter" else score
    bar_units = max(round(meter[0] * 4 / meter[1] / GRID), 1)
    tracks = [t for t in quarter.tracks if not t.is_drum and len(t.notes)]
    end = max((_units(n.time + n.duration) for t in tracks for n in t.notes), default=bar_units)
    bars = max(-(-end // bar_units), 1)
    lines = ["X:1", f"T:{title}"]
    if composer:
        lines.append(f"C:{composer}")
    lines += [f"M:{meter[0]}/{meter[1]}", "L:1/16", f"Q:1/4={round(qpm)}"]
    voices = []
    for i, track in enumerate(tracks or [None]):
        name = gm_name(track.program) if track is not None else "Rest"
        lines.append(f'V:{i + 1} name="{name}"')
        voices.append((i + 1, track))
    lines.append("K:C")
    for number, track in voices:
        lines.append(f"V:{number}")
        if track is not None:
            lines.append(f"%%MIDI program {int(track.program)}")
        lines += _voice(track, bars, bar_units)
    return "\n".join(lines) + "\n"


def _units(time: float) -> int:
    return round(float(time) / GRID)


def _voice(track, bars: int, bar_units: int) -> list[str]:
    total = bars * bar_units
    sounding: list[set[int]] = [set() for _ in range(total)]
    onset = [False] * total
    for n in track.notes if track is not None else []:
        start = min(_units(n.time), total - 1)
        stop = min(max(_units(n.time + n.duration), start + 1), total)
        onset[start] = True
        for u in range(start, stop):
            sounding[u].add(int(n.pitch))
    bar_texts = []
    for b in range(bars):
        items, u, marked = [], b * bar_units, set()
        stop = (b + 1) * bar_units
        while u < stop:
            v = u + 1
            while v < stop and not onset[v] and sounding[v] == sounding[u]:
                v += 1
            pitches = sorted(sounding[u])
            length = "" if v - u == 1 else str(v - u)
            if not pitches:
                items.append(f"z{length}")
            else:
                held = v == stop and v < total and not onset[v] and sounding[v] == sounding[u]
                notes = [_spell(p, marked) for p in pitches]
                chord = notes[0] if len(notes) == 1 else "[" + "".join(notes) + "]"
                items.append(f"{chord}{length}" + ("-" if held else ""))
            u = v
        bar_texts.append(" ".join(items))
    lines = []
    for i in range(0, bars, BARS_PER_LINE):
        lines.append(" | ".join(bar_texts[i : i + BARS_PER_LINE]) + (" |]" if i + BARS_PER_LINE >= bars else " |"))
    return lines


def _spell(pitch: int, marked: set[str]) -> str:
    """A note spelled so that no accidental earlier in the bar changes it.

    ABC carries an accidental to the end of the bar (same octave or every octave, depending on the tool), so once a
    letter had one in this bar, every later note of that letter carries its own, a natural included.
    """
    accidental, letter = abc_pitch(pitch)
    base = letter[0].upper()
    if accidental:
        marked.add(base)
        return accidental + letter
    return ("=" + letter) if base in marked else letter


def check_abc(path: Path) -> str | None:
    """None when abc2midi converts the file without an error, else its first error line; None without abc2midi."""
    binary = shutil.which("abc2midi")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [binary, str(path), "-o", str(Path(tmp) / "out.mid")], capture_output=True, text=True, timeout=60
        )
        wrote = (Path(tmp) / "out.mid").is_file()
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "error" in line.lower()]
    if done.returncode != 0 or errors or not wrote:
        return (errors or [f"abc2midi exit code {done.returncode}"])[0].strip()
    return None
