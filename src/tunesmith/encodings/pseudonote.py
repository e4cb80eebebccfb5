"""``pseudonote``: pitch + velocity bin + duration bin + onset-gap bin, one token per note (the seq2seq seed).

Bin edges are quantiles of the training corpus (``fit``); a bin decodes to the median of the training values in it.
The onset-gap bin (time since the previous note's onset; bin 0 means together with it) lets decoding recover start
times, which the seed's pseudo-notes could not.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from symusic import Score

from tunesmith.encodings.base import EncodingConfig, Reach, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, build_score, parse_pitch_name, pitch_name, pitched_notes


@dataclass
class PseudoNoteConfig(EncodingConfig):
    """Numbers of bins (velocity, duration, positive onset gaps)."""

    velocity_bins: int = 4
    duration_bins: int = 4
    gap_bins: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.velocity_bins, self.duration_bins, self.gap_bins) < 1:
            raise TunesmithError("pseudonote needs at least one bin of each kind")


class Bins:
    """Quantile bins: ``edges`` split values into bins, ``centers`` are the medians inside each bin."""

    def __init__(self, edges: list[float], centers: list[float]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.centers = np.asarray(centers, dtype=np.float64)

    @classmethod
    def fit(cls, values: np.ndarray, n: int) -> Bins:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return cls([], [1.0])
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n + 1)[1:-1]))
        index = np.searchsorted(edges, values, side="right")
        centers = [float(np.median(values[index == b])) if np.any(index == b) else 0.0 for b in range(edges.size + 1)]
        return cls(edges.tolist(), centers)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, values, side="right")

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": self.edges.tolist(), "centers": self.centers.tolist()}


class PseudoNoteTokenizer(Tokenizer):
    """One token per note: ``C4_v2_d1_g3``."""

    name = "pseudonote"
    description = "pitch + velocity bin + duration bin + onset-gap bin per note, bins from corpus quantiles"
    config_class = PseudoNoteConfig
    config: PseudoNoteConfig

    def __init__(self, config: PseudoNoteConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.velocity: Bins | None = None
        self.duration: Bins | None = None
        self.gap: Bins | None = None

    def prepare_fit(self, pieces: Iterable[Piece]) -> None:
        vel, dur, gaps = [], [], []
        for piece in pieces:
            time, duration, _, velocity = pitched_notes(piece.score)
            vel.append(velocity)
            dur.append(duration)
            steps = np.diff(time, prepend=0.0)
            gaps.append(steps[steps > 1e-6])
        self.velocity = Bins.fit(np.concatenate(vel) if vel else np.zeros(0), self.config.velocity_bins)
        self.duration = Bins.fit(np.concatenate(dur) if dur else np.zeros(0), self.config.duration_bins)
        self.gap = Bins.fit(np.concatenate(gaps) if gaps else np.zeros(0), self.config.gap_bins)

    def fit_state(self) -> dict[str, Any]:
        return {"velocity": self.velocity.to_dict(), "duration": self.duration.to_dict(), "gap": self.gap.to_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.velocity, self.duration, self.gap = (Bins(**state[k]) for k in ("velocity", "duration", "gap"))

    def tokens(self, piece: Piece) -> list[str]:
        if self.velocity is None:
            raise TunesmithError("pseudonote bins are learned by fit(): fit the tokenizer first")
        time, duration, pitch, velocity = pitched_notes(piece.score)
        steps = np.diff(time, prepend=0.0)
        gap = np.where(steps > 1e-6, self.gap(steps) + 1, 0)
        vb, db = self.velocity(velocity), self.duration(duration)
        return [
            f"{pitch_name(int(p))}_v{v}_d{d}_g{g}" for p, v, d, g in zip(pitch.tolist(), vb.tolist(), db.tolist(), gap)
        ]

    @staticmethod
    def _parse(token: str) -> tuple[int, int, int, int]:
        name, v, d, g = token.split("_")
        return parse_pitch_name(name), int(v[1:]), int(d[1:]), int(g[1:])

    def score(self, tokens: list[str]) -> Score:
        notes = []
        cursor = 0.0
        for token in tokens:
            pitch, v, d, g = self._parse(token)
            if g:
                cursor += float(self.gap.centers[g - 1])
            notes.append((cursor, float(self.duration.centers[d]), pitch, round(self.velocity.centers[v])))
        return build_score(notes)

    def reach(self) -> Reach:
        return PseudoNoteReach(self)

    def transpose_token(self, token: str, semitones: int) -> str | None:
        pitch, v, d, g = self._parse(token)
        if not 0 <= pitch + semitones <= 127:
            return None
        return f"{pitch_name(pitch + semitones)}_v{v}_d{d}_g{g}"

    def pitches(self, token: str) -> tuple[int, ...]:
        """The note's pitch (a chord is several tokens, whatever order the model writes them in)."""
        return (self._parse(token)[0],)

    def starts_onset(self, token: str) -> bool:
        """An onset-gap bin above 0 (``g0``: together with the note before)."""
        return self._parse(token)[3] != 0

    def distance(self, a: str, b: str) -> float | None:
        (pa, *ra), (pb, *rb) = self._parse(a), self._parse(b)
        return abs(pa - pb) if ra == rb else None

    def neighbour_key(self, token: str) -> tuple[Hashable, float] | None:
        pitch, *rest = self._parse(token)
        return tuple(rest), pitch


class PseudoNoteReach(Reach):
    """``score``'s cursor: one note a token, at the sum of the onset gaps so far, lasting its duration bin's median."""

    def __init__(self, tokenizer: PseudoNoteTokenizer) -> None:
        super().__init__(tokenizer)
        self._tokenizer = tokenizer
        self.notes, self.end, self._cursor = 0, 0.0, 0.0

    def see(self, token: str) -> None:
        tk = self._tokenizer
        _, _, d, g = tk._parse(token)
        if g:
            self._cursor += float(tk.gap.centers[g - 1])
        self.notes += 1
        self.end = max(self.end, self._cursor + float(tk.duration.centers[d]))
