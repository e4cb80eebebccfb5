"""``--device`` on generate, evaluate and studio: auto picks what is there, a missing device is one line, CUDA runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from symusic import Score

from tunesmith.cli import main

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = torch.backends.mps.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU: none here (CPU-only PyTorch build or no GPU)")


@pytest.fixture
def run(studio_runs, tmp_path) -> Path:
    """A copy of the tiny trained run (evaluate rewrites its report; the session's run stays as it was)."""
    return Path(shutil.copytree(studio_runs / "tiny", tmp_path / "tiny"))


@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="auto means the CPU only where there is no GPU")
def test_auto_is_the_cpu_here_and_gives_the_cpu_bytes(run, tmp_path):
    args = ["generate", str(run), "--num", "2", "--length", "40", "--seed", "5", "-q"]
    assert main([*args, "--device", "auto", "-o", str(tmp_path / "auto")]) == 0
    assert main([*args, "--device", "cpu", "-o", str(tmp_path / "cpu")]) == 0
    files = sorted((tmp_path / "auto").glob("*.mid"))
    assert len(files) == 2
    assert all(f.read_bytes() == (tmp_path / "cpu" / f.name).read_bytes() for f in files)


@pytest.mark.parametrize(
    "device, present, message",
    [("cuda", HAS_CUDA, "--device cuda: no CUDA device is available"), ("mps", HAS_MPS, "--device mps: Apple MPS")],
)
def test_a_missing_device_is_one_line_for_every_command(device, present, message, run, tmp_path, capsys):
    if present:
        pytest.skip(f"this machine has {device}")
    commands = [
        ["generate", str(run), "-o", str(tmp_path / "o"), "--device", device],
        ["evaluate", str(run), "--samples", "2", "--device", device],
        ["studio", str(run.parent), "--port", "0", "--device", device],
    ]
    for args in commands:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_an_unknown_device_is_refused_by_the_parser(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", str(run), "-o", str(tmp_path / "o"), "--device", "tpu"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice: 'tpu'" in err and len(err.splitlines()) == 1


@needs_cuda
def test_generate_and_evaluate_run_on_cuda(run, tmp_path):
    args = ["generate", str(run), "--num", "2", "--length", "40", "--seed", "5", "--device", "cuda", "-q"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    files = sorted((tmp_path / "a").glob("*.mid"))
    assert len(files) == 2 and all(len(Score(str(f)).tracks[0].notes) > 0 for f in files)
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)  # seeded on the GPU too
    records = json.loads((tmp_path / "a" / "generate.json").read_text())["files"]
    assert all(r["length"]["reached"] == 40 for r in records)

    assert main(["evaluate", str(run), "--samples", "2", "--sample-length", "48", "--device", "cpu", "-q"]) == 0
    on_cpu = json.loads((run / "eval.json").read_text())
    assert main(["evaluate", str(run), "--samples", "2", "--sample-length", "48", "--device", "cuda", "-q"]) == 0
    on_gpu = json.loads((run / "eval.json").read_text())
    assert on_gpu["likelihood"]["network"]["nll"] == pytest.approx(on_cpu["likelihood"]["network"]["nll"], abs=1e-4)
