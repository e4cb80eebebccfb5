"""Fine-tuning (``train --init``): the model and weights of a trained run, a fresh optimizer, the same vocabulary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from musicgen import make_score, melody
from tunesmith.checkpoint import load_checkpoint
from tunesmith.cli import main

SMALL = ["--model-option", "hidden=48", "--model-option", "embed_dim=16"]
RUN = ["-q", "--seq-len", "16", "--batch-size", "8", "--steps-per-epoch", "8", "--lr", "1e-2", "--valid-batches", "4"]


def _prepare(root: Path, name: str, pitch: int, encoding: str = "notechord") -> Path:
    songs = root / f"{name}-songs"
    songs.mkdir()
    for i in range(16):
        score = make_score([{"program": 0, "notes": melody(96, pitch + i % 3, seed=i)}])
        score.dump_midi(str(songs / f"m{i}.mid"))
    out = root / name
    assert main(["prepare", str(songs), "-o", str(out), "--encoding", encoding, "--no-cache", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[Path, Path]:
    """A data directory and a tiny LSTM trained on it for three short epochs."""
    root = tmp_path_factory.mktemp("finetune")
    data = _prepare(root, "data", 60)
    run = root / "a"
    assert main(["train", str(data), "-o", str(run), *SMALL, *RUN, "--epochs", "4"]) == 0
    return data, run


def _valid_losses(run: Path) -> list[float]:
    with open(run / "metrics.csv") as fh:
        return [float(r["valid_loss"]) for r in csv.DictReader(fh)]


def test_init_starts_where_the_pretrained_model_ended(pretrained, tmp_path, capsys):
    data, run_a = pretrained
    tuned, fresh = tmp_path / "tuned", tmp_path / "fresh"
    assert main(["train", str(data), "-o", str(tuned), "--init", str(run_a), *RUN, "--epochs", "1"]) == 0
    assert "fine-tuning from" in capsys.readouterr().out
    assert main(["train", str(data), "-o", str(fresh), *SMALL, *RUN, "--epochs", "1"]) == 0
    record = json.loads((tuned / "train.json").read_text())["init"]
    best_a = min(_valid_losses(run_a))
    # Step 0 of the fine-tune is A's best model on the same validation batches: the same loss.
    assert record["valid_loss_at_start"] == pytest.approx(best_a, rel=1e-5)
    assert record["from"].endswith("best.pt") and record["steps"] > 0 and record["preset"] == "lstm"
    # It starts, and stays after an epoch, below a fresh model after its first epoch.
    assert record["valid_loss_at_start"] < _valid_losses(fresh)[0] - 0.2
    assert _valid_losses(tuned)[0] < _valid_losses(fresh)[0] - 0.2
    ckpt = load_checkpoint(tuned)
    assert ckpt.model == load_checkpoint(run_a).model  # the spec came from the checkpoint, not --model
    assert (
        ckpt.progress["step"] == json.loads((tuned / "train.json").read_text())["steps_per_epoch"]
    )  # fresh count: the optimizer and schedule started anew
    assert ckpt.init["valid_loss_at_start"] == record["valid_loss_at_start"]


def test_init_with_another_vocabulary_is_one_line(pretrained, tmp_path, capsys):
    _, run_a = pretrained
    other = _prepare(tmp_path, "other", 80)  # other pitches: another vocabulary
    code = main(["train", str(other), "-o", str(tmp_path / "x"), "--init", str(run_a), *RUN])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "Traceback" not in err
    assert "vocabulary" in err and "only in the" in err and "never resized" in err
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_init_from_a_missing_checkpoint_is_one_line(pretrained, tmp_path, capsys):
    data, _ = pretrained
    code = main(["train", str(data), "-o", str(tmp_path / "x"), "--init", str(tmp_path / "nope.pt"), *RUN])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "checkpoint not found" in err
