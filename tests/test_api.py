"""The Python API: the README's example runs as written, and what it returns is what the CLI writes."""

from __future__ import annotations

import hashlib
import json
import runpy
import wave
from pathlib import Path

import pytest
from symusic import Score

import tunesmith as ts
from tunesmith.cli import main
from tunesmith.errors import TunesmithError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # each trains a model or shares the studio tests' trained one


@pytest.fixture
def trained_run(studio_runs) -> Path:
    """The tiny notechord LSTM the studio tests share (trained once per session)."""
    return studio_runs / "tiny"


def test_readme_example_runs_and_writes_what_it_says(tmp_path, capsys):
    example = runpy.run_path(str(ROOT / "examples" / "api_example.py"))
    example["main"](tmp_path)
    out = capsys.readouterr().out
    assert "test NLL" in out and "n-gram" in out
    data = ts.DataDir(tmp_path / "data")
    assert data.has_tokens() and data.read_report()["summary"]["pieces"] == 12
    run = ts.load_run(tmp_path / "run")
    assert run.config.model == "lstm" and run.config.epochs == 2 and len(run.metrics) == 2
    assert run.training["steps"] == run.training["steps_planned"] > 0 and not run.training["cut_short"]
    midi = tmp_path / "samples" / "sample-01.mid"
    assert Score(str(midi)).note_num() > 0 and (tmp_path / "samples" / "sample-01.png").stat().st_size > 1000
    assert run.path.read_eval()["likelihood"]["network"]["nll"] > 0
    with wave.open(str(tmp_path / "listen.wav")) as fh:
        assert fh.getnframes() / fh.getframerate() > 1.0  # four bars at 120 BPM are 8 s


def test_in_memory_samples_are_the_files_the_cli_writes(trained_run, tmp_path):
    run = ts.load_run(trained_run)
    samples = run.generate(num=2, length="3bars", temperature=1.0, seed=7, primer="none")
    assert [s.name for s in samples] == ["sample-01", "sample-02"] and all(s.ok for s in samples)
    for sample in samples:
        assert isinstance(sample.score, Score) and sample.score.note_num() > 0
        assert sample.reached >= 3 and sample.ids[0] == run.tokenizer.bos_id
        assert sample.decoded is not None and sample.settings.seed == 7
    for sample in samples:
        sample.save(tmp_path / "api")
    args = ["generate", str(trained_run), "-o", str(tmp_path / "cli"), "--num", "2", "--length", "3bars"]
    assert main([*args, "--seed", "7", "--primer", "none", "-q"]) == 0
    for name in ("sample-01.mid", "sample-02.mid"):
        api_bytes = (tmp_path / "api" / name).read_bytes()
        assert hashlib.sha256(api_bytes).digest() == hashlib.sha256((tmp_path / "cli" / name).read_bytes()).digest()


def test_api_options_are_checked_like_the_command_line(trained_run, tmp_path):
    run = ts.load_run(trained_run)
    with pytest.raises(TunesmithError, match="--top-p must be in"):
        run.generate(top_p=2.0)
    with pytest.raises(TunesmithError, match="unknown setting"):
        run.generate(temprature=1.0)
    with pytest.raises(TunesmithError, match="unknown prepare option"):
        ts.prepare(["corpus:bach"], tmp_path / "d", max_file=2)
    with pytest.raises(TunesmithError, match="--epochs must be at least 1"):
        ts.train(run.config.data, tmp_path / "r", epochs=0)
    with pytest.raises(TunesmithError, match="render needs"):
        ts.render(Score())


def test_notebook_cells_run_in_order_and_leave_a_sound_and_a_picture(tmp_path, monkeypatch):
    notebook = json.loads((ROOT / "examples" / "api_tour.ipynb").read_text())
    assert notebook["nbformat"] == 4
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    shown = [c for c in code if "IPython.display" in c]  # the cell that plays the result inline, in Jupyter
    assert len(shown) == 1 and 'files["wav"]' in shown[0] and 'files["png"]' in shown[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for source in code:
        if source not in shown:
            exec(compile(source, "api_tour.ipynb", "exec"), scope)
    with wave.open(str(scope["files"]["wav"])) as fh:
        assert fh.getnframes() > fh.getframerate()
    assert scope["files"]["png"].stat().st_size > 1000 and scope["evaluation"].nll > 0
