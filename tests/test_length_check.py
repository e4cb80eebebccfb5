"""A length in notes, bars or seconds stops every row at the token the exact check stops it at, decoding it rarely.

``LengthCheck`` decodes a row only once its encoding's ``Reach`` says it may be long enough. The reference here is
the check generation made before it (``Generator._until`` up to issue #18): decode the whole row at every check and
measure it. Both are asked at every check of real sequences, of the same sequences damaged at random (so meters,
positions and durations come in every order) and of random token soup, for every encoding.
"""

from __future__ import annotations

import random

import pytest
import torch
from symusic import TimeSignature

from musicgen import key_song, make_score, melody, piece_of
from tunesmith.cli import main
from tunesmith.encodings import make_tokenizer
from tunesmith.generate import GenerateConfig, Generator
from tunesmith.length import LengthCheck, Meter, Start, Target, new_length, note_end
from tunesmith.music import Piece

ENCODINGS = {
    "remi-programs": ("event", {"full_vocab": True}),
    "remi-one-stream": ("event", {"use_programs": False, "full_vocab": True}),
    "tsd": ("event", {"scheme": "TSD", "full_vocab": True}),
    "notechord": ("notechord", {}),
    "pseudonote": ("pseudonote", {}),
    "pianoroll-poly": ("pianoroll", {}),
    "pianoroll-mono": ("pianoroll", {"mode": "mono"}),
    "abc": ("abc", {"unit": "char"}),
}
TARGETS = [(1, "bars"), (3, "bars"), (5, "seconds"), (4, "notes"), (20, "notes")]
EVERY = 5  # tokens between checks: many more checks than generation's 64, so every stopping point is compared


def exact_check(tokenizer, prefixes, target, starts):
    """The check before issue #18: each row's whole sequence decoded and measured at every check."""

    def enough(out: torch.Tensor) -> list[bool]:
        done = []
        for i in range(out.shape[0]):
            result = tokenizer.try_decode(prefixes[i] + out[i].tolist())
            done.append(result.ok and new_length(result.score, target.unit, starts[i], target.meter) > target.amount)
        return done

    return enough


def songs() -> list[Piece]:
    """Multi-track songs with drums, a 3/4 one, and one whose meter changes from 4/4 to 6/8 and 3/4."""
    lead = {"program": 73, "notes": melody(40, 72, 1)}
    bass = {"program": 33, "notes": [(b * 2.0, 2.0, 40 + b % 3, 90) for b in range(10)]}
    drums = {"program": 0, "is_drum": True, "notes": [(b * 0.5, 0.25, 36 + b % 3, 100) for b in range(40)]}
    pad = {"program": 48, "notes": [(b * 4.0, 6.0, p, 70) for b in range(5) for p in (60, 64, 67)]}
    waltz = make_score([{"program": 0, "notes": melody(30, 65, 2, step=1.0)}], time_signature=(3, 4))
    changing = make_score([lead, bass])
    changing.time_signatures.append(TimeSignature(4 * 480, 6, 8, ttype="tick"))
    changing.time_signatures.append(TimeSignature(7 * 480, 3, 4, ttype="tick"))
    scores = [make_score([lead, bass, drums, pad]), waltz, changing]
    return [Piece(s.to("quarter"), id=f"song{i}", style="s") for i, s in enumerate(scores)] + [
        piece_of(melody(32, 60, seed, step=0.5 + 0.25 * seed), style="s") for seed in range(3)
    ]


def damaged(ids: list[int], vocab: int, rng: random.Random) -> list[int]:
    """``ids`` with a tenth of its tokens replaced, dropped or doubled, or a random token put in."""
    out = []
    for i in ids:
        roll = rng.random()
        if roll < 0.03:
            out.append(rng.randrange(vocab))
        elif roll < 0.06:
            continue
        elif roll < 0.08:
            out += [i, i]
        elif roll < 0.1:
            out += [i, rng.randrange(vocab)]
        else:
            out.append(i)
    return out


