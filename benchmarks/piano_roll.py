"""Piano-roll pictures: one collection of note boxes per track against one bar per note, on the same song.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/piano_roll.py``). Writes ``benchmarks/results/piano_roll.json``.
The song is the largest of the Bollywood set (``Chandanamani.mid``, about 17,000 notes in 30 tracks). Each way is
timed once in CPU seconds of this process (drawing and saving the PNG at 100 dpi), after one untimed warm-up on a
small score; the per-note way is the drawing the project used before (``broken_barh`` per note), applied to the same
figure so that only the note drawing differs. The two PNGs are compared pixel by pixel.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from symusic import Score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.rendering import piano_roll_figure

SONG = SHARED / "data" / "bollywood" / "Chandanamani.mid"


def per_note(score: Score, path: Path) -> None:
    """The picture drawn the old way: the same figure, every note its own ``broken_barh`` artist."""
    fig = piano_roll_figure(score, "roll")
    ax = fig.axes[0]
    tracks = [t for t in score.to("quarter").tracks if len(t.notes)]
    for collection, track in zip([c for c in ax.collections if isinstance(c, PolyCollection)], tracks):
        colour = collection.get_facecolor()[0]
        collection.remove()
        for note in track.notes:
            ax.broken_barh([(note.time, max(note.duration, 0.05))], (note.pitch - 0.4, 0.8), facecolors=colour)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def collections(score: Score, path: Path) -> None:
    fig = piano_roll_figure(score, "roll")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    score = Score(str(SONG))
    notes = sum(len(t.notes) for t in score.tracks)
    with tempfile.TemporaryDirectory() as tmp:
        collections(Score(str(SONG)).clip(0, score.tpq * 8), Path(tmp) / "warm.png")
        seconds = {}
        for name, draw in (("collections", collections), ("per_note", per_note)):
            start = time.process_time()
            draw(score, Path(tmp) / f"{name}.png")
            seconds[name] = round(time.process_time() - start, 3)
        a, b = (matplotlib.image.imread(Path(tmp) / f"{name}.png") for name in ("collections", "per_note"))
        differing = int((np.abs(a - b) > 0).any(axis=-1).sum())
    result = {
        "song": SONG.name,
        "notes": notes,
        "tracks": len(score.tracks),
        "cpu_seconds": seconds,
        "speedup": round(seconds["per_note"] / seconds["collections"], 1),
        "differing_pixels": differing,
        "machine": machine(),
    }
    print(write_result("piano_roll", result))
    print(result)


if __name__ == "__main__":
    main()
