import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from musicgen import make_score, melody
from tunesmith.rendering import piano_roll_figure, plot_piano_roll

matplotlib.use("Agg")


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


@pytest.mark.slow
def test_piano_roll_draws_every_note_as_one_bar_per_note_would():
    score = make_score(
        [
            {"program": 73, "notes": melody(300, 72, seed=1, step=0.25)},
            {"program": 33, "notes": [(b * 2.0, 2.0, 40 + (b % 5), 90) for b in range(40)]},
            {"program": 0, "notes": []},
            {"program": 0, "is_drum": True, "notes": [(b * 0.5, 0.01, 36 + b % 3, 100) for b in range(150)]},
        ]
    )
    fig = piano_roll_figure(score, "roll")
    ax = fig.axes[0]
    collections = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert [len(c.get_paths()) for c in collections] == [300, 40, 150]  # one artist per non-empty track
    fast = _pixels(fig)
    # The oracle: the same axes with each note drawn as its own bar, as the slow version did.
    quarter = score.to("quarter")
    for collection, track in zip(collections, [t for t in quarter.tracks if len(t.notes)]):
        colour = collection.get_facecolor()[0]
        collection.remove()
        for note in track.notes:
            ax.broken_barh([(note.time, max(note.duration, 0.05))], (note.pitch - 0.4, 0.8), facecolors=colour)
    slow = _pixels(fig)
    assert (fast != slow).any(axis=-1).sum() == 0
    assert (fast[..., :3] != 255).any(axis=-1).sum() > 5_000  # notes were drawn, not a blank canvas


def test_piano_roll_png(tmp_path):
    path = plot_piano_roll(make_score([{"program": 0, "notes": melody(20)}]), tmp_path / "x.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
