"""Evaluation: metric values on hand-made pieces, the n-gram baseline, memorisation, `evaluate` and `compare`."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from musicgen import make_score, melody
from tunesmith.cli import main
from tunesmith.config import load_toml
from tunesmith.evaluate.distances import kl_divergence, overlap_area, set_distance
from tunesmith.evaluate.memorisation import PitchNgrams, SuffixAutomaton, TrainingIndex, looks_copied, pitch_lines
from tunesmith.evaluate.metrics import (
    Notes,
    drum_in_pattern_rate,
    drum_pattern_consistency,
    empty_beat_rate,
    groove_consistency,
    ioi_histogram,
    note_density,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    repeated_ngram_ratio,
    scale_consistency,
    used_pitch_classes,
    used_pitches,
)
from tunesmith.evaluate.ngram import KneserNey

# -- metrics on pieces whose values are known by hand ---------------------------------------------------------------

C_MAJOR_SCALE = Notes.of([(i, 1.0, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])


def test_metrics_of_a_c_major_scale():
    n = C_MAJOR_SCALE
    assert pitch_range(n) == 12
    assert used_pitches(n) == 8
    assert used_pitch_classes(n) == 7
    # C twice, six other classes once: -(1/4 log2 1/4 + 6 * 1/8 log2 1/8) = 0.5 + 2.25
    assert pitch_class_entropy(n) == pytest.approx(2.75)
    assert scale_consistency(n) == 1.0
    assert polyphony(n) == 1.0
    assert note_density(n) == 4.0  # 8 notes over 2 bars of 4/4
    assert ioi_histogram(n).tolist() == [0, 0, 0, 1, 0, 0]  # every gap is one quarter
    assert empty_beat_rate(n) == 0.0  # beats 0..8 (MusPy counts the beat the last note ends on), all sounding
    assert groove_consistency(n) == pytest.approx(1 - 4 / 96)  # bars 0..2 as MusPy counts them; the last is empty
    assert repeated_ngram_ratio(n) == 0.0


def test_metrics_of_chords_rests_and_repetition():
    triad_then_note = Notes.of([(0, 4, 60), (0, 4, 64), (0, 4, 67), (8, 1, 72)])
    assert polyphony(triad_then_note) == pytest.approx((16 * 3 + 4 * 1) / 20)  # 16th frames with sound only
    assert empty_beat_rate(triad_then_note) == pytest.approx(3 / 10)  # beats 0..9; sounding in 0..4, 8 and 9
    assert note_density(triad_then_note) == pytest.approx(4 / 3)  # 4 notes, 3 bars (the last note ends at 9)

    busy_then_sparse = Notes.of([(0, 1, 60), (1, 1, 62), (2, 1, 64), (3, 1, 65), (4, 4, 67)])
    # bars 0..2 (the last note ends on bar 2's line): 3 then 1 of 48 1/12-quarter positions differ
    assert groove_consistency(busy_then_sparse) == pytest.approx(1 - 4 / 96)

    riff = Notes.of([(i * 0.5, 0.5, p) for i, p in enumerate([60, 62, 64, 65] * 2)])
    assert repeated_ngram_ratio(riff) == pytest.approx(1 / 5)  # five 4-grams, the last repeats the first

    chromatic = Notes.of([(i, 1, 60 + i) for i in range(12)])
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)

    empty = Notes.of([])
    assert pitch_range(empty) == 0 and polyphony(empty) == 0 and empty_beat_rate(empty) == 1.0


def test_drum_metrics_count_drum_onsets_on_the_16th_and_triplet_grids():
    # Six drum hits: on the beat, a 16th after, an 8th after, a triplet 8th after (1/3), two triplets (2/3), and
    # one 32nd off (1/8): duple grid 0, 1/4, 1/2, 3/4 holds 3 of 6, triple grid 0, 1/3, 2/3 holds 3 of 6 too.
    onsets = [0.0, 1.25, 2.5, 3 + 1 / 3, 4 + 2 / 3, 5.125]
    score = make_score(
        [
            {"program": 0, "notes": [(0, 1, 60, 80)]},
            {"program": 0, "is_drum": True, "notes": [(t, 0.1, 38, 100) for t in onsets]},
        ],
        tpq=480,
    )
    notes = Notes.from_score(score.to("quarter"))
    assert notes.drum_onset.size == 6 and len(notes) == 1  # drums are not pitched notes
    assert drum_in_pattern_rate(notes, "duple") == pytest.approx(3 / 6)
    assert drum_in_pattern_rate(notes, "triple") == pytest.approx(3 / 6)
    straight = Notes.from_score(
        make_score(
            [{"is_drum": True, "notes": [(i * 0.25, 0.1, 42, 90) for i in range(8)] + [(2 + 1 / 3, 0.1, 38, 90)]}]
        )
    )
    assert drum_in_pattern_rate(straight, "duple") == pytest.approx(8 / 9)  # eight 16ths; one triplet is off
    assert drum_in_pattern_rate(straight, "triple") == pytest.approx(3 / 9)  # the beats 0, 1 and the triplet
    assert drum_pattern_consistency(straight) == pytest.approx(8 / 9)
    assert math.isnan(drum_in_pattern_rate(C_MAJOR_SCALE)) and math.isnan(drum_pattern_consistency(C_MAJOR_SCALE))


def test_distances_tell_same_from_different():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
    far = rng.normal(8, 1, 400)
    assert overlap_area(a, b) > 0.85 and kl_divergence(a, b) < 0.1
    assert overlap_area(a, far) < 0.05 and kl_divergence(a, far) > 5
    real = [[x] for x in rng.normal(0, 1, 30)]
    assert (
        set_distance(real, [[x] for x in rng.normal(0, 1, 30)])["overlap"] > set_distance(real, [[9.0]] * 5)["overlap"]
    )


# -- the n-gram baseline --------------------------------------------------------------------------------------------


def _corpus(seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[1, *(rng.choice([4, 5, 6, 7, 8]) for _ in range(rng.randint(5, 40))), 2] for _ in range(30)]


def _kn_prob(model: KneserNey, context: list[int], token: int) -> float:
    """The interpolated Kneser-Ney formula for one token, written out on its own to check ``distribution``."""
    if not model.support[token]:
        return 0.0
    p = 1.0 / int(model.support.sum())
    history = tuple(context[max(0, len(context) - model.order + 1) :]) if model.order > 1 else ()
    for k in range(len(history) + 1):
        h = history[len(history) - k :]
        total = model.totals[k].get(h)
        if total:
            nexts, d = model.counts[k][h], model.discounts[k]
            p = max(nexts.get(token, 0) - d, 0.0) / total + d * len(nexts) / total * p
    return p


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_ngram_probabilities_sum_to_one(order):
    model = KneserNey(order, vocab_size=10, exclude=(0, 1), bos_id=1).fit(_corpus())
    for context in ([1], [1, 4, 5], [6, 6, 6, 6], [9, 9], [], [1, 9, 3, 4]):  # seen, unseen and empty histories
        dist = model.distribution(context)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert dist[0] == 0 and dist[1] == 0  # padding and BOS are never targets
        assert [_kn_prob(model, context, w) for w in range(10)] == pytest.approx(dist.tolist(), abs=1e-12)
        assert (dist[2:] > 0).all()  # smoothing leaves no target impossible


def test_ngram_learns_a_deterministic_sequence_and_scores_it():
    cycle = [1, *([4, 5, 6, 7] * 10), 2]
    model = KneserNey(3, vocab_size=8, exclude=(0, 1), bos_id=1).fit([cycle] * 5)
    assert model.prob([4, 5], 6) > 0.9
    nll, correct = model.score(cycle, range(3, len(cycle) - 1))
    assert correct == len(cycle) - 4 and nll / (len(cycle) - 4) < 0.1
    drawn = model.sample([1, 4, 5], 200, np.random.default_rng(0), stop_id=2)
    assert set(drawn) <= {2, 3, 4, 5, 6, 7} and (drawn[-1] == 2 or len(drawn) == 200)
    follows = sum(b == {4: 5, 5: 6, 6: 7, 7: 4}.get(a) for a, b in zip([5, *drawn], drawn))
    assert follows >= 0.8 * len(drawn) - 1  # it mostly continues the cycle it learned


# -- memorisation ---------------------------------------------------------------------------------------------------


def test_suffix_automaton_finds_the_longest_common_run():
    rng = random.Random(1)
    pieces = [[rng.randrange(4) for _ in range(rng.randint(1, 30))] for _ in range(8)]
    sam = SuffixAutomaton()
    for p in pieces:
        sam.add_sequence(p)
    for _ in range(40):
        query = [rng.randrange(4) for _ in range(rng.randint(0, 20))]
        brute = max(
            (j - i for p in pieces for i in range(len(query)) for j in range(i, len(query) + 1)
             if _contains(p, query[i:j])),
            default=0,
        )  # fmt: skip
        assert sam.longest_match(query) == brute


def _contains(seq: list[int], part: list[int]) -> bool:
    return any(seq[k : k + len(part)] == part for k in range(len(seq) - len(part) + 1))


def test_a_copy_of_a_training_piece_is_flagged_and_a_new_piece_is_not():
    train = [Notes.of([(n[0], n[1], n[2]) for n in melody(60, seed=s)]) for s in range(5)]
    index = TrainingIndex.build(train)
    copied = index.check(train[2])
    assert copied["longest_run"] == 60 and copied["ngram_share"] == 1.0 and looks_copied(copied)
    new = index.check(Notes.of([(i * 0.75, 0.75, 40 + (i * 7) % 30) for i in range(60)]))
    assert new["longest_run"] < 8 and new["ngram_share"] == 0.0 and not looks_copied(new)


def _two_track_song(lead: list[int], bass: list[int], drums: bool = True):
    tracks = [
        {"program": 73, "notes": [(i * 0.5, 0.5, p, 80) for i, p in enumerate(lead)]},
        {"program": 33, "notes": [(i * 1.0, 1.0, p, 80) for i, p in enumerate(bass)]},
    ]
    if drums:
        tracks.append({"program": 0, "is_drum": True, "notes": [(i * 0.5, 0.25, 36 + i % 3, 90) for i in range(40)]})
    return make_score(tracks)


def test_pitch_ngrams_a_copy_is_all_found_a_new_tune_none_a_moved_copy_all_when_training_moved_it():
    rng = random.Random(3)
    training = [_two_track_song([rng.randrange(60, 84) for _ in range(40)], [rng.randrange(36, 48) for _ in range(20)])]
    index = PitchNgrams(training)
    copied = index.share(training)
    assert copied == {"found": (40 - 7) + (20 - 7), "ngrams": 46, "share": 1.0}  # per track, drums left out
    new = _two_track_song([50 + (i * 5) % 7 for i in range(40)], [30 + (i * 3) % 5 for i in range(20)], drums=False)
    assert index.share([new])["share"] == 0.0
    # Half copied: the lead of the training song over a new bass, played with other note lengths.
    lead = [int(p) for p in pitch_lines(training[0])[0]]
    half = make_score(
        [{"program": 0, "notes": [(i * 0.25, 0.25, p, 80) for i, p in enumerate(lead)]},
         {"program": 33, "notes": [(i * 1.0, 1.0, 30 + (i * 3) % 5, 80) for i in range(20)]}]
    )  # fmt: skip
    assert index.share([half]) == {"found": 33, "ngrams": 46, "share": 33 / 46}
    moved = make_score([{"program": 73, "notes": [(i * 0.5, 0.5, p + 2, 80) for i, p in enumerate(lead)]}])
    assert index.share([moved])["share"] < 0.1  # moved by a tone: another tune, unless training moved it too
    assert PitchNgrams(training, shifts=range(-3, 4)).share([moved])["share"] == 1.0
    assert index.share([])["share"] == 0.0 and pitch_lines(make_score([{"program": 0, "notes": []}])) == []


# -- evaluate and compare end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memorised(tmp_path_factory) -> Path:
    """An LSTM trained far past the point of copying five short random tunes (one of them held out as test)."""
    root = tmp_path_factory.mktemp("eval")
    for i in range(5):
        notes = [(t, d, p, 80) for t, d, p, _ in melody(40, seed=100 + i)]
        make_score([{"program": 0, "notes": notes}]).dump_midi(str(root / f"tune{i}.mid"))
    data = root / "data"
    args = ["prepare", str(root), "-o", str(data), "--encoding", "notechord", "--split", "0.6,0.2,0.2", "-q"]
    assert main([*args, "--no-cache"]) == 0
    run = root / "copycat"
    train = ["train", str(data), "-o", str(run), "-q", "--epochs", "60", "--seq-len", "32", "--batch-size", "8"]
    assert main([*train, "--model-option", "hidden=128", "--model-option", "dropout=0", "--lr", "1e-2"]) == 0
    return run


def _data_dir(run: Path) -> Path:
    return Path(load_toml(run / "config.toml")["data"])


@pytest.mark.slow
def test_evaluate_prints_network_beside_ngram_and_flags_copies(memorised, capsys):
    # The last checkpoint, not the best one: validation loss is lowest long before the copying starts.
    assert main(["evaluate", str(memorised), "-q", "--samples", "4", "--temperature", "0.5", "--last"]) == 0
    out = capsys.readouterr().out
    network = next(line for line in out.splitlines() if line.startswith("network "))
    ngram = next(line for line in out.splitlines() if "-gram KN" in line)
    assert len(network.split()) == len(ngram.split()) - 1  # "5-gram KN" is two words
    assert "warning: network samples that look copied from the training split" in out
    report = json.loads((memorised / "eval.json").read_text())
    lk = report["likelihood"]
    assert lk["network"]["targets"] == lk["ngram"]["targets"] > 0
    assert lk["network"]["perplexity"] == pytest.approx(math.exp(lk["network"]["nll"]))
    assert report["memorisation"]["network"]["flagged"]
    pitches = report["memorisation"]["network"]["pitch_ngrams"]  # a copycat: most of its pitch 8-grams are training's
    assert pitches["ngrams"] > 0 and pitches["share"] > 0.5 and "pitch 8-grams copied" in out
    assert report["memorisation"]["real"]["pitch_ngrams"]["share"] < pitches["share"]
    assert set(report["metrics"]) >= {"pitch_class_entropy", "groove_consistency", "ioi_histogram"}
    assert sorted(p.name for p in (memorised / "eval" / "network").glob("*.mid"))[:1] == ["sample-01.mid"]


@pytest.mark.slow
def test_compare_writes_table_csv_and_curves(memorised, tmp_path, capsys):
    other = tmp_path / "gru"
    data_dir = _data_dir(memorised)
    train = ["train", str(data_dir), "-o", str(other), "-q", "--model", "gru", "--epochs", "3", "--seq-len", "16"]
    assert main([*train, "--model-option", "hidden=32", "--batch-size", "4"]) == 0
    out = tmp_path / "cmp" / "lstm-vs-gru"
    assert main(["compare", str(memorised), str(other), "-o", str(out), "-q", "--samples", "2"]) == 0
    table = out.with_suffix(".md").read_text()
    assert "| copycat | lstm |" in table and "| gru | gru |" in table
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [r["model"] for r in rows] == ["lstm", "gru"] and all(float(r["test_nll"]) > 0 for r in rows)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (other / "eval.json").is_file()  # the unevaluated run was evaluated first


@pytest.mark.slow
def test_window_models_are_scored_from_full_windows_on_the_same_targets(memorised):
    from tunesmith.data import TokenData, load_data_tokenizer
    from tunesmith.evaluate.likelihood import fit_ngram, score_split
    from tunesmith.models import build_model, model_spec

    data_dir = _data_dir(memorised)
    tokenizer = load_data_tokenizer(data_dir)
    test = TokenData(data_dir, "test")
    torch.manual_seed(0)
    window_model = build_model(model_spec("bilstm-seed", len(tokenizer), {"hidden": [16, 16], "head": [16]}))
    ngram, _ = fit_ngram(tokenizer, TokenData(data_dir, "train"), None, 3)
    net, base = score_split(window_model, tokenizer, test, 10, True, ngram, progress=False)
    expected = sum(max(0, len(test.piece(i)) - 10) for i in range(test.n_pieces))
    assert net.targets == base.targets == expected

    # A stepping model's NLL does not depend on the chunk size: the state carries the context across chunks.
    stepping = build_model(model_spec("lstm", len(tokenizer), {"hidden": [24], "embed_dim": 8})).eval()
    small, _ = score_split(stepping, tokenizer, test, 7, False, progress=False)
    whole, _ = score_split(stepping, tokenizer, test, 10_000, False, progress=False)
    assert small.targets == whole.targets and small.nll == pytest.approx(whole.nll, rel=1e-5)


@pytest.mark.slow
def test_evaluate_names_each_stage_unless_quiet(memorised, capsys):
    from tunesmith.data import TokenData

    assert main(["evaluate", str(memorised), "--samples", "2", "--last", "--max-pieces", "1"]) == 0
    err = capsys.readouterr().err
    stages = [line for line in err.splitlines() if line.startswith("evaluate: ")]
    assert [s.split()[1] for s in stages] == ["fitting", "scoring", "generating", "musical"], err
    # pieces are counted as pieces, tokens as tokens (len() of a split is its tokens)
    train, test = (TokenData(_data_dir(memorised), split) for split in ("train", "test"))
    assert f"on the training split ({train.n_pieces} pieces, {len(train):,} tokens)" in stages[0], stages[0]
    scored = f"1 of {test.n_pieces} pieces" if test.n_pieces > 1 else "1 piece"
    assert f"({scored}, {len(test.piece(0)):,} tokens)" in stages[1], stages[1]
    assert main(["evaluate", str(memorised), "-q", "--samples", "2", "--last", "--max-pieces", "1"]) == 0
    assert "evaluate: " not in capsys.readouterr().err
