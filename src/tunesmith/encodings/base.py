"""The tokenizer contract: ``fit`` / ``encode`` / ``decode`` / ``save`` / ``load``, the vocabulary, special tokens.

A concrete encoding fills four hooks: ``tokens`` (a piece as token strings), ``score`` (token strings back to a
score), and optionally ``transpose_token`` (for augmentation) and ``distance`` (for mapping rare tokens to the
nearest frequent one). The base class owns the vocabulary, the special tokens, rare-token handling, style tokens
and JSON persistence, so an encoding is a small module.

What another stage needs to know about an encoding it asks here, never by the encoding's name: ``frame_end_id``
(the token that closes a time step, for per-step likelihoods), ``text_format`` (the text a sequence decodes to, such
as ABC), ``style_id`` / ``style_ids`` (the condition tokens), ``reach`` (bounds on how long a growing sequence
decodes, so that a length check decodes it only near its end), ``pitches`` / ``track_of`` (the note lines a sequence
plays, for ``generate --no-copy``).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from symusic import Score

from tunesmith.encodings.options import EncodingConfig  # declared there: the command line reads it without numpy
from tunesmith.errors import TunesmithError
from tunesmith.keys import ALL_KEYS, Key, estimate_key, key_bias, parse_key
from tunesmith.music import Piece

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
STYLE_PREFIX = "<style:"
KEY_PREFIX, TEMPO_PREFIX, HEADER_PREFIX = "<key:", "<tempo:", "<band:"
# Tokens that steer a sequence rather than play music: conditions after BOS and an encoding's header (the band).
CONTROL_PREFIXES = (STYLE_PREFIX, KEY_PREFIX, TEMPO_PREFIX, HEADER_PREFIX)
NO_KEY = "<key:none>"  # a piece without two pitch classes has no key to estimate
# Tempo bins (BPM, lower edges; a bin runs to the next edge): 12 BPM wide where most songs lie (72-144, the
# Bollywood songs' 10th to 90th percentile is 86-142), wider at the slow and fast ends where few pieces are.
TEMPO_EDGES = (0, 60, 72, 84, 96, 108, 120, 132, 144, 160, 184, 216)


def style_token(label: str) -> str:
    """The token that conditions a sequence on a style label."""
    return f"{STYLE_PREFIX}{label}>"


def key_token(key: Key | None) -> str:
    """The token of a key (``<key:D minor>``), or ``<key:none>``."""
    return NO_KEY if key is None else f"{KEY_PREFIX}{key.name}>"


def tempo_bin(bpm: float) -> tuple[int, int | None]:
    """The bin ``(low, high)`` of a tempo in BPM (``high`` is None for the last, open bin)."""
    i = max(0, bisect.bisect_right(TEMPO_EDGES, bpm) - 1)
    return TEMPO_EDGES[i], TEMPO_EDGES[i + 1] if i + 1 < len(TEMPO_EDGES) else None


def tempo_token(bpm: float) -> str:
    """The token of a tempo's bin: ``<tempo:96-108>`` (96 up to, not including, 108 BPM), ``<tempo:216+>``."""
    low, high = tempo_bin(bpm)
    return f"{TEMPO_PREFIX}{low}-{high}>" if high is not None else f"{TEMPO_PREFIX}{low}+>"


def piece_tempo(score: Score) -> float:
    """The tempo a piece starts at in BPM (quarter notes per minute; 120, MIDI's default, when none is written)."""
    return float(score.tempos[0].qpm) if len(score.tempos) else 120.0


def is_control(token: str) -> bool:
    """Whether a token is a condition or header token (it steers the music; it is not decoded)."""
    return token.startswith(CONTROL_PREFIXES)


@dataclass
class DecodeResult:
    """A decoded sequence: a score, or the reason it could not become one (never an exception)."""

    score: Score | None
    error: str | None = None
    text: str | None = None  # the ABC text, for text encodings
    repaired: bool = False  # the text did not parse as written; the score is of a repaired copy (ABC)
    warnings: list[str] = dataclasses.field(default_factory=list)  # what the parser said (music21, for ABC)

    @property
    def ok(self) -> bool:
        """Whether a score came out."""
        return self.score is not None


