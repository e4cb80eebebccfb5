"""``event``: REMI or TSD events by MidiTok (pitch, velocity, duration, bar/position or time shift, tempo, program).

Beyond the seeds: one stream holds every instrument, each note preceded by its program, so a model learns several
instruments at once and generated songs keep them. MidiTok does the tokenizing (imported only when this encoding is
used); tunesmith keeps its own vocabulary over MidiTok's token strings, so rare-token handling, style tokens and
checkpoints work as for every other encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symusic import Score, TimeSignature

from tunesmith.encodings.base import HEADER_PREFIX, EncodingConfig, Reach, Tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.music import Piece

SCHEMES = ("REMI", "TSD")
DRUMS = -1  # MidiTok's program number for drums (``Program_-1``)
BAND_END = f"{HEADER_PREFIX}end>"
BAR = "Bar_None"  # MidiTok REMI's bar line
TIME_TOKENS = ("Bar_", "Position_", "TimeShift_", "Rest_")  # the tokens that move MidiTok's clock
NOTE_PARTS = ("Pitch", "Velocity_", "Duration_", "NoteOn_", "NoteOff_")  # the tokens of a note after its program
# MidiTok's REMI decoder takes the first TimeSig before any token of these types as the sequence's first meter.
FIRST_METER_BEFORE = ("Pitch", "PitchDrum", "Velocity", "Duration", "PitchBend", "ControlChange", "Pedal")


@dataclass
class EventConfig(EncodingConfig):
    """MidiTok settings: ``scheme`` (REMI or TSD), programs, tempos, time signatures, velocity levels, resolution."""

    scheme: str = "REMI"
    use_programs: bool = True
    use_tempos: bool = True
    use_time_signatures: bool = True
    num_velocities: int = 16
    positions_per_beat: int = 8  # 32nd-note resolution within a beat
    band_header: bool = True  # each piece starts with its band: the programs it uses, drums included (programs on)
    # Every token MidiTok can write with these settings, not only those the corpus holds: two corpora prepared with
    # the same settings share one vocabulary (a pretrained model fine-tunes on the other with ``train --init``).
    full_vocab: bool = False

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Rebuild from ``to_dict`` data; a tokenizer saved before band headers existed has none."""
        return super().from_dict({**data, "config": {"band_header": False, **data["config"]}})

    @property
    def bar_id(self) -> int | None:
        """REMI's ``Bar_None`` (TSD has no bar token)."""
        return self.index.get(BAR)

    # -- the band: a header of programs, and the program tokens generation may draw ------------------------------
    @property
    def has_header(self) -> bool:
        """Whether sequences start with their band (programs) after the conditions."""
        return BAND_END in self.index

    @property
    def band_programs(self) -> list[int]:
        """The programs a band can hold (those the model has tokens for), drums as ``DRUMS``."""
        return sorted(p for p in (_band_program(t) for t in self.vocab) if p is not None)

    def band_of(self, score: Score) -> tuple[int, ...]:
        """The programs a score plays, drums as ``DRUMS``, ascending."""
        return tuple(sorted({DRUMS if t.is_drum else int(t.program) for t in score.tracks if len(t.notes)}))

    def every_token(self) -> list[str] | None:
        if not self.config.full_vocab:
            return None
        specials = set(self.miditok.special_tokens)
        return [t for t, _ in sorted(self.miditok.vocab.items(), key=lambda kv: kv[1]) if t not in specials]

    def header(self, piece: Piece) -> list[str]:
        if not (self.config.band_header and self.config.use_programs):
            return []
        return [*(_band_token(p) for p in self.band_of(piece.score)), BAND_END]

    def header_vocab(self, kept: list[str]) -> list[str]:
        if not (self.config.band_header and self.config.use_programs):
            return []
        programs = sorted({int(t.split("_", 1)[1]) for t in kept if t.startswith("Program_")})
        return [*(_band_token(p) for p in programs), BAND_END]

    def header_ids(self, band: tuple[int, ...]) -> list[int]:
        """The header of ``band`` as ids; a one-line error for a program the model has no token for."""
        missing = [p for p in band if _band_token(p) not in self.index]
        if missing:
            from tunesmith.music import gm_name

            names = ", ".join(gm_name(p, p == DRUMS) for p in missing)
            known = [gm_name(p, p == DRUMS) for p in self.band_programs]
            more = f" and {len(known) - 12} more" if len(known) > 12 else ""
            raise TunesmithError(f"the model never played {names}: its band can hold {', '.join(known[:12])}{more}")
        return [self.index[_band_token(p)] for p in sorted(set(band))] + [self.index[BAND_END]]

    def band_of_ids(self, ids) -> tuple[int, ...] | None:
        """The band of a sequence from its header, or None when it has none."""
        band = []
        for i in (int(x) for x in ids):
            token = self.vocab[i] if 0 <= i < len(self.vocab) else ""
            if token == BAND_END:
                return tuple(band)
            program = _band_program(token)
            if program is not None:
                band.append(program)
        return None

    def band_forbid(self, band: tuple[int, ...]) -> list[int]:
        """The ids of the program tokens outside ``band``: masked while a sample of that band is drawn."""
        allowed = {f"Program_{p}" for p in band}
        return [i for i, t in enumerate(self.vocab) if t.startswith("Program_") and t not in allowed]

    def score(self, tokens: list[str]) -> Score:
        vocab = self.miditok.vocab
        if self.config.use_programs:  # a note before any program has no instrument (MidiTok would make it a piano)
            first = next((i for i, t in enumerate(tokens) if t.startswith("Program_")), len(tokens))
            tokens = [t for i, t in enumerate(tokens) if i >= first or not t.startswith(NOTE_PARTS)]
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            raise ValueError("no event tokens to decode")
        decoded = self.miditok.decode([ids] if not self.config.use_programs else ids)
        return decoded.to("quarter")

    def reach(self) -> Reach:
        return EventReach(self)

    def opens_note(self, token: str) -> bool:
        """With programs a pitched note starts at its ``Program_N`` (N >= 0; a pitch follows); without, at its pitch."""
        if self.config.use_programs:
            track = self.track_of(token)
            return track is not None and track >= 0
        return bool(self.pitches(token))

    def pitches(self, token: str) -> tuple[int, ...]:
        """A ``Pitch_N`` or ``NoteOn_N`` token's pitch (drums have ``PitchDrum_N`` tokens, and no line)."""
        if token.startswith(("Pitch_", "NoteOn_")):
            return (int(token.split("_", 1)[1]),)
        return ()

    def track_of(self, token: str) -> int | None:
        """``Program_N``: the notes after it are program N's (``DRUMS``, -1, for drums); None for other tokens."""
        if self.config.use_programs and token.startswith("Program_"):
            return int(token.split("_", 1)[1])
        return None

    def starts_onset(self, token: str) -> bool:
        """A bar line, position, time shift or rest moves the clock; the notes between two of them share an onset."""
        return token.startswith(TIME_TOKENS)

    @property
    def first_track(self) -> int | None:
        """With programs, a note before any program is dropped (``score``): no track; else the one stream."""
        return None if self.config.use_programs else 0

    def transpose_token(self, token: str, semitones: int) -> str | None:
        if not token.startswith(("Pitch_", "NoteOn_")):
            return token
        kind, value = token.split("_", 1)
        pitch = int(value) + semitones
        lo, hi = self.miditok.config.pitch_range
        return f"{kind}_{pitch}" if lo <= pitch < hi else None


