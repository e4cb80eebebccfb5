"""``event``: REMI or TSD events by MidiTok (pitch, velocity, duration, bar/position or time shift, tempo, program).

Beyond the seeds: one stream holds every instrument, each note preceded by its program, so a model learns several
instruments at once and generated songs keep them. MidiTok does the tokenizing (imported only when this encoding is
used); tunesmith keeps its own vocabulary over MidiTok's token strings, so rare-token handling, style tokens and
checkpoints work as for every other encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symusic import Score

from tunesmith.encodings.base import EncodingConfig, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece

SCHEMES = ("REMI", "TSD")


@dataclass
class EventConfig(EncodingConfig):
    """MidiTok settings: ``scheme`` (REMI or TSD), programs, tempos, time signatures, velocity levels, resolution."""

    scheme: str = "REMI"
    use_programs: bool = True
    use_tempos: bool = True
    use_time_signatures: bool = True
    num_velocities: int = 16
    positions_per_beat: int = 8  # 32nd-note resolution within a beat

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scheme not in SCHEMES:
            raise TunesmithError(f"event scheme is one of {', '.join(SCHEMES)}, not {self.scheme!r}")


class EventTokenizer(Tokenizer):
    """A MidiTok tokenizer behind the tunesmith contract."""

    name = "event"
    description = "REMI/TSD events via MidiTok: pitch, velocity, duration, time, tempo and program tokens"
    config_class = EventConfig
    config: EventConfig

    def __init__(self, config: EventConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self._miditok = None

    @property
    def miditok(self):
        """The MidiTok tokenizer, built on first use."""
        if self._miditok is None:
            import miditok

            c = self.config
            tok_config = miditok.TokenizerConfig(
                use_programs=c.use_programs,
                one_token_stream_for_programs=True,
                use_tempos=c.use_tempos,
                use_time_signatures=c.use_time_signatures,
                num_velocities=c.num_velocities,
                beat_res={(0, 4): c.positions_per_beat, (4, 12): max(1, c.positions_per_beat // 2)},
            )
            self._miditok = getattr(miditok, c.scheme)(tok_config)
        return self._miditok

    def tokens(self, piece: Piece) -> list[str]:
        score = piece.score.to("tick")
        if not self.config.use_programs:  # one stream: fold the tracks into the first
            merged = score.copy()
            merged.tracks = merged.tracks[:1]
            for track in score.tracks[1:]:
                merged.tracks[0].notes.extend(track.notes)
            merged.tracks[0].notes.sort()
            score = merged
        encoded = self.miditok.encode(score)
        if isinstance(encoded, list):
            return [t for seq in encoded for t in seq.tokens]
        return list(encoded.tokens)

    def score(self, tokens: list[str]) -> Score:
        vocab = self.miditok.vocab
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            raise ValueError("no event tokens to decode")
        decoded = self.miditok.decode([ids] if not self.config.use_programs else ids)
        return decoded.to("quarter")

    def transpose_token(self, token: str, semitones: int) -> str | None:
        if not token.startswith(("Pitch_", "NoteOn_")):
            return token
        kind, value = token.split("_", 1)
        pitch = int(value) + semitones
        lo, hi = self.miditok.config.pitch_range
        return f"{kind}_{pitch}" if lo <= pitch < hi else None
