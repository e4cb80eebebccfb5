"""The trainer: metrics and checkpoints, every target mode, exact resume after SIGKILL, refusal of pickles, DDP."""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from musicgen import make_score, melody
from tunesmith.checkpoint import load_checkpoint, load_model
from tunesmith.cli import main
from tunesmith.errors import TunesmithError

SMALL = ["--model-option", "hidden=48,48", "--model-option", "embed_dim=16", "-q"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Twenty-four one-track melodies, prepared with the notechord encoding."""
    root = tmp_path_factory.mktemp("melodies")
    (root / "songs").mkdir()
    for i in range(24):
        score = make_score([{"program": 0, "notes": melody(96, 60 + i % 5, seed=i)}])
        score.dump_midi(str(root / "songs" / f"m{i}.mid"))
    out = root / "data"
    args = ["prepare", str(root / "songs"), "-o", str(out), "--encoding", "notechord", "--no-cache", "-q"]
    assert main(args) == 0
    return out


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_train_writes_metrics_curves_and_self_contained_checkpoints(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "3", "--seq-len", "32", "--batch-size", "8"]
    assert main([*args, "--sample-every", "2", "--sample-length", "40"]) == 0
    history = rows(run)
    assert [r["epoch"] for r in history] == ["1", "2", "3"]
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    assert all(float(r["valid_perplexity"]) > 1 for r in history)
    assert (run / "curves.png").stat().st_size > 5000
    assert (run / "samples" / "epoch-2.mid").is_file()
    assert "epoch 3: train" in capsys.readouterr().out
    model, tokenizer, ckpt = load_model(run)  # the checkpoint alone: weights, spec, tokenizer
    assert ckpt.progress["epoch"] in (1, 2, 3) and len(tokenizer) == model.embed.num_embeddings
    assert ckpt.config["seq_len"] == 32 and ckpt.config["model"] == "lstm"


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        ["--model", "lstm-seed", "--seq-len", "16", "--steps-per-epoch", "6", "--lr", "1e-3"],  # one target/window
        ["--model", "charrnn", "--seq-len", "16"],  # stateful streams
        ["--model", "gru", "--optimizer", "adamax", "--schedule", "cosine", "--warmup", "3"],
        ["--model", "transformer", "--optimizer", "rmsprop", "--lr", "1e-3", "--schedule", "plateau"],
    ],
    ids=["window", "stream", "gru-adamax-cosine", "transformer-rmsprop"],
)
def test_every_target_mode_and_optimizer_trains(extra, data_dir, tmp_path):
    run = tmp_path / "run"
    options = ["--model-option", "hidden=32", "--model-option", "embed_dim=16"] if "transformer" not in extra else []
    if "charrnn" in extra or "lstm-seed" in extra:
        options = ["--model-option", "hidden=32,32,32", "--model-option", "embed_dim=16"]
    if "transformer" in extra:
        options = ["--model-option", "d_model=32", "--model-option", "heads=2", "--model-option", "layers=1"]
    args = ["train", str(data_dir), "-o", str(run), "-q", "--epochs", "2", "--batch-size", "8", *options, *extra]
    assert main(args) == 0
    history = rows(run)
    assert len(history) == 2 and all(float(r["train_loss"]) > 0 for r in history)


@pytest.mark.slow
def test_early_stopping(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    # Random-walk melodies stop improving after a few epochs at this rate; patience 1 ends the run there.
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "12", "--patience", "1", "--lr", "0.05"]
    assert main([*args, "--seq-len", "16", "--batch-size", "8"]) == 0
    assert len(rows(run)) < 12
    assert "early stop" in capsys.readouterr().out


def test_safety_cap_stops_after_the_epoch_that_reaches_it_and_says_so(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "5", "--max-minutes", "0.00001"]
    assert main([*args, "--seq-len", "16", "--batch-size", "8"]) == 0
    assert len(rows(run)) == 1
    assert "warning: cut short by the safety cap" in capsys.readouterr().out
    record = json.loads((run / "train.json").read_text())
    assert record["cut_short"] and record["epochs"] == 1 and record["epochs_planned"] == 5
    assert record["steps"] == record["steps_per_epoch"] and record["steps_planned"] == 5 * record["steps_per_epoch"]


def test_a_run_cut_short_by_the_cap_goes_on_when_resumed(data_dir, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "2", "--max-minutes", "0.00001"]
    assert main([*args, "--seq-len", "16", "--batch-size", "8"]) == 0
    assert json.loads((run / "train.json").read_text())["cut_short"]
    assert main(["train", "--resume", str(run), "-q"]) == 0  # one more epoch: the budget's last
    record = json.loads((run / "train.json").read_text())
    assert len(rows(run)) == 2 and record["epochs"] == 2 and record["steps"] == record["steps_planned"]
    assert not record["cut_short"]


@pytest.mark.slow
def test_a_run_that_ends_within_its_cap_is_not_cut_short(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "2", "--max-minutes", "60", "--threads", "1"]
    assert main([*args, "--seq-len", "16", "--batch-size", "8"]) == 0
    record = json.loads((run / "train.json").read_text())
    assert not record["cut_short"] and record["steps"] == record["steps_planned"] and record["threads"] == 1
    assert "warning" not in capsys.readouterr().out


@pytest.mark.slow
def test_same_seed_same_numbers(data_dir, tmp_path):
    args = [str(data_dir), *SMALL, "--epochs", "2", "--seq-len", "24", "--batch-size", "8", "--seed", "5"]
    assert main(["train", "-o", str(tmp_path / "a"), *args]) == 0
    assert main(["train", "-o", str(tmp_path / "b"), *args]) == 0
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "targets_per_second")} for r in rs]  # noqa: E731
    assert strip(rows(tmp_path / "a")) == strip(rows(tmp_path / "b"))


def _train_command(data_dir: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tunesmith", "train", str(data_dir), "-o", str(run), *extra]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_same_losses(data_dir, tmp_path):
    common = ["-q", "--model-option", "hidden=192,192", "--epochs", "4", "--seq-len", "48", "--batch-size", "16"]
    common += ["--checkpoint-every", "2", "--steps-per-epoch", "9", "--seed", "11"]
    full = tmp_path / "full"
    subprocess.run(_train_command(data_dir, full, *common), check=True, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(data_dir, run, *common), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.3)  # a little further into the run, so the kill lands between checkpoints
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    progress = load_checkpoint(run, prefer="last.pt").progress  # whole and readable after the kill
    assert progress["epoch"] < 4

    resumed = subprocess.run(
        [sys.executable, "-m", "tunesmith", "train", "--resume", str(run), "-q"], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    keep = ("epoch", "step", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy")
    a = [{k: r[k] for k in keep} for r in rows(full)]
    b = [{k: r[k] for k in keep} for r in rows(run)]
    assert a == b


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_with_a_payload_is_refused_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "run" / "checkpoints" / "last.pt"
    evil.parent.mkdir(parents=True)
    evil.write_bytes(pickle.dumps({"format": "tunesmith-checkpoint", "weights": _Payload(marker)}))
    with pytest.raises(TunesmithError, match="not a tunesmith checkpoint; refused"):
        load_checkpoint(evil)
    assert main(["train", "--resume", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tunesmith: error:") and "refused" in err and len(err.splitlines()) == 1
    torch.save({"something": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(TunesmithError, match="no 'tunesmith-checkpoint' marker"):
        load_checkpoint(tmp_path / "foreign.pt")
    assert not marker.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model-option", "colour=red"], "has no option colour: it has"),
        (["--model-option", "hidden"], "bad --model-option"),
        (["--lr", "-1"], "--lr must be positive"),
        (["--model", "bilstm-seed", "--targets", "stream"], "window model"),
    ],
)
def test_wrong_options_are_one_line(args, message, data_dir, tmp_path, capsys):
    assert main(["train", str(data_dir), "-o", str(tmp_path / "r"), "-q", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_an_existing_run_is_never_overwritten_and_resume_needs_a_run(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", str(data_dir), "-o", str(run), *SMALL, "--epochs", "1"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert main(["train", "--list-models"]) == 0
    assert "bollywood-v4" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(data_dir, tmp_path):
    common = [str(data_dir), "-q", "--model-option", "hidden=32,32", "--model-option", "embed_dim=16"]
    common += ["--model-option", "dropout=0", "--epochs", "1", "--batch-size", "8", "--seq-len", "24"]
    common += ["--device", "cpu", "--valid-batches", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "tunesmith", "train", *common, "-o", str(tmp_path / "one")], env=env, capture_output=True
    )
    assert one.returncode == 0, one.stderr
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
    two = subprocess.run(
        [*launcher, "tunesmith", "train", *common, "-o", str(tmp_path / "two")], env=env, capture_output=True, text=True
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = rows(tmp_path / "one")[0], rows(tmp_path / "two")[0]
    assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-5)
    assert float(a["valid_loss"]) == pytest.approx(float(b["valid_loss"]), rel=1e-5)
