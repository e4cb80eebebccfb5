from pathlib import Path

import pytest

from tunesmith.corpus.sources import list_corpora, resolve_sources, source_format, subset
from tunesmith.errors import TunesmithError


def test_folder_is_searched_recursively_in_any_letter_case(song_dir: Path):
    files = resolve_sources([str(song_dir)])
    assert [f.path.name for f in files] == ["a.mid", "b.MID", "c.midi"]
    assert [f.style for f in files] == ["folk", "folk", "jazz"]


def test_glob_and_duplicates_collapse(song_dir: Path):
    files = resolve_sources([str(song_dir / "folk" / "*"), str(song_dir / "folk" / "a.mid")])
    assert [f.path.name for f in files] == ["a.mid", "b.MID"]


def test_formats_by_suffix():
    assert source_format("x.KAR") == "midi"
    assert source_format("x.mxl") == "musicxml"
    assert source_format("x.krn") == "humdrum"
    assert source_format("x.abc") == "abc"
    assert source_format("x.txt") is None


def test_named_corpora_from_music21():
    corpora = list_corpora()
    assert corpora["bach"][1] > 300
    assert corpora["essen"][0].name == "essenFolksong"
    files = resolve_sources(["corpus:oneills"])
    assert files and all(f.path.suffix == ".abc" for f in files)


def test_unknown_sources_are_one_line_errors(tmp_path):
    with pytest.raises(TunesmithError, match="unknown corpus"):
        resolve_sources(["corpus:nope"])
    with pytest.raises(TunesmithError, match="no such file"):
        resolve_sources([str(tmp_path / "missing.mid")])
    with pytest.raises(TunesmithError, match="no file matches"):
        resolve_sources([str(tmp_path / "*.mid")])


def test_sample_is_seeded_and_keeps_order(song_dir: Path):
    files = resolve_sources([str(song_dir)])
    a = subset(files, sample=2, max_files=None, seed=7)
    assert a == subset(files, sample=2, max_files=None, seed=7)
    assert len(a) == 2 and a == sorted(a, key=lambda f: str(f.path))
    assert subset(files, sample=None, max_files=1, seed=0) == files[:1]
