"""Writing and rendering: MIDI files, audio through FluidSynth, piano-roll pictures, MusicXML through music21."""

from __future__ import annotations

import glob
import math
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from symusic import Score

from tunesmith.config import MAX_SECONDS  # declared there: generate's options read it without numpy
from tunesmith.errors import TunesmithError
from tunesmith.music import gm_name
from tunesmith.quiet import captured, summarise

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts")
TAIL_SECONDS = 1.0  # release after the last note
INSTALL_HINT = "install them with: sudo apt-get install fluidsynth timgm6mb-soundfont (or `make system-deps`)"


def write_midi(score: Score, path: Path, title: str | None = None, composer: str | None = None) -> Path:
    """A standard MIDI file: one track per instrument with its program change, tempo and time-signature events.

    With a ``title`` (or ``composer``) the file gets a first, conductor track named after the title, with the
    composer as a text event and the tempo, meter and key events (where pretty_midi and others look for them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    if title or composer:
        _add_conductor(path, title or "", composer)
    return path


def _add_conductor(path: Path, title: str, composer: str | None) -> None:
    import mido

    mid = mido.MidiFile(str(path))
    conductor_events: list[tuple[int, mido.MetaMessage]] = []
    tracks = []
    for track in mid.tracks:
        now, kept = 0, []
        for msg in track:
            now += msg.time
            if msg.is_meta and msg.type in ("set_tempo", "time_signature", "key_signature"):
                conductor_events.append((now, msg.copy(time=0)))
            elif msg.type != "end_of_track":
                kept.append((now, msg.copy(time=0)))
        tracks.append(kept)
    head = [(0, mido.MetaMessage("track_name", name=title))]
    if composer:
        head.append((0, mido.MetaMessage("text", text=f"composer: {composer}")))
    out = mido.MidiFile(type=1, ticks_per_beat=mid.ticks_per_beat)
    for events in [head + sorted(conductor_events, key=lambda e: e[0]), *tracks]:
        track, last = mido.MidiTrack(), 0
        for when, msg in events:
            track.append(msg.copy(time=when - last))
            last = when
        track.append(mido.MetaMessage("end_of_track", time=0))
        out.tracks.append(track)
    out.save(str(path))


def score_seconds(score: Score) -> float:
    """When the last note of ``score`` ends, in seconds (tempo changes included)."""
    seconds = score.to("second")
    return max((float(n.time + n.duration) for t in seconds.tracks for n in t.notes), default=0.0)


def find_soundfont() -> Path:
    """``$TUNESMITH_SOUNDFONT``, else the first General MIDI soundfont of the system packages."""
    env = os.environ.get("TUNESMITH_SOUNDFONT")
    if env:
        if not Path(env).is_file():
            raise TunesmithError(f"TUNESMITH_SOUNDFONT={env} is not a file")
        return Path(env)
    for folder in SOUNDFONT_DIRS:
        found = sorted(glob.glob(f"{folder}/*.sf2"))
        if found:
            return Path(found[0])
    raise TunesmithError(f"WAV output needs a General MIDI soundfont (.sf2); {INSTALL_HINT}")


def render_wav(midi_path: Path, wav_path: Path, sample_rate: int = 44100, max_seconds: float = MAX_SECONDS) -> Path:
    """Synthesise a MIDI file to WAV with FluidSynth (no audio device, no shell).

    The WAV lasts as long as the score (its last note's end plus ``TAIL_SECONDS`` of release), never longer than
    ``max_seconds``: a longer score is cut before FluidSynth sees it, so a stray event far away cannot make
    gigabytes of silence.
    """
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise TunesmithError(f"WAV output needs FluidSynth; {INSTALL_HINT}")
    soundfont = find_soundfont()
    try:
        score = Score(str(midi_path))
    except Exception as exc:  # symusic raises plain RuntimeErrors for damaged files
        raise TunesmithError(f"cannot read {midi_path} as MIDI: {str(exc).splitlines()[0]}") from None
    seconds = score_seconds(score)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(midi_path)
        if seconds > max_seconds:
            cut = score.to("second")
            for track in cut.tracks:
                kept = [n for n in track.notes if n.time < max_seconds]
                for n in kept:
                    n.duration = min(n.duration, max_seconds - n.time)
                track.notes = type(track.notes)(kept)
            source = Path(tmp) / "cut.mid"
            cut.dump_midi(str(source))
        command = [binary, "-ni", "-g", "0.8", "-r", str(sample_rate), "-F", str(wav_path), str(soundfont), str(source)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not Path(wav_path).is_file():
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise TunesmithError(f"FluidSynth could not render {midi_path}: {reason[-1] if reason else done.returncode}")
    trim_wav(wav_path, min(seconds, max_seconds) + TAIL_SECONDS)
    return Path(wav_path)


def wav_seconds(path: Path) -> float:
    """The length of a WAV file in seconds."""
    with wave.open(str(path), "rb") as f:
        return f.getnframes() / f.getframerate()


def trim_wav(path: Path, seconds: float) -> float:
    """Cut a WAV file to at most ``seconds`` in place; returns its length in seconds."""
    with wave.open(str(path), "rb") as f:
        params, rate, total = f.getparams(), f.getframerate(), f.getnframes()
        keep = min(total, math.ceil(seconds * rate))
        frames = f.readframes(keep) if keep < total else b""
    if keep < total:
        with wave.open(str(path), "wb") as f:
            f.setparams(params)
            f.writeframes(frames)
    return keep / rate


def encode_ogg(wav_path: Path, ogg_path: Path) -> Path:
    """An Ogg Vorbis copy of a WAV file, made by ``oggenc`` (Debian's vorbis-tools), for pages a reader plays."""
    binary = shutil.which("oggenc")
    if binary is None:
        raise TunesmithError("OGG output needs oggenc: sudo apt-get install vorbis-tools (or `make system-deps`)")
    done = subprocess.run([binary, "-Q", "-q", "4", "-o", str(ogg_path), str(wav_path)], capture_output=True, text=True)
    if done.returncode != 0 or not Path(ogg_path).is_file():
        raise TunesmithError(f"oggenc could not encode {wav_path}: {done.stderr.strip()[-200:]}")
    return Path(ogg_path)


def plot_piano_roll(score: Score, path: Path, title: str = "") -> Path:
    """A piano roll, one colour per instrument (drums grey), time in quarter notes, saved as PNG."""
    import matplotlib.pyplot as plt

    fig = piano_roll_figure(score, title or Path(path).stem)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def piano_roll_figure(score: Score, title: str):
    """The piano roll's matplotlib figure: one ``PolyCollection`` of note boxes per non-empty track.

    One collection per track keeps the artists few whatever the number of notes: an artist per note took 96 s of
    CPU for a 17,310-note song, the collections 0.9 s, pixel for pixel the same picture.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    quarter = score.to("quarter")
    fig, ax = plt.subplots(figsize=(12, 4.5))
    tracks = [t for t in quarter.tracks if len(t.notes)]
    # a colour of its own per pitched track (up to 18), never the drums' grey
    palette = plt.get_cmap("tab10" if len(tracks) <= 10 else "tab20").colors
    palette = [c for c in palette if len(set(c)) > 1]  # tab10 and tab20 hold greys: the drums'
    end = 0.0
    for i, track in enumerate(tracks):
        colour = "0.6" if track.is_drum else palette[i % len(palette)]
        boxes = note_boxes(track.notes.numpy())
        ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none"))
        label = "Drums" if track.is_drum else f"{track.name or gm_name(track.program)} ({track.program})"
        ax.plot([], [], color=colour, linewidth=6, label=label)
        end = max(end, float(boxes[:, 2, 0].max()))
    ax.autoscale_view(scalex=False)
    ax.set_xlim(0, max(end, 1))
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.grid(alpha=0.25)
    if ax.get_legend_handles_labels()[0]:  # beside the roll, never over its notes
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def note_boxes(notes: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 4, 2) corners of each note's box: onset to offset (at least 0.05 quarter), pitch +- 0.4."""
    start = notes["time"].astype(np.float64)
    stop = start + np.maximum(notes["duration"], 0.05)
    low, high = notes["pitch"] - 0.4, notes["pitch"] + 0.4
    corners = ((start, low), (start, high), (stop, high), (stop, low))
    return np.stack([np.stack(corner, axis=1) for corner in corners], axis=1)


def write_musicxml(midi_path: Path, path: Path, title: str = "", composer: str = "") -> tuple[Path, list[str]]:
    """MusicXML through music21 (quantised by music21's MIDI reader), titled; returns the path and music21's warnings.

    music21 prints some warnings and raises others through ``warnings``: both are caught and summarised, one line
    per distinct message, so that they reach generate.json rather than the terminal raw.
    """
    from music21 import converter, metadata

    messages: list[str] = []
    with captured(messages):
        try:
            # forceSource: no pickle of the sample kept in music21's scratch folder (one per path, never removed)
            score = converter.parse(str(midi_path), forceSource=True)
            score.metadata = metadata.Metadata()
            score.metadata.title = title or Path(path).stem
            score.metadata.movementName = title or Path(path).stem
            score.metadata.composer = composer or "tunesmith"
            score.write("musicxml", fp=str(path))
        except Exception as exc:  # music21 fails in many ways on odd rhythms; one file is reported, not fatal
            raise TunesmithError(f"music21 could not write MusicXML for {midi_path}: {exc}") from None
    return Path(path), summarise(messages)
