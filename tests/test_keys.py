import pytest

from musicgen import make_score
from tunesmith.keys import ALL_KEYS, Key, estimate_key, parse_key


@pytest.mark.parametrize(
    "text, name",
    [
        ("D minor", "D minor"),
        ("Dm", "D minor"),
        ("d", "D minor"),
        ("E-flat major", "Eb major"),
        ("Eb", "Eb major"),
        ("E- major", "Eb major"),
        ("f# min", "F# minor"),
        ("A minor", "A minor"),
        ("C", "C major"),
        ("B", "B major"),
        ("bb", "Bb minor"),
    ],
)
def test_key_names_parse(text, name):
    assert parse_key(text).name == name


@pytest.mark.parametrize("text", ["H major", "C dorian", "", "C##"])
def test_bad_key_names_are_one_line_errors(text):
    with pytest.raises(ValueError, match="not a key"):
        parse_key(text)


def _cadence(key: Key, beats: int = 8) -> list[tuple]:
    """I - IV - V - I block chords and a scale in ``key`` (harmonic minor), low octave around C4."""
    steps = (0, 2, 4, 5, 7, 9, 11) if key.mode == "major" else (0, 2, 3, 5, 7, 8, 11)
    third = 4 if key.mode == "major" else 3
    notes, t = [], 0.0
    for root in (0, 5, 7, 0):
        for interval in (0, third if root != 7 else 4, 7):
            notes.append((t, 2.0, 60 + key.tonic + root + interval, 80))
        t += 2.0
    for step in (*steps, 12):
        notes.append((t, 0.5, 60 + key.tonic + step, 80))
        t += 0.5
    return notes


@pytest.mark.parametrize("key", ALL_KEYS, ids=str)
def test_every_key_is_found_from_its_cadence(key):
    assert estimate_key(make_score([{"program": 0, "notes": _cadence(key)}])) == key


def test_transposition_moves_the_estimated_key():
    notes = _cadence(parse_key("D minor"))
    for shift in range(-5, 7):
        moved = [(t, d, p + shift, v) for t, d, p, v in notes]
        assert estimate_key(make_score([{"program": 0, "notes": moved}])) == parse_key("D minor").transpose(shift)


def test_drums_and_silence_have_no_key():
    assert (
        estimate_key(make_score([{"program": 0, "is_drum": True, "notes": [(0, 1, 36, 90), (1, 1, 38, 90)]}])) is None
    )
    assert estimate_key(make_score([{"program": 0, "notes": []}])) is None


@pytest.mark.slow
def test_agrees_with_music21_on_bach_chorales():
    """The same algorithm as music21's KrumhanslSchmuckler, so the same answer on real chorales."""
    from music21 import analysis, corpus

    from tunesmith.corpus.readers import music21_to_score

    paths = corpus.getComposer("bach")[:8]
    agree = 0
    for path in paths:
        stream = corpus.parse(path)
        theirs = analysis.discrete.KrumhanslSchmuckler().getSolution(stream)
        ours = estimate_key(music21_to_score(stream, grid=480))
        agree += ours == parse_key(f"{theirs.tonic.name} {theirs.mode}")
    assert agree == len(paths), agree


def test_a_histogram_shaped_by_the_bias_is_estimated_as_its_key():
    """What the sampler's bias does to a flat pitch distribution: exp(bias) is the key's own profile, so every key
    comes back (D minor and F major, the same scale, told apart by their tonics)."""
    import numpy as np

    from tunesmith.keys import ALL_KEYS, key_bias, key_scores

    for key in ALL_KEYS:
        weights = np.exp(key_bias([(pc,) for pc in range(12)], key, 1.0))
        assert ALL_KEYS[int(np.argmax(key_scores(weights)))] == key


def test_the_lower_only_bias_holds_back_the_classes_outside_the_key_and_raises_none():
    """``--key auto``'s pull: the classes rated below the key profile's mean are lowered as ``--key`` lowers them, the
    others get nothing, so the key's own classes keep the model's balance (no pile-up on the tonic)."""
    import numpy as np

    from tunesmith.keys import ALL_KEYS, key_bias

    for key in ALL_KEYS:
        full = key_bias([(pc,) for pc in range(12)], key, 3.0)
        lower = key_bias([(pc,) for pc in range(12)], key, 3.0, lower_only=True)
        assert np.array_equal(lower, np.minimum(full, 0)) and lower.max() == 0
        scale = {
            (key.tonic + step) % 12 for step in ((0, 2, 4, 5, 7, 9, 11) if key.mode == "major" else (0, 2, 3, 5, 7, 8))
        }
        outside = (
            set(range(12)) - scale - ({(key.tonic + 10) % 12, (key.tonic + 11) % 12} if key.mode == "minor" else set())
        )
        assert all(lower[pc] < 0 for pc in outside)  # every class outside the scale is held back