def _band_token(program: int) -> str:
    return f"{HEADER_PREFIX}{'drums' if program == DRUMS else program}>"


def _band_program(token: str) -> int | None:
    """The program of a band token (``DRUMS`` for drums), None for any other token."""
    if not token.startswith(HEADER_PREFIX) or token == BAND_END:
        return None
    value = token[len(HEADER_PREFIX) : -1]
    return DRUMS if value == "drums" else int(value)


class EventReach(Reach):
    """MidiTok's clock run over the tokens without making notes: bars, positions, time shifts and time signatures.

    MidiTok makes a note of a pitch token in its range followed by a Velocity and a Duration token, at the clock's
    tick, so ``notes`` counts the Duration tokens that close such a run and ``end`` is the latest tick + duration of
    one (a pitch interval's pitch is not known here: its note counts whatever its range); the tokens
    ``EventTokenizer.score`` drops (a note's parts before the first program, tokens MidiTok does not know) are
    dropped here too. The clock is
    that of ``REMI._tokens_to_score`` and ``TSD._tokens_to_score`` (miditok 3.1), held to them by a test that
    measures both on random token sequences. Rests move the clock to the last note's end: with rests, no bound.
    """

    def __init__(self, tokenizer: EventTokenizer) -> None:
        super().__init__(tokenizer)
        self._mt = mt = tokenizer.miditok
        if mt.config.use_rests or set(mt.config.programs) - set(mt.config.use_note_duration_programs):
            self.unbound()  # rests, or notes without a Duration token
            return
        self.notes, self.end = 0, 0.0
        self._known = mt.vocab
        self._before_program = tokenizer.config.use_programs
        self._tick = self._bar_tick = self._end_tick = 0
        self._bar = -1
        self._recent = [("", ""), ("", "")]  # the two tokens before this one, as (type, value)
        self._lowest, self._highest = mt.config.pitch_range
        # REMI's first meter is the first TimeSig before any note: until one of them comes, the tokens wait.
        remi_meters = tokenizer.config.scheme == "REMI" and mt.config.use_time_signatures
        self._waiting: list[str] | None = [] if remi_meters else None
        self._meter(4, 4)  # MidiTok's default (miditok.constants.TIME_SIGNATURE)

    def _meter(self, numerator: int, denominator: int) -> None:
        from miditok.utils import compute_ticks_per_bar

        mt = self._mt
        self._ticks_per_bar = compute_ticks_per_bar(TimeSignature(0, numerator, denominator), mt.time_division)
        self._ticks_per_beat = mt._tpb_per_ts[denominator]
        per_pos = getattr(mt, "_compute_ticks_per_pos", None)  # REMI's positions (TSD has none)
        self._ticks_per_pos = per_pos(self._ticks_per_beat) if per_pos is not None else 0

    def see(self, token: str) -> None:
        if self._before_program:
            if token.startswith("Program_"):
                self._before_program = False
            elif token.startswith(NOTE_PARTS):
                return
        if token not in self._known:
            return
        if self._waiting is not None:
            kind, _, value = token.partition("_")
            if kind != "TimeSig" and kind not in FIRST_METER_BEFORE:
                self._waiting.append(token)
                return
            if kind == "TimeSig":
                self._meter(*map(int, value.split("/")))
            waiting, self._waiting = self._waiting, None
            for before in waiting:
                self._clock(before)
        self._clock(token)

    def _clock(self, token: str) -> None:
        kind, _, value = token.partition("_")
        if token == BAR:
            self._bar += 1
            if self._bar > 0:
                self._tick = self._bar_tick + self._ticks_per_bar
            self._bar_tick = self._tick
        elif kind == "Position":
            self._bar = max(self._bar, 0)
            self._tick = self._bar_tick + int(value) * self._ticks_per_pos
        elif kind == "TimeShift":
            self._tick += self._mt._tpb_tokens_to_ticks[self._ticks_per_beat][value]
        elif kind == "TimeSig":  # the meter in force again changes nothing
            self._meter(*map(int, value.split("/")))
        elif kind == "Duration" and self._closes_note():
            ticks = self._mt._tpb_tokens_to_ticks[self._ticks_per_beat][value]
            self.notes += 1
            self._end_tick = max(self._end_tick, self._tick + ticks)
            self.end = self._end_tick / self._mt.time_division
        self._recent = [self._recent[1], (kind, value)]

    def _closes_note(self) -> bool:
        """Whether a Duration token here ends a pitch (and velocity) run, as ``_tokens_to_score`` reads notes."""
        (kind, value), (after_kind, _) = self._recent
        if not self._mt.config.use_velocities:
            kind, value = self._recent[1]
        elif after_kind != "Velocity":
            return False
        if kind in ("Pitch", "PitchDrum"):
            return self._lowest <= int(value) <= self._highest
        return kind in ("PitchIntervalTime", "PitchIntervalChord")
