"""The drum metrics against MusPy's own on real files (MusPy is a test-only dependency: skipped without it)."""

from pathlib import Path

import pytest
from symusic import Score

from musicgen import write_song
from tunesmith.evaluate.metrics import Notes, drum_in_pattern_rate, drum_pattern_consistency

muspy = pytest.importorskip("muspy")
BOLLYWOOD = Path(__file__).resolve().parents[2] / "shared" / "data" / "bollywood"


@pytest.mark.slow
def test_drum_metrics_equal_muspys(tmp_path):
    files = [write_song(tmp_path / f"song{seed}.mid", seed=seed) for seed in range(2)]
    files += sorted(BOLLYWOOD.glob("*.mid"))[:8] if BOLLYWOOD.is_dir() else []
    for path in files:
        notes, music = Notes.from_score(Score(str(path))), muspy.read_midi(str(path))
        for meter in ("duple", "triple"):
            expected = muspy.drum_in_pattern_rate(music, meter)
            assert drum_in_pattern_rate(notes, meter) == pytest.approx(expected, abs=1e-12), (path.name, meter)
        assert drum_pattern_consistency(notes) == pytest.approx(muspy.drum_pattern_consistency(music), abs=1e-12)