def sequences(tokenizer, pieces, seed: int) -> list[list[int]]:
    """Every piece's body (no BOS, no EOS), a damaged copy of each, and random tokens, some with an EOS in them."""
    rng = random.Random(seed)
    bodies = [tokenizer.encode(p)[1:-1] for p in pieces]
    body_ids = sorted({i for body in bodies for i in body})
    out = bodies + [damaged(body, len(tokenizer), rng) for body in bodies]
    out += [[rng.choice(body_ids) for _ in range(120)] for _ in range(2)]  # soup of the tokens music uses
    out.append([rng.randrange(len(tokenizer)) for _ in range(120)])  # of any token, specials too
    with_eos = list(bodies[0])
    with_eos.insert(len(with_eos) // 2, tokenizer.eos_id)
    return [*out, with_eos]


def fitted(name: str):
    encoding, settings = ENCODINGS[name]
    pieces = songs()
    if encoding == "abc":
        pieces = pieces[3:]  # one-track melodies: symusic writes them as ABC
    return make_tokenizer(encoding, **settings).fit(pieces), pieces


def compare(tokenizer, rows: list[list[int]], prefixes: list[list[int]], starts: list[Start], target: Target):
    """Both checks at every ``EVERY`` tokens, a row padded once found long enough (as ``sample`` pads a finished row).

    Returns the rows found long enough, how many times a row not yet long enough was checked, and how many times
    the new check decoded.
    """
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), tokenizer.pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    new = LengthCheck(tokenizer, prefixes, target, starts)
    old = exact_check(tokenizer, prefixes, target, starts)
    reached: set[int] = set()
    asked = 0
    for t in range(EVERY, width + EVERY, EVERY):
        got, want = new(out[:, :t]), old(out[:, :t])
        assert got == want, (target, t, [i for i, (g, w) in enumerate(zip(got, want)) if g != w])
        asked += len(rows) - len(reached)
        for i in set(range(len(rows))) - reached:
            if want[i]:
                reached.add(i)
                out[i, t:] = tokenizer.pad_id
    return reached, asked, new.decodes


@pytest.mark.parametrize("target", TARGETS, ids=[f"{a}{u}" for a, u in TARGETS])
@pytest.mark.parametrize("name", [name for name in ENCODINGS if name != "abc"])
def test_the_check_answers_as_decoding_every_row_at_every_check(name, target):
    tokenizer, pieces = fitted(name)
    rows = sequences(tokenizer, pieces, seed=len(name))
    meter = Meter(qpm=90.0, bar=3.0) if target[1] == "seconds" else Meter()  # a 3/4 bar at 90 BPM: 2 seconds
    starts = [Start()] * len(rows)
    reached, asked, decodes = compare(tokenizer, rows, [[tokenizer.bos_id]] * len(rows), starts, Target(*target, meter))
    assert len(reached) > len(rows) / 2 and decodes <= asked  # most rows stop; never decoded more often than before


@pytest.mark.parametrize("target", [(2, "bars"), (10, "notes")], ids=["2bars", "10notes"])
def test_abc_has_no_bound_and_is_decoded_at_every_check_as_before(target):
    tokenizer, pieces = fitted("abc")
    rows = [tokenizer.encode(p)[1:-1] for p in pieces[:2]]
    reached, asked, decodes = compare(
        tokenizer, rows, [[tokenizer.bos_id]] * 2, [Start()] * 2, Target(*target, Meter())
    )
    assert reached == {0, 1} and decodes == asked


@pytest.mark.parametrize("name", ["remi-programs", "tsd", "notechord", "pianoroll-poly"])
def test_a_kept_primer_is_not_counted(name):
    """With ``--primer FILE``, the row starts with the primer and only what follows its notes and end counts."""
    tokenizer, pieces = fitted(name)
    primer = tokenizer.encode(pieces[-1])[:-1]  # BOS and the primer's tokens, as _file_primer gives them
    decoded = tokenizer.decode(primer)
    start = Start.of(decoded)
    assert start.notes > 4 and start.time > 4
    rows = [tokenizer.encode(p)[1:-1] for p in pieces[:3]]
    for amount, unit in [(2, "bars"), (4, "seconds"), (10, "notes")]:
        target = Target(amount, unit, Meter())
        reached, asked, decodes = compare(tokenizer, rows, [primer] * len(rows), [start] * len(rows), target)
        assert reached == {0, 1, 2} and decodes < asked / 2
        # Counted from the primer's start instead, each row would stop sooner: the primer's music is not counted.
        alone = LengthCheck(tokenizer, [primer] * len(rows), target, [Start()] * len(rows))
        first = next(t for t in range(EVERY, 10_000, EVERY) if any(alone(_padded(tokenizer, rows, t))))
        assert first == EVERY  # the primer alone is longer than the length asked


def _padded(tokenizer, rows, t: int) -> torch.Tensor:
    out = torch.full((len(rows), t), tokenizer.pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : min(t, len(row))] = torch.tensor(row[:t], dtype=torch.long)
    return out


