"""Writing and rendering: MIDI files, audio through FluidSynth, piano-roll pictures, MusicXML through music21."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from symusic import Score

from tunesmith.errors import TunesmithError
from tunesmith.instruments import gm_name

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts")
INSTALL_HINT = "install them with: sudo apt-get install fluidsynth timgm6mb-soundfont (or `make system-deps`)"


def write_midi(score: Score, path: Path) -> Path:
    """A standard MIDI file: one track per instrument with its program change, tempo and time-signature events."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path


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


def render_wav(midi_path: Path, wav_path: Path, sample_rate: int = 44100) -> Path:
    """Synthesise a MIDI file to WAV with FluidSynth (no audio device, no shell)."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise TunesmithError(f"WAV output needs FluidSynth; {INSTALL_HINT}")
    soundfont = find_soundfont()
    command = [binary, "-ni", "-g", "0.8", "-r", str(sample_rate), "-F", str(wav_path), str(soundfont), str(midi_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not Path(wav_path).is_file():
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise TunesmithError(f"FluidSynth could not render {midi_path}: {reason[-1] if reason else done.returncode}")
    return Path(wav_path)


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
    colours = plt.get_cmap("tab10")
    end = 0.0
    for i, track in enumerate(quarter.tracks):
        if not len(track.notes):
            continue
        colour = "0.6" if track.is_drum else colours(i % 10)
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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
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


def write_musicxml(midi_path: Path, path: Path) -> Path:
    """MusicXML through music21 (quantised by music21's MIDI reader)."""
    from music21 import converter

    try:
        converter.parse(str(midi_path)).write("musicxml", fp=str(path))
    except Exception as exc:  # music21 fails in many ways on odd rhythms; one file is reported, not fatal
        raise TunesmithError(f"music21 could not write MusicXML for {midi_path}: {exc}") from None
    return Path(path)
