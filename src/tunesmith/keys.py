"""Keys: names, parsing, transposition and estimation from the notes (Krumhansl-Schmuckler).

A key is a tonic pitch class and a mode (major or minor). Names are written with sharps or flats as a musician
would read them (``"E-flat major"`` is printed ``"Eb major"``) and parsed from the spellings people type: ``"D minor"``,
``"Dm"``, ``"d"``, ``"E-flat major"``, ``"Eb"``, ``"F# minor"``, music21's ``"E- major"``.

Estimation is the Krumhansl-Schmuckler algorithm: the duration-weighted pitch-class histogram of the pitched notes is
correlated (Pearson) with the Krumhansl-Kessler major and minor key profiles rotated to each of the 12 tonics, and
the best of the 24 wins (Krumhansl, *Cognitive Foundations of Musical Pitch*, 1990, ch. 4; profiles from Krumhansl
and Kessler 1982). This is music21's ``KrumhanslSchmuckler`` analysis computed on a symusic ``Score``.

Steering is the same profile used the other way round: ``key_bias`` adds ``strength * log(profile[pc] / mean)`` to the
logit of every token that plays pitch class ``pc``, so sampling favours both the key's scale and its tonic weighting,
which is what the estimate reads (a scale mask alone would leave D minor and F major, the same notes, to chance).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from symusic import Score, TimeUnit

MODES = ("major", "minor")
# Krumhansl and Kessler (1982) probe-tone ratings, tonic first.
PROFILES = {
    "major": np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
    "minor": np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
}
# How each tonic is spelled in a key name: the spelling of the usual key signature (F major, not E# major).
SPELLING = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}
_STEP = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_NAME = re.compile(
    r"^\s*([a-gA-G])\s*(#|sharp|-sharp|b|flat|-flat|-)?\s*(major|minor|maj|min|m)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C .. 11 = B) and a mode, ``"major"`` or ``"minor"``."""

    tonic: int
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in MODES or not 0 <= self.tonic < 12:
            raise ValueError(f"not a key: tonic {self.tonic}, mode {self.mode!r}")

    @property
    def name(self) -> str:
        """``"Eb major"``, ``"F# minor"``."""
        return f"{SPELLING[self.mode][self.tonic]} {self.mode}"

    def transpose(self, semitones: int) -> Key:
        """The key ``semitones`` higher (negative: lower)."""
        return Key((self.tonic + semitones) % 12, self.mode)

    def __str__(self) -> str:
        return self.name


ALL_KEYS = tuple(Key(tonic, mode) for mode in MODES for tonic in range(12))


def parse_key(text: str) -> Key:
    """A key from its name: ``"D minor"``, ``"Dm"``, ``"E-flat major"``, ``"Eb"``; a lone lower-case letter is minor.

    Raises ``ValueError`` with a one-line message naming what is accepted.
    """
    match = _NAME.match(text)
    if not match:
        raise ValueError(f"not a key: {text!r} (write it like 'D minor', 'Eb major', 'F#m' or 'A')")
    letter, accidental, mode = match.groups()
    accidental = (accidental or "").lower()
    shift = 1 if accidental in ("#", "sharp", "-sharp") else -1 if accidental in ("b", "flat", "-flat", "-") else 0
    if mode:
        mode = "major" if mode.lower() in ("major", "maj") or mode == "M" else "minor"
    else:
        mode = "minor" if letter.islower() else "major"
    return Key((_STEP[letter.lower()] + shift) % 12, mode)


def pitch_class_weights(score: Score) -> np.ndarray:
    """(12,) total duration in quarters of the pitched notes of each pitch class (drums left out)."""
    quarter = score if score.ttype == TimeUnit.quarter else score.to("quarter")
    weights = np.zeros(12)
    for track in quarter.tracks:
        if track.is_drum or not len(track.notes):
            continue
        notes = track.notes.numpy()
        np.add.at(weights, notes["pitch"].astype(np.int64) % 12, notes["duration"].astype(np.float64))
    return weights


def key_scores(weights: np.ndarray) -> np.ndarray:
    """(24,) Pearson correlation of a pitch-class histogram with each key's profile, in ``ALL_KEYS`` order."""
    weights = np.asarray(weights, dtype=np.float64)
    if not weights.any() or np.ptp(weights) == 0:
        return np.zeros(len(ALL_KEYS))
    scores = []
    for key in ALL_KEYS:
        profile = np.roll(PROFILES[key.mode], key.tonic)
        scores.append(np.corrcoef(weights, profile)[0, 1])
    return np.asarray(scores)


def estimate_key(score: Score) -> Key | None:
    """The Krumhansl-Schmuckler key of ``score``, or None when it has no pitched note (or one pitch class only)."""
    weights = pitch_class_weights(score)
    if np.count_nonzero(weights) < 2:
        return None
    return ALL_KEYS[int(np.argmax(key_scores(weights)))]


def log_profile(key: Key) -> np.ndarray:
    """(12,) ``log(profile / mean(profile))`` of ``key``'s Krumhansl-Kessler profile, indexed by pitch class.

    Centred on the mean rating, so a pitch class rated average gets 0: in-key classes are raised, the others lowered,
    and the pitch tokens as a whole keep about the share of probability they had against the other tokens.
    """
    profile = np.roll(PROFILES[key.mode], key.tonic)
    return np.log(profile / profile.mean())


SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}  # minor: natural, and the raised 7th


def scale_classes(key: Key) -> frozenset[int]:
    """The pitch classes of ``key``'s scale: the major scale, or the natural minor with its raised seventh."""
    return frozenset((key.tonic + step) % 12 for step in SCALES[key.mode])


def key_bias(
    pitch_classes: Sequence[Sequence[int]],
    key: Key,
    strength: float,
    lower_only: bool = False,
    outside: float = 0.0,
) -> np.ndarray:
    """(V,) logit bias toward ``key``: for each token, ``strength`` times the mean ``log_profile`` of its pitch classes.

    ``pitch_classes[i]`` are the pitch classes token ``i`` plays (one for a note, several for a chord; none for every
    other token, whose bias is 0). A chord takes the mean, so a chord is favoured as much as its notes on average,
    never more than a single note for having more of them. ``lower_only``: the profile's raises are left out (the
    classes rated above the mean keep 0), so the classes outside the key are held back and the key's own classes
    keep the balance the model gives them: how ``--key auto`` keeps a key the model chose (the tonic weighting that
    moves the music toward an asked key would, on a key already there, pile the notes onto the tonic). ``outside``:
    logits taken from each pitch class outside the key's scale (``scale_classes``), a chord by the share of its
    classes outside: how ``--key KEY`` keeps the asked scale without a tonic weighting strong enough to flatten the
    music.
    """
    weights = log_profile(key)
    if lower_only:
        weights = np.minimum(weights, 0.0)
    weights = strength * weights
    if outside:
        scale = scale_classes(key)
        weights = weights - outside * np.asarray([pc not in scale for pc in range(12)], dtype=float)
    bias = np.zeros(len(pitch_classes), dtype=np.float32)
    for i, classes in enumerate(pitch_classes):
        if classes:
            bias[i] = float(np.mean(weights[list(classes)]))
    return bias
