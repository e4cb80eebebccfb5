"""Data safety: nothing a user already has is lost or silently corrupted (issue 15).

Concurrent writers are refused at once with one line naming the holder; a killed prepare leaves the old corpus whole
and no worker behind; a checkpoint stands alone and refuses changed data; every bad input is one line.
A prepare is held mid-write by a source that is a named pipe: its worker blocks reading it until the test writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from musicgen import make_score, melody, write_song
from tunesmith.checkpoint import load_checkpoint, load_model, save_checkpoint
from tunesmith.cli import main
from tunesmith.corpus.pieces import load_pieces, verify_corpus
from tunesmith.encodings import make_tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.locks import lock_path

SMALL = ["--model-option", "hidden=24", "--model-option", "embed_dim=8", "--seq-len", "16", "--batch-size", "4", "-q"]
WAIT = 120  # seconds: generous, the machine is shared and loaded


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tunesmith: error:") and "Traceback" not in err, err
    return lines[0]


def songs(folder: Path, n: int, offset: int = 0) -> Path:
    for i in range(n):
        score = make_score([{"program": 0, "notes": melody(64, 55 + (i + offset) % 7, seed=i + offset)}])
        folder.mkdir(parents=True, exist_ok=True)
        score.dump_midi(str(folder / f"m{i + offset}.mid"))
    return folder


def prepare_args(sources: list[Path], out: Path, *extra: str) -> list[str]:
    return ["prepare", *map(str, sources), "-o", str(out), "--encoding", "notechord", "--no-cache", "-q", *extra]


def held_prepare(sources: list[Path], out: Path, gate: Path, workers: int = 1) -> subprocess.Popen:
    """A prepare process whose worker blocks on the named pipe ``gate`` (released by ``open_gate``)."""
    os.mkfifo(gate)
    args = prepare_args([*sources, gate], out, "--workers", str(workers), "--file-timeout", "600")
    command = [sys.executable, "-m", "tunesmith", *args]
    # A session of its own, as a command started from a terminal has its own process group, and Ctrl-C handled as a
    # terminal's command handles it: a test runner may have left SIGINT ignored, which the child would inherit.
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def open_gate(gate: Path, seed: int = 99) -> None:
    score = make_score([{"program": 0, "notes": melody(64, 60, seed=seed)}])
    with open(gate, "wb") as fh:  # blocks until the worker opens it for reading
        fh.write(score.dumps_midi())


def holds_lock(directory: Path, pid: int) -> bool:
    path = lock_path(directory)
    return path.is_file() and path.read_text().strip() == str(pid)


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended; only its exit status is left


# ------------------------------------------------------------------------------------------------ prepare
def test_two_prepares_into_one_directory_one_fails_at_once_and_the_other_completes(tmp_path, capsys):
    source = songs(tmp_path / "songs", 6)
    out = tmp_path / "data"
    first = held_prepare([source], out, tmp_path / "gate.mid")
    try:
        wait_for(lambda: holds_lock(out, first.pid), "the first prepare to lock the directory")
        assert main(prepare_args([source], out)) == 2
        line = one_line_error(capsys)
        assert f"being written by PID {first.pid}" in line
        open_gate(tmp_path / "gate.mid")
        _, err = first.communicate(timeout=WAIT)
    finally:
        first.kill()
    assert first.returncode == 0, err
    verify_corpus(out)  # every file as checksums.json recorded it
    assert len(load_pieces(out)) == 7  # the six songs and the one through the gate


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "Ctrl-C to the process group"]
)
def test_killed_prepare_keeps_the_old_corpus_and_leaves_no_worker(sig, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(prepare_args([songs(tmp_path / "old", 5)], out)) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = held_prepare([songs(tmp_path / "new", 8, offset=20)], out, tmp_path / "gate.mid", workers=2)
    try:
        wait_for(lambda: holds_lock(out, proc.pid) and len(children(proc.pid)) >= 2, "the workers to start")
        workers = children(proc.pid)
        wait_for(lambda: any(tmp_path.glob(".data.build-*")), "the new corpus to be started")
        if sig == signal.SIGINT:  # a terminal's Ctrl-C reaches the workers too: they leave it to the parent
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        proc.communicate(timeout=120)  # returns (a busy CI machine may take a while): no worker holds the output open
    finally:
        proc.kill()
    wait_for(lambda: not any(alive(pid) for pid in workers), "the workers to end", timeout=5)
    verify_corpus(out)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(["inspect", str(out), "-q"]) == 0
    if sig != signal.SIGKILL:  # it cleaned up after itself
        assert proc.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[sig]
        assert not any(tmp_path.glob(".data.build-*"))
    assert main(prepare_args([tmp_path / "new"], out)) == 0  # the next prepare removes what a kill left
    assert not any(tmp_path.glob(".data.build-*")) and len(load_pieces(out)) == 8


def test_a_sigterm_that_lands_while_a_worker_is_forked_still_stops_prepare(tmp_path, capsys):
    """It arrives inside the fork's own hooks, where Python ignores exceptions (how the test above once hung)."""
    out = tmp_path / "data"
    assert main(prepare_args([songs(tmp_path / "old", 5)], out)) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    args = prepare_args([songs(tmp_path / "new", 8, offset=20)], out, "--workers", "2")
    script = (
        "import os, signal, sys\n"
        "from tunesmith.cli import main\n"
        "os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGTERM))\n"
        f"sys.exit(main({args!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 143, done.stderr

    def left() -> list[Path]:  # the command's processes (its cmdline names tmp_path), a worker it started included
        return [p for p in Path("/proc").glob("[0-9]*") if str(tmp_path).encode() in _cmdline(p) and alive(int(p.name))]

    wait_for(lambda: not left(), "the worker started before the stop to end", timeout=5)
    assert "Exception ignored" not in done.stderr and "previous corpus there is unchanged" in done.stdout
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not any(tmp_path.glob(".data.build-*"))


def test_a_prepare_that_keeps_nothing_leaves_the_old_corpus(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(prepare_args([songs(tmp_path / "old", 4)], out)) == 0
    before = (out / "tokens" / "train.bin").read_bytes()
    assert main(prepare_args([songs(tmp_path / "old", 4)], out, "--programs", "100")) == 2
    assert "previous corpus there is unchanged" in one_line_error(capsys)
    assert (out / "tokens" / "train.bin").read_bytes() == before
    verify_corpus(out)


def test_prepare_refuses_to_replace_a_folder_that_is_not_a_corpus(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    assert main(prepare_args([songs(tmp_path / "s", 3)], mine)) == 2
    assert "holds files but no prepared corpus" in one_line_error(capsys)
    assert (mine / "thesis.txt").read_text() == "years of work"


# ------------------------------------------------------------------------------------------------- train
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("safety")
    out = root / "data"
    assert main(prepare_args([songs(root / "songs", 12)], out)) == 0
    return out


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", str(data), "-o", str(out), *SMALL, "--epochs", "1", "--steps-per-epoch", "3"]) == 0
    return out


@pytest.mark.slow
def test_two_trains_into_one_run_directory_one_fails_at_once(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", str(data), "-o", str(out), *SMALL, "--epochs", "2", "--steps-per-epoch", "40"]
    first = subprocess.Popen([sys.executable, "-m", "tunesmith", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: holds_lock(out, first.pid) or first.poll() is not None, "the first train to lock its run")
        assert main(args) == 2
        assert f"being written by PID {first.pid}" in one_line_error(capsys)
        assert main(prepare_args([data.parent / "songs"], data)) == 2  # nor may a prepare replace the data being read
        assert "in use by another process" in one_line_error(capsys)
        _, err = first.communicate(timeout=WAIT)
    finally:
        first.kill()
    assert first.returncode == 0, err
    ckpt = load_checkpoint(out, prefer="last.pt")
    assert ckpt.progress["epoch"] == 2 and len(ckpt.history) == 2
    assert (out / "metrics.csv").read_text().count("\n") == 3  # header and the two epochs of this one run
    assert main(args) == 2  # and once it has finished, the directory holds a run
    assert "already holds a run" in one_line_error(capsys)


def test_resume_after_a_re_prepare_is_refused_in_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(prepare_args([songs(tmp_path / "a", 8)], data)) == 0
    out = tmp_path / "run"
    assert main(["train", str(data), "-o", str(out), *SMALL, "--epochs", "1", "--steps-per-epoch", "2"]) == 0
    assert main(prepare_args([songs(tmp_path / "b", 5, offset=40)], data, "--split", "0.6,0.2,0.2")) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "2", "-q"]) == 2
    line = one_line_error(capsys)
    assert "changed since this run was trained on it" in line and "--allow-data-change" in line
    assert main(["train", "--resume", str(out), "--epochs", "2", "-q", "--allow-data-change"]) == 2
    assert "another vocabulary" in one_line_error(capsys)
    assert main(["evaluate", str(out), "-q", "--samples", "2"]) == 2
    assert "changed since" in one_line_error(capsys)
    generate = ["generate", str(out), "-o", str(tmp_path / "gen"), "--length", "8", "-q", "--primer", "random"]
    assert main(generate) == 2  # its windows would be other tokens
    assert "changed since" in one_line_error(capsys) and not list((tmp_path / "gen").glob("*.mid"))
    model, tokenizer, _ = load_model(out)  # generation needs the checkpoint alone, whatever the data became
    assert len(tokenizer) == model.embed.num_embeddings


def test_resume_on_the_same_data_records_its_fingerprint(run, data, capsys):
    fingerprint = load_checkpoint(run, prefer="last.pt").fingerprint
    assert set(fingerprint) == {"tokenizer", "vocab_size", "splits"}
    assert fingerprint["splits"]["train"]["tokens"] > 0


# ----------------------------------------------------------------------------------------- one-line errors
def _write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("prepare-output-is-file", "is a file"),
        ("train-output-is-file", "is a file"),
        ("compare-output-under-file", "which is a file"),
        ("inspect-plot-is-directory", "is a directory"),
        ("data-dir-is-file", "is a file, not a data directory"),
        ("data-dir-missing", "does not exist"),
        ("toml-float-for-int", "batch_size takes an integer"),
        ("toml-string-for-number", "lr takes a number"),
        ("seq-len-too-long", "--seq-len 100000 is longer than the longest training piece"),
        ("inspect-half-written", "damaged"),
    ],
)
def test_bad_input_is_one_line(case, expected, data, run, tmp_path, capsys):
    afile = _write_toml(tmp_path / "afile.txt", "x")
    commands = {
        "prepare-output-is-file": prepare_args([data], afile),
        "train-output-is-file": ["train", str(data), "-o", str(afile), *SMALL],
        "compare-output-under-file": ["compare", str(run), "-o", str(afile / "cmp"), "--no-evaluate"],
        "inspect-plot-is-directory": ["inspect", str(data), "--plot", str(tmp_path), "-q"],
        "data-dir-is-file": ["train", str(afile), "-o", str(tmp_path / "r"), *SMALL],
        "data-dir-missing": ["train", str(tmp_path / "nothing"), "-o", str(tmp_path / "r"), *SMALL],
        "toml-float-for-int": ["train", str(data), "-o", str(tmp_path / "r"), "--config"],
        "toml-string-for-number": ["train", str(data), "-o", str(tmp_path / "r"), "--config"],
        "seq-len-too-long": ["train", str(data), "-o", str(tmp_path / "r"), *SMALL, "--seq-len", "100000"],
        "inspect-half-written": ["inspect", str(tmp_path / "half"), "-q"],
    }
    argv = commands[case]
    if case == "toml-float-for-int":
        argv.append(str(_write_toml(tmp_path / "c.toml", "batch_size = 2.5\n")))
    if case == "toml-string-for-number":
        argv.append(str(_write_toml(tmp_path / "c.toml", 'lr = "fast"\n')))
    if case == "inspect-half-written":  # a corpus whose pieces file was cut short
        half = tmp_path / "half"
        half.mkdir()
        for name in ("pieces.jsonl", "pieces.bin", "checksums.json", "report.json"):
            (half / name).write_bytes((data / name).read_bytes())
        (half / "pieces.bin").write_bytes((data / "pieces.bin").read_bytes()[:100])
        expected = "incomplete or damaged (pieces.bin)"
    capsys.readouterr()
    assert main(argv) == 2
    assert expected in one_line_error(capsys)


def test_resume_of_a_checkpoint_with_missing_fields_or_another_models_weights(run, data, tmp_path, capsys):
    ckpt = load_checkpoint(run, prefer="last.pt")
    bare = tmp_path / "bare"
    save_checkpoint(bare / "checkpoints" / "last.pt", {"model": ckpt.model, "weights": ckpt.weights})
    assert main(["train", "--resume", str(bare), "-q"]) == 2
    assert "lacks tokenizer, config" in one_line_error(capsys)
    with pytest.raises(TunesmithError, match="lacks tokenizer, config"):
        load_model(bare)

    other = tmp_path / "other"
    args = ["train", str(data), "-o", str(other), "--model", "gru", *SMALL, "--epochs", "1", "--steps-per-epoch", "2"]
    assert main(args) == 0
    gru_weights = load_checkpoint(other, prefer="last.pt").weights
    mixed = tmp_path / "mixed"
    keep = ckpt.payload()
    save_checkpoint(mixed / "checkpoints" / "last.pt", {**keep, "weights": gru_weights})
    capsys.readouterr()
    assert main(["train", "--resume", str(mixed), "-q"]) == 2
    assert "does not fit the model it describes" in one_line_error(capsys)

    shrunk = tmp_path / "shrunk"  # a tokenizer that does not match the model's output size
    tokenizer = dict(ckpt.tokenizer, vocab=ckpt.tokenizer["vocab"][:-3])
    save_checkpoint(shrunk / "checkpoints" / "last.pt", {**keep, "tokenizer": tokenizer})
    assert main(["train", "--resume", str(shrunk), "-q"]) == 2
    assert "its model has" in one_line_error(capsys)


class _Payload:
    def __reduce__(self):
        return (os.system, ("true",))


def test_checkpoint_refusal_names_the_blocked_call_and_is_never_cut(tmp_path, capsys):
    evil = tmp_path / "run" / "checkpoints" / "last.pt"
    evil.parent.mkdir(parents=True)
    torch.save({"format": "tunesmith-checkpoint", "weights": _Payload()}, evil)  # what an attacker would share
    assert main(["train", "--resume", str(tmp_path / "run"), "-q"]) == 2
    line = one_line_error(capsys)
    assert "it would call posix.system" in line or "it would call os.system" in line
    assert line.endswith("nothing in it was run)")


def test_nearest_rare_tokens_match_the_full_comparison(tmp_path):
    """The indexed search returns exactly what comparing every rare token with every kept one returns."""
    folder = tmp_path / "songs"
    for seed in range(6):
        write_song(folder / f"s{seed}.mid", seed=seed)
    assert main(["prepare", str(folder), "-o", str(tmp_path / "d"), "--instruments", "all", "-q"]) == 0
    pieces = load_pieces(tmp_path / "d")
    for name in ("notechord", "pseudonote", "pianoroll"):
        tokenizer = make_tokenizer(name, min_token_count=3, rare="nearest").fit(pieces)
        counts = Counter(t for p in pieces for t in tokenizer.tokens(p))
        keep = [t for t, c in counts.items() if c >= 3]
        full = {}
        for token in (t for t, c in counts.items() if c < 3):
            scored = [(d, t) for t in keep if (d := tokenizer.distance(token, t)) is not None]
            if scored:
                full[token] = min(scored)[1]
        assert full and tokenizer.rare_map == full, name