class Reach:
    """Upper bounds on what a growing sequence decodes to, so that a length check decodes it only when it must.

    ``add(ids)`` takes the next ids of one sequence; after it, ``notes`` is at least the number of notes and ``end``
    at least the time the last note ends (quarter notes, before float32 rounding) of ``decode`` of every id added
    so far, whenever that decodes (a sequence that does not decode reaches no length, whatever the bounds say).
    ``see`` is given the tokens ``strip`` would pass: none after the first EOS, no specials or controls; ``tokens``
    counts them, so a check knows when a sequence decodes as it did last time. This base class knows no bound (both
    infinite): an encoding without a safe one is decoded at every check. ABC is one: music21 plays repeats out, so
    neither its letters nor its bar lines bound the notes or the time.
    """

    notes: float = math.inf
    end: float = math.inf

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._vocab = tokenizer.vocab
        self._passed = [not (t in SPECIALS or is_control(t)) for t in tokenizer.vocab]
        self._eos = tokenizer.eos_id
        self._ended = False  # an EOS came: nothing after it is decoded
        self._bounded = type(self).see is not Reach.see
        self.tokens = 0  # the tokens strip passes so far (an id outside the vocabulary too: no decoding ever again)

    def add(self, ids: Iterable[int]) -> None:
        """Take the next ids of the sequence."""
        for i in ids:
            if self._ended or i == self._eos:
                self._ended = True
                return
            if not 0 <= i < len(self._vocab):  # strip refuses it: no sequence holding it decodes
                self.tokens += 1
                self.unbound()
            elif self._passed[i]:
                self.tokens += 1
                if self._bounded:
                    try:
                        self.see(self._vocab[i])
                    except Exception:  # a token the bound cannot read: decoding will say what is wrong with it
                        self.unbound()

    def see(self, token: str) -> None:
        """Account for the next token; an encoding with a bound overrides this and sets ``notes`` and ``end`` to 0."""

    def unbound(self) -> None:
        """Give up bounding this sequence: it is decoded at every check from now on."""
        self.notes = self.end = math.inf
        self._bounded = False