def test_the_asked_keys_pull_takes_fixed_logits_from_the_classes_outside_its_scale():
    """``--key KEY``'s pull: ``outside`` logits off each class outside the key's scale (a minor key's natural scale
    and its raised seventh), the profile at ``strength`` on top, a chord by the share of its classes outside."""
    import numpy as np

    from tunesmith.keys import ALL_KEYS, key_bias, scale_classes

    assert scale_classes(parse_key("D minor")) == {2, 4, 5, 7, 9, 10, 0, 1}  # D E F G A Bb C, and C#
    assert scale_classes(parse_key("E-flat major")) == {3, 5, 7, 8, 10, 0, 2}
    for key in ALL_KEYS:
        singles = [(pc,) for pc in range(12)]
        alone = key_bias(singles, key, 0.0, outside=4.0)
        assert [alone[pc] for pc in range(12)] == [0.0 if pc in scale_classes(key) else -4.0 for pc in range(12)]
        both = key_bias(singles, key, 1.5, outside=4.0)
        assert np.allclose(both, key_bias(singles, key, 1.5) + alone)
    c_major = parse_key("C major")
    chord = key_bias([(0, 1, 4)], c_major, 0.0, outside=3.0)  # C, C# and E: one of three outside
    assert chord[0] == pytest.approx(-1.0)


def test_key_bias_per_encoding_chords_by_their_mean_and_abc_has_no_pitch_tokens():
    import numpy as np

    from tunesmith.encodings import make_tokenizer
    from tunesmith.keys import log_profile
    from tunesmith.music import Piece

    piece = Piece(make_score([{"program": 0, "notes": [(0, 1, 60, 80), (0, 1, 64, 80), (1, 1, 62, 80)]}]), id="p")
    d_minor = parse_key("D minor")
    notechord = make_tokenizer("notechord").fit([piece])
    bias = notechord.key_bias(d_minor, 2.0)
    chord, note = notechord.index["C4.E4:1"], notechord.index["D4:1"]
    profile = log_profile(d_minor)
    assert bias[chord] == pytest.approx(2.0 * (profile[0] + profile[4]) / 2) and bias[note] == pytest.approx(
        2 * profile[2]
    )
    assert bias[notechord.bos_id] == 0
    for name in ("pianoroll", "pseudonote"):
        tokenizer = make_tokenizer(name).fit([piece])
        assert np.count_nonzero(tokenizer.key_bias(d_minor, 1.0)) >= 3
    abc = make_tokenizer("abc").fit([piece])
    assert abc.key_bias(d_minor, 1.0) is None  # letters name no fixed pitch
    # generate --key: a one-line refusal where neither a key token nor a pitch token can keep the key
    from tunesmith.errors import TunesmithError
    from tunesmith.key_steering import steer

    with pytest.raises(TunesmithError, match="--condition key: the abc encoding has no pitch tokens") as error:
        steer(abc, d_minor)
    assert "\n" not in str(error.value)
    with pytest.raises(TunesmithError, match="--key-strength 0 leaves this model nothing"):
        steer(notechord, d_minor, 0.0)
    keyed_abc = make_tokenizer("abc", conditions=("key",)).fit([piece])
    assert steer(keyed_abc, d_minor) == (None, "key token only")
    bias, how = steer(notechord, d_minor)
    assert how == (
        "pitch bias (strength 1, 4 off the classes outside the scale) only: "
        "the model was trained without key conditions"
    )
    assert np.allclose(bias, notechord.key_bias(d_minor, 1.0, outside=4.0))
    # C4.E4 (C and E: both in D minor's scale with its raised 7th, C#) and D4 keep the profile alone
    assert np.allclose(bias[[chord, note]], notechord.key_bias(d_minor, 1.0)[[chord, note]])
