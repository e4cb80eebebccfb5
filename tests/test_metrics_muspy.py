"""Our metric values against MusPy's own on real files (MusPy is a test-only dependency)."""

import pytest
from symusic import Score

from conftest import BOLLYWOOD
from musicgen import write_song
from tunesmith.evaluate.metrics import METRICS, Notes

muspy = pytest.importorskip("muspy")

# our name -> MusPy's value for a Music with the drum tracks removed (MusPy counts drums in some metrics)
MUSPY = {
    "pitch_range": lambda m, bar: muspy.pitch_range(m),
    "used_pitches": lambda m, bar: muspy.n_pitches_used(m),
    "used_pitch_classes": lambda m, bar: muspy.n_pitch_classes_used(m),
    "pitch_class_entropy": lambda m, bar: muspy.pitch_class_entropy(m),
    "scale_consistency": lambda m, bar: muspy.scale_consistency(m),
    "empty_beat_rate": lambda m, bar: muspy.empty_beat_rate(m),
    # ours default to 1/12-quarter positions for groove and 16th-note frames for polyphony
    "groove_consistency": lambda m, bar: muspy.groove_consistency(m.deepcopy().adjust_resolution(12), round(12 * bar)),
    "polyphony": lambda m, bar: muspy.polyphony(m.deepcopy().adjust_resolution(4)),
}


def _files(tmp_path):
    made = [write_song(tmp_path / f"song{seed}.mid", seed=seed) for seed in range(3)]
    real = sorted(BOLLYWOOD.glob("*.mid"))[:6] if BOLLYWOOD.is_dir() else []
    return made + real


@pytest.mark.slow
def test_metrics_equal_muspys_on_real_files(tmp_path):
    files = _files(tmp_path)
    for path in files:
        notes = Notes.from_score(Score(str(path)))
        music = muspy.read_midi(str(path))
        music.tracks = [t for t in music.tracks if not t.is_drum]
        for name, theirs in MUSPY.items():
            expected = theirs(music, notes.beats_per_bar)
            assert METRICS[name](notes) == pytest.approx(expected, abs=1e-9), (path.name, name)
    if not BOLLYWOOD.is_dir():
        pytest.skip(f"checked on {len(files)} made files only: {BOLLYWOOD} is absent")
