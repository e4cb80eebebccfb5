"""The command line: real subcommands on real files; wrong input gets one line, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BOLLYWOOD
from tunesmith.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunesmith", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # one subprocess (a fresh interpreter) per case
@pytest.mark.parametrize(
    "args",
    [
        ["prepare", "x", "-o", "y", "--instruments", "loud"],
        ["prepare", "x", "-o", "y", "--workers", "many"],
        ["prepare", "/no/such/folder", "-o", "OUT"],
        ["prepare", "corpus:nope", "-o", "OUT"],
        ["prepare", "x.mid"],
        ["prepare", "x", "-o", "y", "--programs", "0-200"],
        ["prepare", "x", "-o", "y", "--file-timeout", "-1"],
        ["inspect", "/no/such/dir"],
        ["frobnicate"],
    ],
)
def test_wrong_input_gets_one_line(args, tmp_path):
    result = run_cli(*[a.replace("OUT", str(tmp_path / "o")) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_no_piece_kept_is_an_error(tmp_path, capsys):
    (tmp_path / "bad.mid").write_bytes(b"garbage")
    assert main(["prepare", str(tmp_path), "-o", str(tmp_path / "out"), "-q"]) == 2
    captured = capsys.readouterr()
    assert "skipped" in captured.out and "bad.mid: corrupt" in captured.out
    assert captured.err.strip().startswith("tunesmith: error: no piece was kept")


@pytest.mark.slow
@pytest.mark.skipif(not BOLLYWOOD.is_dir(), reason="needs ../shared/data/bollywood")
def test_bollywood_all_instruments_keeps_every_song(tmp_path, capsys):
    out = tmp_path / "bw"
    assert main(["prepare", str(BOLLYWOOD), "-o", str(out), "--instruments", "all", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["files_found"] == 71
    assert report["summary"]["files_kept"] == 71 and report["summary"]["files_skipped"] == 0
    for record in report["files"]:
        tracks = [t for piece in record["pieces"] for t in piece["tracks"]]
        assert tracks and all(t["instrument"] and t["notes"] >= 5 and not t["is_drum"] for t in tracks)
    names = {t["instrument"] for r in report["files"] for p in r["pieces"] for t in p["tracks"]}
    assert {"Sitar", "Flute", "String Ensemble 1"} <= names

    capsys.readouterr()
    plot = tmp_path / "stats.png"
    assert main(["inspect", str(out), "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "pitch range" in text and "Sitar" in text and "most frequent" in text
    assert plot.stat().st_size > 10_000


def test_inspect_sources_directly_counts_drums(song_dir: Path, capsys):
    assert main(["inspect", str(song_dir), "-q"]) == 0
    text = capsys.readouterr().out
    assert "pieces: 3" in text and "drum" in text and "Drums" in text and "Flute" in text


@pytest.mark.slow  # subprocesses
def test_list_corpora_and_help():
    result = run_cli("prepare", "--list-corpora")
    assert result.returncode == 0 and "corpus:bach" in result.stdout and "corpus:essen" in result.stdout
    for sub in ("prepare", "inspect"):
        assert run_cli(sub, "--help").returncode == 0


def test_config_file_and_flags(tmp_path, song_dir, capsys):
    config = tmp_path / "prep.toml"
    config.write_text(f'sources = ["{song_dir}"]\n[select]\ninstruments = "all"\ndrums = "keep"\n')
    out = tmp_path / "out"
    assert main(["prepare", "--config", str(config), "-o", str(out), "--drums", "drop", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["select"] == {"instruments": "all", "min_notes": 5, "drums": "drop"}
    assert report["summary"]["pieces"] == 9
    assert "instruments" in (out / "prepare.toml").read_text()
