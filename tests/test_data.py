"""Token datasets: splits by song, memory-mapped arrays, windows and streams cut on the fly, augmentation."""

import itertools
import json
import re

import numpy as np
import pytest

from conftest import BOLLYWOOD, JSB
from musicgen import write_song
from tunesmith.cli import main
from tunesmith.data import TokenData, WindowSampler, load_data_tokenizer, split_entries, stream_batches
from tunesmith.errors import TunesmithError
from tunesmith.music import parse_pitch_name


@pytest.fixture
def encoded(tmp_path):
    folder = tmp_path / "songs"
    for seed in range(10):
        write_song(folder / ("folk" if seed % 2 else "jazz") / f"s{seed}.mid", seed=seed)
    out = tmp_path / "data"
    args = ["prepare", str(folder), "-o", str(out), "--instruments", "all", "--encoding", "notechord", "-q"]
    assert main([*args, "--style-tokens", "--split", "0.6,0.2,0.2", "--seed", "3"]) == 0
    return out


def test_splits_are_by_song_and_seeded():
    entries = [{"id": f"{s}-{t}", "source": f"song{s}"} for s in range(20) for t in range(3)]
    a = split_entries(entries, (0.8, 0.1, 0.1), seed=1)
    assert split_entries(entries, (0.8, 0.1, 0.1), seed=1) == a
    songs = {k: {e["source"] for e in v} for k, v in a.items()}
    assert len(songs["valid"]) == 2 and len(songs["test"]) == 2 and len(songs["train"]) == 16
    assert not (songs["train"] & songs["valid"]) and not (songs["train"] & songs["test"])
    fixed = split_entries([{"id": "x", "source": "f", "split": "test"}], (1.0, 0.0, 0.0), seed=0)
    assert [e["id"] for e in fixed["test"]] == ["x"]


def test_prepare_writes_memory_mapped_tokens_and_report(encoded):
    report = json.loads((encoded / "report.json").read_text())["encoding"]
    assert report["encoding"] == "notechord" and report["vocab_size"] > 10 and report["dtype"] == "uint16"
    assert {k: v["pieces"] for k, v in report["splits"].items()} == {"train": 18, "valid": 6, "test": 6}
    tokenizer = load_data_tokenizer(encoded)
    assert tokenizer.styles == ["folk", "jazz"]
    train = TokenData(encoded, "train")
    assert isinstance(train.ids, np.memmap) and len(train) == report["splits"]["train"]["tokens"]
    first = train.piece(0)
    assert first[0] == tokenizer.bos_id and first[-1] == tokenizer.eos_id
    assert tokenizer.decode(first).note_num() > 0


def _stored_windows(data_dir, split: str, seq_len: int, pad_id: int) -> list[list[int]]:
    """Every training window, cut by hand from the split's token file as written: for each piece of two tokens or
    more, ``seq_len + 1`` ids from each start that leaves a target (at least one start), padded to length."""
    folder = data_dir / "tokens"
    stream = np.fromfile(folder / f"{split}.bin", dtype=json.loads((folder / "meta.json").read_text())["dtype"])
    bounds = np.load(folder / f"{split}.idx.npy")
    windows = []
    for start, end in itertools.pairwise(bounds):
        piece = [int(i) for i in stream[start:end]]
        for s in range(max(1, len(piece) - seq_len) if len(piece) >= 2 else 0):
            cut = piece[s : s + seq_len + 1]
            windows.append(cut + [pad_id] * (seq_len + 1 - len(cut)))
    return windows


def test_windows_are_slices_of_the_stored_token_stream(encoded):
    from collections import Counter

    data = TokenData(encoded, "train")
    pad = load_data_tokenizer(encoded).pad_id
    seq_len = int(np.diff(data.bounds).min()) + 3  # the shortest piece is padded, the others give several windows
    expected = _stored_windows(encoded, "train", seq_len, pad)
    assert any(w[-1] == pad for w in expected) and len(expected) > data.n_pieces
    sampler = WindowSampler(data, seq_len=seq_len, batch_size=4, pad_id=pad, seed=0)
    assert sampler.windows == len(expected)
    assert [sampler.window(k).tolist() for k in range(sampler.windows)] == expected
    x, y = sampler.batch()
    assert x.shape == y.shape == (4, seq_len) and x.dtype == np.int64
    assert (x[:, 1:] == y[:, :-1]).all()  # targets are the inputs shifted by one
    # An epoch draws distinct windows, each one of the stored ones.
    drawn = Counter(tuple(np.concatenate([bx, by[:, -1:]], axis=1)[r]) for bx, by in sampler.epoch() for r in range(4))
    assert sum(drawn.values()) == sampler.windows // 4 * 4 and not drawn - Counter(map(tuple, expected))
    seed_mode = WindowSampler(data, seq_len=seq_len, batch_size=4, pad_id=pad, many_to_many=False)
    k = len(expected) - 1
    xw, yw = seed_mode.batch(np.array([k]))
    assert xw.tolist() == [expected[k][:-1]] and yw.tolist() == [expected[k][-1]]  # one target: the next token


