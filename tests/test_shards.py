"""Sharded prepare: shards 1/N .. N/N merged give the corpus one prepare gives, byte for byte, tokens included."""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from musicgen import write_song
from tunesmith.cli import main
from tunesmith.corpus.shards import shard_bounds

ENCODE = ["--encoding", "notechord", "--transpose=-2..2", "--split", "0.6,0.2,0.2"]


@pytest.fixture
def sources(tmp_path) -> Path:
    """Eleven files in two style folders: nine songs, a corrupt file, and a copy of a song in the other folder."""
    root = tmp_path / "songs"
    for i in range(9):
        write_song(root / ("folk" if i % 2 else "jazz") / f"s{i}.mid", seed=i, with_drums=i % 3 == 0)
    (root / "folk" / "broken.mid").write_bytes(b"MThd not a midi file")
    shutil.copy(root / "folk" / "s1.mid", root / "jazz" / "z-copy.mid")  # in the last shard, its original in the first
    return root


def _files(data: Path) -> dict[str, bytes]:
    """Every file of a data directory except the report (which records seconds and cache hits)."""
    return {
        p.relative_to(data).as_posix(): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file() and p.name not in ("report.json", "checksums.json")
    }


@pytest.mark.parametrize("count", [2, 3])
def test_shards_merged_equal_one_prepare(count, sources, tmp_path):
    assert main(["prepare", str(sources), "-o", str(tmp_path / "whole"), "--seed", "4", "-q", *ENCODE]) == 0
    shards = []
    for k in range(1, count + 1):
        shards.append(tmp_path / f"shard{k}")
        assert (
            main(["prepare", str(sources), "-o", str(shards[-1]), "--seed", "4", "--shard", f"{k}/{count}", "-q"]) == 0
        )
    merged = tmp_path / "merged"
    assert main(["prepare", "--merge", *map(str, reversed(shards)), "-o", str(merged), "-q", *ENCODE]) == 0

    whole, joined = _files(tmp_path / "whole"), _files(merged)
    assert sorted(whole) == sorted(joined)
    assert {"pieces.bin", "pieces.jsonl", "tokenizer.json", "tokens/train.bin", "tokens/test.idx.npy"} <= set(whole)
    assert [name for name in whole if whole[name] != joined[name]] == []
    # The shards split the work: each parsed its own slice, and together they hold every file once.
    reports = [json.loads((s / "report.json").read_text()) for s in shards]
    assert sum(r["summary"]["files_considered"] for r in reports) == 11
    assert all(r["summary"]["files_considered"] < 11 for r in reports)
    one = json.loads((tmp_path / "whole" / "report.json").read_text())
    two = json.loads((merged / "report.json").read_text())
    for key in ("files_found", "files_kept", "files_skipped", "pieces", "notes"):
        assert one["summary"][key] == two["summary"][key], key
    assert one["skipped_by_reason"] == two["skipped_by_reason"] == {"corrupt": 1, "duplicate": 1}
    assert one["encoding"]["splits"] == two["encoding"]["splits"]


def test_shard_slices_cover_the_list_once():
    for total in (0, 1, 7, 20_000):
        for n in (1, 2, 3, 8):
            bounds = [shard_bounds(total, k, n) for k in range(1, n + 1)]
            assert bounds[0][0] == 0 and bounds[-1][1] == total
            assert all(a[1] == b[0] for a, b in pairwise(bounds))
            assert max(e - s for s, e in bounds) - min(e - s for s, e in bounds) <= 1


def test_bad_shard_specs_and_merges_are_one_line(sources, tmp_path, capsys):
    one = tmp_path / "one"
    assert main(["prepare", str(sources), "-o", str(one), "--shard", "1/2", "-q"]) == 0
    other = tmp_path / "other"
    assert main(["prepare", str(sources), "-o", str(other), "--shard", "2/2", "--min-notes", "3", "-q"]) == 0
    whole = tmp_path / "whole"
    assert main(["prepare", str(sources), "-o", str(whole), "-q"]) == 0
    out = str(tmp_path / "out")
    cases = [
        (["prepare", str(sources), "-o", out, "--shard", "3/2"], "bad --shard '3/2': expected K/N"),
        (["prepare", str(sources), "-o", out, "--shard", "two"], "bad --shard 'two'"),
        (["prepare", str(sources), "-o", out, "--shard", "0/2"], "bad --shard '0/2'"),
        (["prepare", str(sources), "-o", out, "--shard", "1/2", "--encoding", "notechord"], "--encoding goes with"),
        (["prepare", "--merge", str(one), "-o", out], "each of the shards 1/2 .. 2/2 once; got 1/2"),
        (["prepare", "--merge", str(one), str(one), "-o", out], "each of the shards 1/2 .. 2/2 once"),
        (["prepare", "--merge", str(one), str(other), "-o", out], "other sources or settings"),
        (["prepare", "--merge", str(one), str(whole), "-o", out], "a whole corpus, not a shard"),
        (["prepare", "--merge", str(one), str(tmp_path / "nope"), "-o", out], "not a data directory"),
        (["prepare", "--merge", str(one), "-o", out, "--workers", "2"], "drop --workers"),
        (["prepare", str(sources), "--merge", str(one), "-o", out], "--merge takes shard directories"),
    ]
    for args, message in cases:
        assert main([*args, "-q"]) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not Path(out).exists()