@pytest.mark.parametrize("name", [name for name in ENCODINGS if name != "abc"])
def test_a_long_row_is_decoded_once_or_twice(name):
    """A 20-bar four-track song checked for 80 % of its length: decoded at a check or two, not at every one."""
    tokenizer, _ = fitted(name)
    tracks = [
        {"program": 73, "notes": melody(160, 72, 3)},
        {"program": 33, "notes": [(b * 1.0, 1.0, 40 + b % 5, 90) for b in range(80)]},
        {"program": 48, "notes": [(b * 4.0, 4.0, p, 70) for b in range(20) for p in (60, 64, 67)]},
        {"program": 0, "is_drum": True, "notes": [(b * 0.5, 0.25, 36 + b % 3, 100) for b in range(160)]},
    ]
    row = tokenizer.encode(Piece(make_score(tracks).to("quarter"), id="long", style="s"))[1:-1]
    bars = new_length(tokenizer.decode(row), "bars", Start(), Meter())
    target = Target(int(bars * 0.8), "bars", Meter())
    every = min(64, len(row) // 20)  # 64 as generation checks, more often for a token a note or a frame
    out = torch.tensor([row])
    check = LengthCheck(tokenizer, [[tokenizer.bos_id]], target, [Start()])
    stop = next(t for t in range(every, len(row) + every, every) if check(out[:, :t])[0])
    # Decoded where it stops, and maybe where it ends exactly at the length: the float32 slack lets that through.
    assert stop < len(row) and stop // every >= 10 and check.decodes <= 3
    reference = exact_check(tokenizer, [[tokenizer.bos_id]], target, [Start()])
    assert [reference(out[:, :t])[0] for t in (stop - every, stop)] == [False, True]


# -- generation end to end: the same files as with the exact check ------------------------------------------------


class ExactCheck:
    """``LengthCheck`` as it was before issue #18, for ``tunesmith.generate`` to use in its place."""

    def __init__(self, tokenizer, prefixes, target, starts) -> None:
        self.check = exact_check(tokenizer, [list(p) for p in prefixes], target, starts)

    def __call__(self, out) -> list[bool]:
        return self.check(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny LSTM of each encoding asked for, trained for seconds on made songs in C major and A minor."""
    root = tmp_path_factory.mktemp("lengths")
    for i in range(4):
        key_song(root / "songs" / f"c{i}.mid", 0, False, seed=i, with_drums=i % 2 == 0)
    made = {}

    def run(encoding: str):
        if encoding not in made:
            data, out = root / f"data-{encoding}", root / f"run-{encoding}"
            args = ["prepare", str(root / "songs"), "-o", str(data), "--encoding", encoding, "--no-cache", "-q"]
            assert main([*args, "--instruments", "merge", "--drums", "keep"]) == 0
            args = ["train", str(data), "-o", str(out), "-q", "--epochs", "10", "--steps-per-epoch", "10"]
            options = ["--model-option", "hidden=64", "--model-option", "embed_dim=32", "--seq-len", "32"]
            assert main([*args, *options, "--batch-size", "8", "--lr", "5e-3"]) == 0
            made[encoding] = out
        return made[encoding]

    return run


def generated(run, exact: bool, monkeypatch, **options) -> list:
    """Three samples through the API, with the new check or (``exact``) the old one; no redraws, so none is lost."""
    with monkeypatch.context() as patched:
        if exact:
            patched.setattr("tunesmith.generate.LengthCheck", ExactCheck)
        config = GenerateConfig(num=3, seed=4, check=False, progress=False, **options)
        return Generator(run, config).generate()


@pytest.mark.parametrize("encoding", ["event", "pianoroll"])
def test_generation_writes_the_bytes_the_exact_check_wrote(encoding, runs, tmp_path, monkeypatch):
    """Same seed and options: the same tokens and MIDI files with the new check and the old, in bars, notes and
    seconds, with and without a kept primer; the primer's music is not counted in the length."""
    run = runs(encoding)
    primer = key_song(tmp_path / "primer.mid", 0, False, seed=9, bars=2, with_drums=False)
    primer_end = 8.0  # two bars of 4/4, the melody's last eighth note ending on the last beat
    cases = {
        "bars": {"length": "3bars", "primer": "none"},
        "notes": {"length": "40notes", "primer": "none"},
        "seconds": {"length": "5s", "tempo": 96.0, "primer": "none"},
        "primer": {"length": "2bars", "primer": str(primer)},
    }
    for case, options in cases.items():
        new, old = (generated(run, exact, monkeypatch, **options) for exact in (False, True))
        assert [s.ids for s in new] == [s.ids for s in old]
        amount = int("".join(c for c in options["length"] if c.isdigit()))
        assert any(s.reached == amount for s in new)  # the check stopped them, not the token budget
        for sample in new:
            sample.save(tmp_path / case / "new")
        for sample in old:
            sample.save(tmp_path / case / "old")
        for path in sorted((tmp_path / case / "new").glob("*.mid")):
            assert path.read_bytes() == (tmp_path / case / "old" / path.name).read_bytes(), (case, path.name)
        if case == "primer":
            for sample in new:  # it stopped past two new bars after the primer, and is cut there
                assert sample.reached == 2 and note_end(sample.result.score) > primer_end + 8
                assert primer_end < note_end(sample.score) <= primer_end + 8 + 1e-3
