"""Musical metrics: pure functions of a piece's notes, each with its formula and the paper it comes from.

Sources:
- MusPy: Dong, Chen, Dubnov, McAuley and Berg-Kirkpatrick, "MusPy: a toolkit for symbolic music generation",
  ISMIR 2020 (pitch-class entropy, scale consistency, polyphony, empty-beat rate, groove consistency).
- Dong, Hsiao, Yang and Yang, "MuseGAN", AAAI 2018 (used pitch classes).
- Yang and Lerch, "On the evaluation of generative models in music", Neural Computing and Applications 2020
  (pitch range, used pitches, note count per bar, inter-onset-interval histogram).
- Dong, Hsiao, Yang and Yang, "MuseGAN", AAAI 2018, as implemented in MusPy (drum-in-pattern rate, drum pattern
  consistency).

Times are in quarter notes. Drum tracks are left out of every metric but the drum metrics, which read only them
(``Notes.drum_onset``) and are NaN for a piece without drums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from symusic import Score, TimeUnit

from tunesmith.music import note_arrays

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
KEYS = (("time", np.float64), ("duration", np.float64), ("pitch", np.int64))
IOI_EDGES = (0.0, 0.1875, 0.375, 0.75, 1.5, 3.0, float("inf"))  # around 1/8, 1/4, 1/2, 1, 2, 4 quarters
DRUM_PATTERNS = {"duple": 4, "triple": 3}  # a beat cut in 4 (16th notes) or 3 (8th-note triplets)
ON_GRID = 1e-3  # quarters: onsets are compared with the pattern exactly, up to float rounding (as MusPy's ticks)


@dataclass(frozen=True)
class Notes:
    """Onsets and durations in quarters and pitches of a piece's pitched notes, sorted by onset then pitch.

    ``drum_onset`` holds the onsets of the notes of its drum tracks (empty for a piece without drums).
    """

    onset: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    beats_per_bar: float = 4.0
    drum_onset: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_score(cls, score: Score) -> Notes:
        """The pitched notes of ``score``, its drum onsets and the quarters per bar of its first time signature.

        Times are read in ticks and divided in float64, so a note that ends exactly between two grid frames
        rounds as MusPy rounds it (float32 quarters, symusic's quarter time, move such ties by a hair).
        """
        ticks = score if score.ttype == TimeUnit.tick else score.to("tick")
        notes = note_arrays(ticks)
        onset, duration, pitch = (notes[key].astype(dtype) for key, dtype in KEYS)
        order = np.lexsort((pitch, onset))
        tpq = float(ticks.ticks_per_quarter)
        drum_onset = np.sort(note_arrays(ticks, drums=True)["time"]).astype(np.float64) / tpq
        bar = 4.0
        if len(score.time_signatures):
            ts = score.time_signatures[0]
            bar = ts.numerator * 4.0 / ts.denominator
        return cls(onset[order] / tpq, duration[order] / tpq, pitch[order], bar, drum_onset)

    @classmethod
    def of(cls, notes: list[tuple[float, float, int]], beats_per_bar: float = 4.0) -> Notes:
        """From ``(onset, duration, pitch)`` tuples (for hand-made examples)."""
        ordered = sorted(notes, key=lambda n: (n[0], n[2]))
        arrays = [np.asarray([n[i] for n in ordered], dtype=float if i < 2 else np.int64) for i in range(3)]
        return cls(*arrays, beats_per_bar=beats_per_bar)

    def __len__(self) -> int:
        return len(self.pitch)

    @property
    def end(self) -> float:
        """When the last note ends."""
        return float((self.onset + self.duration).max()) if len(self) else 0.0


def pitch_range(notes: Notes) -> float:
    """``max(pitch) - min(pitch)`` in semitones; 0 for an empty piece (Yang and Lerch 2020, "PR")."""
    return float(notes.pitch.max() - notes.pitch.min()) if len(notes) else 0.0


def used_pitches(notes: Notes) -> float:
    """``|{pitch}|``, the number of distinct MIDI pitches (Yang and Lerch 2020, "PC"; MusPy ``n_pitches_used``)."""
    return float(np.unique(notes.pitch).size)


def used_pitch_classes(notes: Notes) -> float:
    """``|{pitch mod 12}|``, distinct pitch classes (Dong et al. 2018, "UPC"; MusPy ``n_pitch_classes_used``)."""
    return float(np.unique(notes.pitch % 12).size)


def pitch_class_entropy(notes: Notes) -> float:
    """``-sum_i h_i log2 h_i`` over the normalised 12-bin pitch-class histogram ``h``, in bits (MusPy).

    0 for a piece of one pitch class, ``log2 12 = 3.585`` when all twelve are equally frequent.
    """
    if not len(notes):
        return 0.0
    h = np.bincount(notes.pitch % 12, minlength=12) / len(notes)
    h = h[h > 0]
    return float(-(h * np.log2(h)).sum())


def scale_consistency(notes: Notes) -> float:
    """``max_s |{n : pitch(n) mod 12 in s}| / N`` over the 24 major and natural-minor scales ``s`` (MusPy).

    1 when every note fits one major or minor scale; an empty piece scores 0.
    """
    if not len(notes):
        return 0.0
    counts = np.bincount(notes.pitch % 12, minlength=12)
    best = max(counts[[(root + step) % 12 for step in scale]].sum() for root in range(12) for scale in (MAJOR, MINOR))
    return float(best / len(notes))


def _frame_intervals(notes: Notes, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Each note as frames ``[start, stop)`` of ``resolution`` quarters.

    Onset and end are rounded to the grid as MusPy's ``adjust_resolution`` does (a note shorter than half a frame
    may cover none).
    """
    per_quarter = 1 / resolution
    start = np.round(notes.onset * per_quarter).astype(np.int64)
    stop = np.round((notes.onset + notes.duration) * per_quarter).astype(np.int64)
    return start, stop


def _union_length(start: np.ndarray, stop: np.ndarray) -> int:
    """How many frames the union of the intervals ``[start, stop)`` covers."""
    if not start.size:
        return 0
    order = np.argsort(start, kind="stable")
    start, stop = start[order], np.maximum.accumulate(stop[order])
    gaps = np.maximum(0, start[1:] - stop[:-1])  # uncovered frames between consecutive intervals
    return int(stop[-1] - start[0] - gaps.sum())


def polyphony(notes: Notes, resolution: float = 0.25) -> float:
    """Mean number of distinct pitches sounding per frame, over frames where at least one sounds (MusPy).

    ``sum_t |P_t| / |{t : |P_t| > 0}|`` with ``P_t`` the pitches sounding in frame ``t`` of ``resolution``
    quarters; 0 for an empty piece, 1 for a melody, 4 for a four-part chorale. Computed from the notes' intervals,
    not a dense roll, so a piece with an absurdly long note costs no memory.
    """
    if not len(notes):
        return 0.0
    start, stop = _frame_intervals(notes, resolution)
    sounding = _union_length(start, stop)
    per_pitch = sum(_union_length(start[notes.pitch == p], stop[notes.pitch == p]) for p in np.unique(notes.pitch))
    return float(per_pitch / sounding) if sounding else 0.0


def note_density(notes: Notes) -> float:
    """Notes per bar: ``N / ceil(end / bar)`` (Yang and Lerch 2020, "NC" averaged over bars)."""
    if not len(notes):
        return 0.0
    return float(len(notes) / max(1.0, np.ceil(notes.end / notes.beats_per_bar - 1e-9)))


def inter_onset_intervals(notes: Notes) -> np.ndarray:
    """Gaps in quarters between successive distinct onsets."""
    return np.diff(np.unique(np.round(notes.onset, 6)))


def ioi_histogram(notes: Notes, edges: tuple[float, ...] = IOI_EDGES) -> np.ndarray:
    """Normalised histogram of inter-onset intervals ``h_k = |{i : e_k <= IOI_i < e_k+1}| / |IOI|``.

    Yang and Lerch 2020 ("IOI"); the default bins centre on 1/8, 1/4, 1/2, 1, 2 and 4+ quarters. All zeros when
    the piece has fewer than two onsets.
    """
    ioi = inter_onset_intervals(notes)
    counts = np.histogram(ioi, bins=np.asarray(edges))[0].astype(float)
    return counts / counts.sum() if counts.sum() else counts


def empty_beat_rate(notes: Notes) -> float:
    """``1 - |{beats in which a note sounds}| / |beats|`` over quarter-note beats (MusPy ``empty_beat_rate``).

    As MusPy counts them: beats ``0 .. floor(end)`` (``floor(end) + 1`` of them, ``end`` the last note's end), a
    note sounding in beats ``floor(onset) .. floor(onset + duration)``, both ends included (so a note ending on a
    beat marks that beat too). Pitched notes only (MusPy counts drum tracks as well); 1 for an empty piece.
    """
    if not len(notes):
        return 1.0
    first = np.floor(notes.onset + 1e-9).astype(np.int64)
    last = np.floor(notes.onset + notes.duration + 1e-9).astype(np.int64)
    return float(1.0 - _union_length(first, last + 1) / (int(last.max()) + 1))


def groove_consistency(notes: Notes, resolution: float = 1 / 12) -> float:
    """``1 - 1/(M-1) sum_i d(G_i, G_i+1) / Q`` (Wu and Yang 2020, as MusPy implements it).

    ``G_i`` is bar ``i``'s binary onset pattern on ``Q`` positions of ``resolution`` quarters (1/12 keeps
    triplets), ``d`` the Hamming distance, ``M = floor(end / bar) + 1`` bars as MusPy counts them (``end`` the last
    note's end, so a piece ending on a barline has a last empty bar). 1 when every bar has the same rhythm; a piece
    of one bar scores 1 (MusPy: NaN).
    """
    if not len(notes):
        return 0.0
    start, end = _frame_intervals(notes, resolution)  # onsets and ends on the grid, as MusPy
    q = round(notes.beats_per_bar / resolution)
    bars = int(end.max() // q) + 1
    if bars < 2:
        return 1.0
    grid = np.zeros((bars, q), dtype=bool)
    grid.reshape(-1)[start] = True
    return float(1.0 - np.mean((grid[1:] != grid[:-1]).sum(axis=1) / q))


def repeated_ngram_ratio(notes: Notes, n: int = 4) -> float:
    """Share of a piece's pitch n-grams that already occurred earlier in it: ``|{i : g_i in {g_j : j < i}}| / G``.

    ``g_i`` is the n-gram of pitches starting at note ``i`` (notes in onset order), ``G`` the number of n-grams.
    tunesmith's own measure of within-piece repetition (motifs, refrains): 0 for a piece that never repeats,
    near 1 for a loop. 0 when the piece has fewer than ``n`` notes.
    """
    p = notes.pitch.tolist()
    grams = [tuple(p[i : i + n]) for i in range(len(p) - n + 1)]
    if not grams:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


def drum_in_pattern_rate(notes: Notes, meter: str = "duple") -> float:
    """``#(drum notes in pattern) / #(drum notes)``: the share of drum onsets on the meter's grid within a beat.

    ``duple``: at 0, 1/4, 1/2 or 3/4 of a beat (16th notes); ``triple``: at 0, 1/3 or 2/3 (8th-note triplets).
    Only drum tracks count; NaN for a piece without drum notes. Dong et al. 2018 (MuseGAN, "DP"), with MusPy's
    patterns (``muspy.drum_in_pattern_rate``). A piece quantised to 16th notes scores 1 in duple meter by
    construction: the metric needs a grid that can hold triplets (e.g. 12 positions per beat) to say anything.
    """
    if not notes.drum_onset.size:
        return math.nan
    divisions = DRUM_PATTERNS[meter]
    phase = notes.drum_onset * divisions  # onsets in pattern steps; in the pattern when a whole number of them
    return float(np.mean(np.abs(phase - np.round(phase)) < ON_GRID * divisions))


def drum_pattern_consistency(notes: Notes) -> float:
    """``max_meter drum_in_pattern_rate(meter)`` over duple and triple meters (MusPy ``drum_pattern_consistency``).

    1 when every drum onset sits on one of the two grids; NaN for a piece without drum notes.
    """
    if not notes.drum_onset.size:
        return math.nan
    return max(drum_in_pattern_rate(notes, meter) for meter in DRUM_PATTERNS)


DRUM_METRICS = ("drum_in_pattern_rate", "drum_pattern_consistency")  # NaN for pieces without drums

METRICS: dict[str, Callable[[Notes], float | np.ndarray]] = {
    "pitch_range": pitch_range,
    "used_pitches": used_pitches,
    "used_pitch_classes": used_pitch_classes,
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "polyphony": polyphony,
    "note_density": note_density,
    "ioi_histogram": ioi_histogram,
    "empty_beat_rate": empty_beat_rate,
    "groove_consistency": groove_consistency,
    "repeated_ngram_ratio": repeated_ngram_ratio,
    "drum_in_pattern_rate": drum_in_pattern_rate,
    "drum_pattern_consistency": drum_pattern_consistency,
}


def compute_metrics(notes: Notes) -> dict[str, float | list[float]]:
    """Every metric of one piece (the IOI histogram as a list)."""
    out: dict[str, float | list[float]] = {}
    for name, fn in METRICS.items():
        value = fn(notes)
        out[name] = value.tolist() if isinstance(value, np.ndarray) else float(value)
    return out