class Tokenizer(ABC):
    """Turns pieces into token ids and back. Subclasses set ``name``, ``config_class`` and fill the hooks."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    config_class: ClassVar[type[EncodingConfig]] = EncodingConfig
    text_format: ClassVar[str | None] = None  # the text format a sequence decodes to ("abc"), None for scores only

    def __init__(self, config: EncodingConfig | None = None, **settings: Any) -> None:
        self.config = config if config is not None else self.config_class(**settings)
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.rare_map: dict[str, str] = {}  # rare token -> kept token (rare == "nearest")
        self.stats: dict[str, Any] = {}
        # How often each condition value and header began a training piece ({"key": {"<key:C major>": 3}, ...}):
        # what generation draws from when a condition is not asked for.
        self.priors: dict[str, dict[str, int]] = {}

    # ----------------------------------------------------------------------------------------------- hooks
    @abstractmethod
    def tokens(self, piece: Piece) -> list[str]:
        """The token strings of a piece, without special tokens."""

    @abstractmethod
    def score(self, tokens: list[str]) -> Score:
        """A quarter-time score from token strings (specials already removed); may raise ``ValueError``."""

    def transpose_token(self, token: str, semitones: int) -> str | None:
        """The token shifted by ``semitones``, or ``None`` when it cannot be; by default nothing can be shifted."""
        return token if semitones == 0 else None

    def distance(self, a: str, b: str) -> float | None:
        """How far token ``a`` is from ``b`` for ``rare = "nearest"``; ``None``: not comparable."""
        return None

    def neighbour_key(self, token: str) -> tuple[Hashable, float] | None:
        """Where ``token`` sits for the nearest-token search: ``(group, coordinate)``, ``None`` if nowhere.

        The contract that makes the search exact: ``distance(a, b)`` is ``None`` when the groups differ, and at
        least ``|coordinate(a) - coordinate(b)|`` when they agree. Then the search looks only at the tokens of a
        group whose coordinate lies within the best distance found so far, outwards from the rare token's place in
        the group sorted by coordinate (for a pitch distance: a binary search and a neighbour or two).
        """
        return None

    def pitch_classes(self, token: str) -> tuple[int, ...]:
        """The pitch classes of the pitched notes ``token`` plays (drums never), ``()`` for any other token.

        What ``key_bias`` steers: by default the classes of ``pitches``. An encoding whose tokens have no fixed pitch
        (ABC letters depend on the key signature) has neither, and ``--key`` then needs key conditions; one whose
        tokens play pitches but no note line (a piano roll's held pitches) says its classes itself.
        """
        return tuple(sorted({p % 12 for p in self.pitches(token)}))

    def opens_note(self, token: str) -> bool:
        """Whether drawing ``token`` starts a pitched note (what ``--density`` pulls on); by default one with pitches.

        ``--density`` counts a bar's pitched notes as ``len(pitches(token))`` (drums never: the beat is left alone).
        """
        return bool(self.pitches(token))

    def pitches(self, token: str) -> tuple[int, ...]:
        """The pitches ``token`` adds to its track's note line, ascending (a chord's), ``()`` for any other token.

        A note line is a track's pitches in onset order (``tunesmith.pitch_ngrams``); ``generate --no-copy`` follows
        it token by token. Drums never have one. An encoding whose tokens are not note onsets of a fixed pitch (ABC
        letters depend on the key signature, a piano-roll frame repeats held pitches) keeps the default: no lines.
        """
        return ()

    @property
    def has_note_lines(self) -> bool:
        """Whether any token plays a note line (``pitches``): what ``generate --no-copy`` follows."""
        return any(self.pitches(t) for t in self.vocab if not (t in SPECIALS or is_control(t)))

    def track_of(self, token: str) -> int | None:
        """The track the notes after ``token`` belong to, when it names one (an event model's ``Program_N``).

        A negative track (drums) has no note line. None for every other token.
        """
        return None

    def starts_onset(self, token: str) -> bool:
        """Whether the notes of ``token`` and after it start later than the notes before it (a time step).

        A chord's notes written one a token share an onset: the tokens between two time steps are one onset, which the
        note line reads low to high, whatever order they came in. By default every token is its own onset.
        """
        return True

    @property
    def first_track(self) -> int | None:
        """The track of the notes before any ``track_of`` token: 0 (one stream), None where they are not decoded."""
        return 0

    def fit_state(self) -> dict[str, Any]:
        """Whatever ``fit`` learned besides the vocabulary (bins, for example), as JSON data."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore ``fit_state``."""

    def prepare_fit(self, pieces: Iterable[Piece]) -> None:
        """Learn what the tokens depend on (corpus quantiles, for example) before they are counted (one pass)."""

    def header(self, piece: Piece) -> list[str]:
        """The encoding's own header of a piece, after the conditions (an event model's band); none by default."""
        return []

    def every_token(self) -> list[str] | None:
        """Every token this encoding can write with its settings, when it is asked to keep them all; else None.

        A vocabulary of every token does not depend on the corpus, so data prepared from two corpora with the same
        settings shares it, and a model of one can be fine-tuned on the other (``train --init``).
        """
        return None

    def header_vocab(self, kept: list[str]) -> list[str]:
        """Every header token the vocabulary needs, given the kept tokens; none by default."""
        return []

    # --------------------------------------------------------------------------------------------- vocabulary
    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    @property
    def bos_id(self) -> int:
        return self.index[BOS]

    @property
    def eos_id(self) -> int:
        return self.index[EOS]

    @property
    def unk_id(self) -> int:
        return self.index[UNK]

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def frame_end_id(self) -> int | None:
        """The id of the token that closes each time step (a piano-roll frame), ``None`` for encodings without one.

        Likelihoods per time step divide by the number of these tokens.
        """
        return None

    @property
    def bar_id(self) -> int | None:
        """The id of the token that starts each bar, ``None`` without one (``--form`` counts bars by it)."""
        return None

    @property
    def styles(self) -> list[str]:
        """The style labels this tokenizer has tokens for."""
        return [t[len(STYLE_PREFIX) : -1] for t in self.vocab if t.startswith(STYLE_PREFIX)]

    def style_id(self, label: str) -> int:
        """The id of the token that conditions a sequence on style ``label`` (UNK for a label it has no token for)."""
        return self.token_id(style_token(label))

    @property
    def style_ids(self) -> tuple[int, ...]:
        """The ids of every style token, in the order of ``styles``."""
        return tuple(self.style_id(s) for s in self.styles)

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions a sequence starts with after BOS (``style``, ``key``, ``tempo``), in that order."""
        return tuple(getattr(self.config, "conditions", ()))

    @property
    def has_header(self) -> bool:
        """Whether sequences start with a band header (an event encoding's programs); see ``EventTokenizer``."""
        return False

    @property
    def window_head(self) -> bool:
        """Whether training windows keep their piece's head: sequences with a key, tempo or band to learn from."""
        return self.has_header or bool({"key", "tempo"} & set(self.conditions))

    @property
    def control_ids(self) -> list[int]:
        """The ids of condition and header tokens: never drawn after the head of a sequence."""
        return [i for i, t in enumerate(self.vocab) if is_control(t)]

    def condition_tokens(self, piece: Piece, style: bool = True) -> list[str]:
        """A piece's condition tokens in ``CONDITIONS`` order: its style label, estimated key and tempo bin."""
        out = []
        if self.config.style_tokens and style:
            out.append(style_token(piece.style))
        if "key" in self.conditions:
            out.append(key_token(estimate_key(piece.score)))
        if "tempo" in self.conditions:
            out.append(tempo_token(piece_tempo(piece.score)))
        return out

    def key_id(self, text: str) -> int:
        """The id of the key token for a key name (``"D minor"``); a one-line error for an unknown key or model."""
        if "key" not in self.conditions:
            raise TunesmithError("--key needs a model trained on data prepared with --condition key")
        try:
            return self.index[key_token(parse_key(text))]
        except ValueError as exc:
            raise TunesmithError(f"unknown key: {exc}") from None

    def key_bias(self, key: Key, strength: float, lower_only: bool = False, outside: float = 0.0) -> np.ndarray | None:
        """(V,) logit bias toward ``key`` (``tunesmith.keys.key_bias``); None when no token has a pitch."""
        classes = [self.pitch_classes(t) if not (t in SPECIALS or is_control(t)) else () for t in self.vocab]
        if not any(classes):
            return None
        return key_bias(classes, key, strength, lower_only, outside)

    def tempo_id(self, bpm: float) -> int:
        """The id of the tempo bin token of ``bpm``; a one-line error for a model trained without tempo tokens."""
        if "tempo" not in self.conditions:
            raise TunesmithError("--tempo as a condition needs a model trained on data prepared with --condition tempo")
        return self.index[tempo_token(bpm)]

    def fit(self, pieces: Iterable[Piece], shifts: tuple[int, ...] = ()) -> Tokenizer:
        """Build the vocabulary from (training) pieces; tokens seen fewer than ``min_token_count`` times are rare.

        ``shifts``: the transpositions training will apply; their tokens join the vocabulary, counted as often as
        the tokens they come from, so a transposed window is never out of vocabulary. ``pieces`` is gone through
        once (twice for an encoding with a ``prepare_fit``), so it may load them as it goes instead of holding
        them all (``tunesmith.data.encode_dataset`` does).
        """
        self.prepare_fit(pieces)
        counts: Counter = Counter()
        styles: set[str] = set()
        priors: dict[str, Counter] = defaultdict(Counter)
        for piece in pieces:
            counts.update(self.tokens(piece))
            styles.add(piece.style)
            self._count_priors(piece, priors)
        plain = dict(counts)  # before the transpositions join: the corpus as it is
        for token, count in list(counts.items()):
            for shift in shifts:
                shifted = self.transpose_token(token, shift) if shift else None
                if shifted is not None and shifted != token:
                    counts[shifted] += count
        keep = sorted((t for t, c in counts.items() if c >= self.config.min_token_count), key=lambda t: (-counts[t], t))
        every = self.every_token()
        if every is not None:  # the whole vocabulary in the encoding's own order, whatever the corpus holds
            listed = set(every)
            keep = [*every, *(t for t in keep if t not in listed)]
        controls = [style_token(s) for s in sorted(styles)] if self.config.style_tokens else []
        if "key" in self.conditions:  # every key, so that any key can be asked for and transposed into
            controls += [key_token(k) for k in ALL_KEYS] + [NO_KEY]
        if "tempo" in self.conditions:
            controls += [tempo_token(edge) for edge in TEMPO_EDGES]
        self.vocab = [*SPECIALS, *controls, *self.header_vocab(keep), *keep]
        self.priors = {name: dict(sorted(counted.items())) for name, counted in priors.items()}
        self.index = {t: i for i, t in enumerate(self.vocab)}
        rare = {t: c for t, c in counts.items() if c < self.config.min_token_count and t not in self.index}
        self.rare_map = self._nearest_map(rare, keep) if self.config.rare == "nearest" else {}
        total = sum(counts.values()) or 1
        self.stats = {
            "vocab_size": len(self.vocab),
            "distinct_tokens_seen": len(counts),
            "rare_tokens": len(rare),
            "coverage": round(1 - sum(rare.values()) / total, 6),
            "rarest_kept": [[t, counts[t]] for t in keep[-10:]],
        }
        if every is not None:  # a full vocabulary keeps tokens training never saw
            self.stats["unseen_tokens"] = sum(1 for t in keep if not counts[t])
        density = self.notes_per_bar(plain)
        if density is not None:  # what generate --density auto asks for
            self.stats["notes_per_bar"] = density
        return self

    def notes_per_bar(self, counts: dict[str, int]) -> float | None:
        """The notes a bar of token ``counts`` (the corpus's, before transpositions), None without bar tokens."""
        bars = counts.get(self.vocab[self.bar_id], 0) if self.bar_id is not None else 0
        if not bars:
            return None
        return round(sum(count * len(self.pitches(token)) for token, count in counts.items()) / bars, 3)

    def _count_priors(self, piece: Piece, priors: dict[str, Counter]) -> None:
        """Count the key, tempo bin and header a training piece starts with."""
        for token in self.condition_tokens(piece, style=False):
            priors[token[1 : token.index(":")]][token] += 1
        header = self.header(piece)
        if header:
            priors["header"][" ".join(header)] += 1

    def _nearest_map(self, rare: dict[str, int], keep: list[str]) -> dict[str, str]:
        """Each rare token's nearest kept token (ties: the first by name), where one is comparable.

        Kept tokens are sorted by coordinate within their group once (K log K); each rare token then costs a binary
        search and the candidates within its best distance (see ``neighbour_key``), not a pass over all K.
        """
        if type(self).neighbour_key is Tokenizer.neighbour_key:  # no index: compare with every kept token
            mapping = {}
            for token in rare:
                scored = [(d, t) for t in keep if (d := self.distance(token, t)) is not None]
                if scored:
                    mapping[token] = min(scored)[1]
            return mapping
        groups: dict[Hashable, list[tuple[float, str]]] = defaultdict(list)
        for token in keep:
            key = self.neighbour_key(token)
            if key is not None:
                groups[key[0]].append((key[1], token))
        for members in groups.values():
            members.sort()
        coords = {group: [c for c, _ in members] for group, members in groups.items()}
        mapping = {}
        for token in rare:
            key = self.neighbour_key(token)
            if key is None or key[0] not in groups:
                continue
            best = self._nearest_in(token, key[1], groups[key[0]], coords[key[0]])
            if best is not None:
                mapping[token] = best
        return mapping

    def _nearest_in(self, token: str, coord: float, members: list[tuple[float, str]], coords: list[float]):
        """The nearest of ``members`` (sorted by coordinate) to ``token``, walking out from its place both ways."""
        best: tuple[float, str] | None = None
        right = bisect.bisect_left(coords, coord)
        left = right - 1
        while left >= 0 or right < len(members):
            # Take the side whose next coordinate is closer; stop once both lie beyond the best distance.
            gap_left = coord - coords[left] if left >= 0 else math.inf
            gap_right = coords[right] - coord if right < len(members) else math.inf
            gap = min(gap_left, gap_right)
            if best is not None and gap > best[0] + 1e-9:  # ties within rounding are still compared
                break
            if gap_left <= gap_right:
                candidate, left = members[left][1], left - 1
            else:
                candidate, right = members[right][1], right + 1
            d = self.distance(token, candidate)
            if d is not None and (best is None or (d, candidate) < best):
                best = (d, candidate)
        return best[1] if best is not None else None

    def token_id(self, token: str) -> int:
        """The id of a token string: itself, its nearest frequent token, or UNK."""
        if token in self.index:
            return self.index[token]
        return self.index.get(self.rare_map.get(token, UNK), self.unk_id)

    # ------------------------------------------------------------------------------------------- encode/decode
    def encode(self, piece: Piece, style: bool | None = None, head: bool = True) -> list[int]:
        """``[BOS, (style, key, tempo), (header), tokens..., EOS]`` as ids.

        ``style=False`` leaves the style token out; ``head=False`` every condition and the header (a primer's body).
        """
        self._require_fitted()
        ids = [self.bos_id]
        if head:
            controls = self.condition_tokens(piece, style=style is not False) + self.header(piece)
            ids.extend(self.index.get(t, self.unk_id) for t in controls)
        ids.extend(self.token_id(t) for t in self.tokens(piece))
        ids.append(self.eos_id)
        return ids

    def strip(self, ids) -> list[str]:
        """Token strings of ``ids`` between BOS and the first EOS, without specials, style tokens or UNK.

        Raises ``ValueError`` for an id outside the vocabulary: it comes from another tokenizer or a model of another
        size, and its neighbours cannot be trusted either.
        """
        out = []
        for i in (int(x) for x in ids):
            if i == self.eos_id:
                break
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"id {i} is outside the vocabulary (ids 0 to {len(self.vocab) - 1})")
            token = self.vocab[i]
            if token in SPECIALS or is_control(token):
                continue
            out.append(token)
        return out

    def decode(self, ids) -> Score:
        """A quarter-time score from ids; raises ``ValueError`` when they do not make music (see ``try_decode``)."""
        self._require_fitted()
        return self.score(self.strip(ids))

    def reach(self) -> Reach:
        """Bounds on the notes and end of one growing sequence (``Reach``), for a length check; none by default."""
        return Reach(self)

    def try_decode(self, ids) -> DecodeResult:
        """Like ``decode``, but a failure comes back as a reason, so one bad sample never stops a batch."""
        try:
            return DecodeResult(self.decode(ids))
        except Exception as exc:  # any failure of one sequence is reported, not raised
            return DecodeResult(None, f"{type(exc).__name__}: {exc}")

    def transposition_table(self, semitones: int) -> np.ndarray:
        """``table[id]`` is the id of the token shifted by ``semitones``, or -1 when it cannot be shifted."""
        table = np.full(len(self.vocab), -1, dtype=np.int32 if len(self.vocab) < 2**31 else np.int64)
        for i, token in enumerate(self.vocab):
            if token.startswith(KEY_PREFIX) and token != NO_KEY:  # the key moves with the notes
                table[i] = self.index.get(key_token(parse_key(token[len(KEY_PREFIX) : -1]).transpose(semitones)), -1)
                continue
            if token in SPECIALS or is_control(token):
                table[i] = i
                continue
            shifted = self.transpose_token(token, semitones)
            if shifted is not None and shifted in self.index:
                table[i] = self.index[shifted]
        return table

    # --------------------------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as JSON data."""
        return {
            "encoding": self.name,
            "config": dataclasses.asdict(self.config),
            "vocab": self.vocab,
            "rare_map": self.rare_map,
            "state": self.fit_state(),
            "stats": self.stats,
            "priors": self.priors,
        }

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Rebuild from ``to_dict`` data."""
        config = cls.config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()})
        tokenizer = cls(config)
        tokenizer.vocab = list(data["vocab"])
        tokenizer.index = {t: i for i, t in enumerate(tokenizer.vocab)}
        tokenizer.rare_map = dict(data.get("rare_map", {}))
        tokenizer.stats = dict(data.get("stats", {}))
        tokenizer.priors = {k: dict(v) for k, v in data.get("priors", {}).items()}
        tokenizer.load_state(data.get("state", {}))
        return tokenizer

    def _require_fitted(self) -> None:
        if not self.vocab:
            raise TunesmithError(f"the {self.name} tokenizer has no vocabulary yet: fit it on training pieces first")
