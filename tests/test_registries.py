"""Every registry entry does what its name promises: instrument presets, optimizers, schedules, musical metrics.

Each test is parametrised over its registry, so a new entry is tested without a new test.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
import torch
from symusic import Score

from conftest import BOLLYWOOD
from musicgen import write_song
from tunesmith.config import TRAIN_DEFAULTS, TrainConfig
from tunesmith.corpus.readers import read_source
from tunesmith.encodings import make_tokenizer
from tunesmith.evaluate.metrics import METRICS, Notes
from tunesmith.instruments import PRESETS, SITAR, load_instrument_map
from tunesmith.models import build_model, model_spec
from tunesmith.music import Piece
from tunesmith.optimizers import OPTIMIZERS, SCHEDULES
from tunesmith.postprocess import assign_instruments
from tunesmith.trainer import make_optimizer, make_scheduler


@pytest.fixture(scope="module")
def decoded(tmp_path_factory) -> Score:
    """A song read from MIDI, encoded and decoded again (notechord): the kind of score generation hands on."""
    path = write_song(tmp_path_factory.mktemp("song") / "song.mid", seed=4)
    (parsed,), _ = read_source(path, path.read_bytes(), 480)
    piece = Piece(parsed.score.to("quarter"), id="song")
    tokenizer = make_tokenizer("notechord").fit([piece])
    score = tokenizer.decode(tokenizer.encode(piece))
    assert len({n.pitch for t in score.tracks for n in t.notes}) >= 8  # enough registers for every part
    return score


def _pitched(score: Score) -> list[int]:
    return sorted(n.pitch for t in score.tracks if not t.is_drum for n in t.notes)


# -- instrument presets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_instrument_preset_gives_the_programs_it_promises(name, decoded):
    preset = PRESETS[name]
    assert preset.about and preset.maps
    given = set()
    for seed in range(24):  # a preset that draws per sample (random-indian) reaches each of its choices
        mapping = load_instrument_map(name, random.Random(seed))
        assert mapping in preset.maps
        out = assign_instruments(decoded, mapping)
        assert [t.program for t in out.tracks] == [p.program for p in mapping.parts]  # every part, low to high
        assert [t.name for t in out.tracks] == [p.name for p in mapping.parts]
        assert _pitched(out) == _pitched(decoded)  # no note lost or made up
        tops = [(min(n.pitch for n in t.notes), max(n.pitch for n in t.notes)) for t in out.tracks]
        assert all(high <= low for (_, high), (low, _) in itertools.pairwise(tops))  # registers from low to high
        given.add(mapping)
    assert given == set(preset.maps)


def test_random_indian_is_one_of_the_three_instruments_per_sample_and_the_seed_decides():
    assert {m.parts[0].program for m in PRESETS["random-indian"].maps} == {SITAR, 111, 73}
    assert all(len(m.parts) == 1 for m in PRESETS["random-indian"].maps)
    draws = [load_instrument_map("random-indian", random.Random(s)) for s in range(8)]
    assert draws == [load_instrument_map("random-indian", random.Random(s)) for s in range(8)]


def test_an_instrument_file_splits_by_its_ranges(tmp_path, decoded):
    spec = tmp_path / "duo.toml"
    spec.write_text('[[part]]\nprogram = 32\nname = "Bass"\nhigh = 59\n[[part]]\nprogram = 40\nlow = 60\n')
    out = assign_instruments(decoded, load_instrument_map(str(spec)))
    assert [t.program for t in out.tracks] == [32, 40]
    assert max(n.pitch for n in out.tracks[0].notes) <= 59 < 60 <= min(n.pitch for n in out.tracks[1].notes)
    assert out.tracks[1].name == "Violin"  # no name given: the General MIDI one


# -- optimizers and schedules ---------------------------------------------------------------------------------------
def _tiny_model_and_batch():
    torch.manual_seed(0)
    model = build_model(model_spec("lstm", 20, {"hidden": [16], "embed_dim": 8, "dropout": 0.0}))
    x = torch.randint(0, 20, (4, 12), generator=torch.Generator().manual_seed(1))
    return model, x[:, :-1], x[:, 1:]


def _loss(model, x, y) -> torch.Tensor:
    logits, _ = model(x)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, -logits.shape[1] :].reshape(-1))


def _config(**options) -> TrainConfig:
    return TrainConfig(**{**TRAIN_DEFAULTS, "targets": None, "lr": 1e-2, "momentum": 0.9, **options})


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_builds_and_its_steps_lower_the_loss(name):
    model, x, y = _tiny_model_and_batch()
    optimizer = make_optimizer(_config(optimizer=name), model.parameters())
    assert type(optimizer).__name__.lower() == name  # the torch optimizer of that name
    before = _loss(model, x, y).item()
    for _ in range(5):
        optimizer.zero_grad()
        _loss(model, x, y).backward()
        optimizer.step()
    after = _loss(model, x, y).item()
    assert math.isfinite(after) and after < before


# The learning rate over 40 steps (4 of warm-up) as a share of the configured one: start, after warm-up, end.
SCHEDULE_SHAPES = {"none": (0.25, 1.0, 1.0), "cosine": (0.25, 1.0, 0.05), "step": (0.25, 1.0, 0.0625)}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_builds_and_moves_the_learning_rate(name):
    model, x, y = _tiny_model_and_batch()
    cfg = _config(optimizer="adamw", schedule=name, warmup=4)
    optimizer = make_optimizer(cfg, model.parameters())
    scheduler = make_scheduler(cfg, optimizer, total_steps=40)
    lrs = [optimizer.param_groups[0]["lr"] / cfg.lr]
    for _ in range(40):
        optimizer.zero_grad()
        _loss(model, x, y).backward()
        optimizer.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(1.0)  # a validation loss that never improves
        else:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"] / cfg.lr)
    assert all(0 < lr <= 1 for lr in lrs)
    if name == "plateau":  # per epoch: halved whenever the loss has not improved for longer than the patience
        assert lrs[0] == 1 and lrs[-1] < 1 and all(b <= a for a, b in itertools.pairwise(lrs))
        assert all(math.log2(lr).is_integer() for lr in lrs)
    else:
        start, top, end = SCHEDULE_SHAPES[name]
        assert (lrs[0], lrs[3], lrs[-1]) == pytest.approx((start, top, end), abs=1e-3)
    assert scheduler.state_dict()  # it goes into the checkpoint


# -- musical metrics ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def metric_scores(tmp_path_factory) -> dict[str, Notes]:
    """A small song of our own (with drums) and the first real Bollywood songs, which the evaluation's reference
    statistics are computed from."""
    path = write_song(tmp_path_factory.mktemp("metrics") / "song.mid", seed=2)
    scores = {"tiny": Notes.from_score(Score(str(path), ttype="quarter"))}
    for song in sorted(BOLLYWOOD.glob("*.mid"))[:3] if BOLLYWOOD.is_dir() else []:
        scores[song.stem] = Notes.from_score(Score(str(song), ttype="quarter"))
    return scores


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_is_finite_on_a_tiny_song_and_on_real_songs(name, metric_scores):
    if len(metric_scores) == 1:
        pytest.skip("needs ../shared/data/bollywood")
    for which, notes in metric_scores.items():
        value = np.asarray(METRICS[name](notes), dtype=float)
        assert value.size and np.isfinite(value).all(), (which, value)