def test_short_pieces_are_padded(encoded):
    data = TokenData(encoded, "train")
    longest = int(np.diff(data.bounds).max())
    sampler = WindowSampler(data, seq_len=longest + 10, batch_size=2, pad_id=0)
    x, y = sampler.batch()
    assert x.shape == (2, longest + 10) and (y == 0).any()


def test_streams_continue_row_by_row(encoded):
    data = TokenData(encoded, "train")
    batches = list(stream_batches(data, batch_size=3, seq_len=8))
    (x0, y0), (x1, _) = batches[0], batches[1]
    assert (x0[:, 1:] == y0[:, :-1]).all() and (y0[:, -1] == x1[:, 0]).all()
    joined = np.concatenate([b[0] for b in batches], axis=1)
    per_row = (len(data) - 1) // 3
    assert (joined[1, :16] == np.asarray(data.ids[per_row : per_row + 16])).all()


def test_transposition_on_the_fly(encoded):
    tokenizer = load_data_tokenizer(encoded)
    data = TokenData(encoded, "train")
    tables = {s: tokenizer.transposition_table(s) for s in (-1, 1)}
    sampler = WindowSampler(data, seq_len=12, batch_size=64, pad_id=0, seed=1, tables=tables)
    x, _ = sampler.batch(np.zeros(64, dtype=np.int64))
    plain = sampler.window(0)[:-1]
    assert any((row != plain).any() for row in x)  # some windows were shifted
    for row in x:
        a, b = tokenizer.decode(row), tokenizer.decode(plain)
        shift = {n.pitch - m.pitch for n, m in zip(a.tracks[0].notes, b.tracks[0].notes)}
        assert shift <= {-1, 0, 1} and len(shift) == 1


def test_prepare_time_augmentation_adds_shifted_copies(tmp_path):
    folder = tmp_path / "songs"
    for seed in range(5):
        write_song(folder / f"s{seed}.mid", seed=seed)
    base = ["prepare", str(folder), "--encoding", "pianoroll", "--split", "1,0,0", "-q"]
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    assert main([*base, "-o", str(tmp_path / "b"), "--transpose=-1..1", "--augment-at", "prepare"]) == 0
    assert TokenData(tmp_path / "b", "train").n_pieces == 3 * TokenData(tmp_path / "a", "train").n_pieces


@pytest.mark.parametrize(
    "extra",
    [
        ["--encoding", "nope"],
        ["--encoding", "notechord", "--encoding-option", "colour=red"],
        ["--encoding", "notechord", "--encoding-option", "grid=fast"],
        ["--encoding", "notechord", "--split", "0.5,0.5"],
        ["--encoding", "notechord", "--transpose", "3..9"],
        ["--encoding", "notechord", "--min-token-count", "0"],
    ],
)
def test_bad_encoding_options_are_one_line(extra, tmp_path, capsys, song_dir):
    try:
        code = main(["prepare", str(song_dir), "-o", str(tmp_path / "o"), "-q", *extra])
    except SystemExit as exc:  # a value its flag's parser refuses: argparse's own one line
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(r"tunesmith( prepare)?: error: ", err[0]), err


@pytest.mark.skipif(not JSB.is_dir(), reason="needs ../shared/data/jsb")
def test_jsb_keeps_its_split_and_frames(tmp_path):
    out = tmp_path / "jsb"
    args = ["prepare", str(JSB / "jsb-chorales-quarter.json"), "-o", str(out), "--instruments", "merge", "-q"]
    options = ["--encoding-option", "grid=1.0", "--encoding-option", "mark_onsets=false"]
    assert main([*args, "--encoding", "pianoroll", *options]) == 0
    report = json.loads((out / "report.json").read_text())["encoding"]
    assert {k: v["pieces"] for k, v in report["splits"].items()} == {"train": 229, "valid": 76, "test": 77}
    tokenizer = load_data_tokenizer(out)
    raw = json.loads((JSB / "jsb-chorales-quarter.json").read_text())["test"][0]
    frames, frame = [], []
    for token in tokenizer.strip(TokenData(out, "test").piece(0)):
        if token == "|":
            frames.append(sorted(parse_pitch_name(n) for n in frame))
            frame = []
        else:
            frame.append(token)
    assert frames == [sorted(step) for step in raw]  # one frame per JSB time step, same pitches


def test_missing_token_data_is_a_clear_error(tmp_path):
    with pytest.raises(TunesmithError, match="no token data"):
        TokenData(tmp_path, "train")


@pytest.mark.slow
@pytest.mark.skipif(not BOLLYWOOD.is_dir(), reason="needs ../shared/data/bollywood")
@pytest.mark.parametrize("name", ["notechord", "pseudonote", "pianoroll", "abc", "event"])
def test_bollywood_all_instruments_in_every_encoding(name, tmp_path, capsys):
    out = tmp_path / name
    args = ["prepare", str(BOLLYWOOD), "-o", str(out), "--instruments", "all", "--max-files", "6", "-q"]
    assert main([*args, "--encoding", name]) == 0
    report = json.loads((out / "report.json").read_text())["encoding"]
    assert report["vocab_size"] > 4 and report["splits"]["train"]["tokens"] > 1000
    assert f"encoding {name}: vocabulary" in capsys.readouterr().out
