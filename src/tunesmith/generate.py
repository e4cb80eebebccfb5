"""From a checkpoint to music: primers, sampling at each temperature, checks, decoding, instruments.

Every sample of one temperature is one batch. Randomness comes from one seed: primers, sampling, redraws and the
``random-indian`` instrument choice, so the same checkpoint, options and seed give byte-identical MIDI files.

A length counts new music, after the primer; EOS is held back until it is reached (``allow_early_end`` restores the
old cap). Every sample is checked before it becomes a ``Sample`` with a score (``tunesmith.quality``): one that is
empty, degenerate, broken or short is redrawn with a seed derived from the run's, up to ``retries`` times, and then
comes back failed with its reasons. ``Generator.generate`` returns the samples in memory, each with the score a
file would hold (instruments, channels and meter applied); ``Sample.save`` writes one, ``Generator.run`` writes them
all into a numbered, locked directory (``tunesmith.output``). The options are a ``GenerateConfig``
(``tunesmith.generate_options``, importable from here too).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from symusic import Score
from tqdm import tqdm

from tunesmith.band import parse_band
from tunesmith.checkpoint import LoadedModel, load_model
from tunesmith.config import SelectConfig
from tunesmith.copy_guard import CopyGuard, LineTable
from tunesmith.data import TokenData, check_data_dir, check_same_data, data_fingerprint
from tunesmith.density import density_target, describe_density, parse_density
from tunesmith.density_keeper import DensityKeeper
from tunesmith.devices import pick_device
from tunesmith.encodings.base import DecodeResult
from tunesmith.errors import TunesmithError
from tunesmith.form import FormFollower, form_of
from tunesmith.generate_options import GenerateConfig, generation_device  # the options, checked there
from tunesmith.instruments import load_instrument_map
from tunesmith.key_keeper import KeyKeeper
from tunesmith.key_steering import KEY_AUTO, redraw_strength, steer
from tunesmith.keys import Key, estimate_key, parse_key
from tunesmith.length import (
    MAX_TOKENS,
    LengthCheck,
    Meter,
    Start,
    Target,
    bar_start,
    clip,
    drop_before,
    end_of,
    new_length,
    note_end,
    parse_length,
    token_budget,
)
from tunesmith.locks import shared
from tunesmith.music import Piece
from tunesmith.pitch_ngrams import PitchNgrams
from tunesmith.postprocess import assign_instruments, fit_channels, parse_time_signature, set_meter
from tunesmith.quality import absurd_note, check_new_music
from tunesmith.sample import beam_search, sample
from tunesmith.threads import use_threads

REPAIRED = "the ABC text does not parse as written: the MIDI is of a repaired copy"
CHECK_EVERY = 64  # tokens between checks of a length given in notes, bars or seconds
HEADER_SEARCH = 256  # a sequence's conditions and band header lie within its first tokens
Band = tuple[int, ...] | None  # General MIDI programs, drums -1 (``tunesmith.band``); None: no band to keep


@dataclass
class Sample:
    """One generated sample: its score (None when it failed every try), how long it came out, and why not.

    ``score`` is the music as a file would hold it (the instruments asked for, one program per channel, tempo and
    meter); ``decoded`` is what the model's tokens decoded to, before those. ``save`` writes it.
    """

    name: str
    temperature: float
    index: int
    score: Score | None = None
    tokens: int = 0
    reached: float = 0.0  # new music, in the unit of --length
    attempts: int = 1
    reasons: list[str] = field(default_factory=list)  # why earlier tries (or all of them) were refused
    result: DecodeResult | None = None
    decoded: Score | None = None
    ids: list[int] = field(default_factory=list)  # the token ids, the primer included, as they were decoded
    warnings: list[str] = field(default_factory=list)  # tracks dropped to fit the channels, decoder warnings
    off_key: str | None = None  # the key its music is heard in where --key asked another (redrawn while tries remain)
    settings: GenerateConfig = field(default_factory=lambda: GenerateConfig())
    composer: str = ""  # the run's name, written into the MIDI and MusicXML files
    head: list[str] = field(default_factory=list)  # the condition and header tokens it was drawn after
    band: tuple[int, ...] | None = None  # the programs it may play (event models with band headers)
    key_steering: str | None = None  # how --key was asked: key token, pitch bias or both
    key_kept: str | None = None  # --key auto: the key of its first bar, kept for the rest
    density_steering: str | None = None  # --density: the notes a bar asked for and how they are kept
    copy_guard: dict[str, int] | None = None  # --no-copy: draws at which it held back tokens, and let through

    @property
    def ok(self) -> bool:
        """Whether the sample passed its checks."""
        return self.score is not None

    def save(self, out_dir: str | Path, stem: str | None = None, formats: tuple[str, ...] | None = None) -> dict:
        """Write ``STEM.mid`` and the other formats asked for into ``out_dir``; returns the sample's record.

        A failed sample writes nothing; its record says why. ``formats`` defaults to the generation's settings.
        """
        from tunesmith.output import write_sample

        return write_sample(self, Path(out_dir), stem or self.name, formats)


class Generator:
    """Generation from one checkpoint."""

    def __init__(self, target: str | Path | LoadedModel, options: GenerateConfig, device: str | None = None) -> None:
        """``target``: a run directory, a checkpoint file, or a model already loaded (it stays on its device).

        ``device`` overrides ``options.device`` (a name, resolved by ``tunesmith.devices.pick_device``).
        """
        self.options = options = replace(options, threads=use_threads(options.threads)[0])  # recorded as used
        if isinstance(target, LoadedModel):
            loaded = target
            self.device = next(target.model.parameters()).device
        else:
            self.device = pick_device(generation_device(device or options.device, options.precision))
            loaded = load_model(target, prefer=options.checkpoint, device=self.device)
        self.model, self.tokenizer, self.ckpt = loaded
        if options.precision == "int8" and self.device.type != "cpu":
            raise TunesmithError("--precision int8 is for generating on the CPU (PyTorch dynamic quantisation)")
        try:
            self.stepper = self.model.stepper(options.precision)  # built once: packing int8 weights takes 70 ms
        except ValueError as exc:
            raise TunesmithError(f"--precision {options.precision}: {exc}") from None
        self.cfg = self.ckpt.config
        self.window = int(self.cfg.get("seq_len") or 64)
        if options.style is not None and options.style not in self.tokenizer.styles:
            known = ", ".join(self.tokenizer.styles) or "none: the model was trained without --style-tokens"
            raise TunesmithError(f"unknown style {options.style!r}: this model knows {known}")
        self.run_name = self.ckpt.run_name
        tk = self.tokenizer
        specials = (tk.pad_id, tk.bos_id, tk.unk_id)
        self.forbid = tuple(dict.fromkeys(specials + tuple(tk.control_ids)))  # conditions and headers: the head's
        self.band = self._asked_band()
        self.form = form_of(options.form, options.section_bars, tk) if options.form else None
        self.key_auto = options.key == KEY_AUTO
        self.key = parse_key(options.key) if options.key is not None and not self.key_auto else None  # checked
        self.key_id = tk.key_id(options.key) if self.key is not None and "key" in tk.conditions else None
        self.key_bias, self.key_steering = self._key_pull(0)
        self.tempo_id = tk.tempo_id(options.tempo) if options.tempo and "tempo" in tk.conditions else None
        asked_density = parse_density(options.density)
        self.density = density_target(tk, asked_density)  # notes a bar, None: the model's own
        self.density_steering = describe_density(self.density, asked_density) if self.density else None
        self.bands: list[Band] = [None] * options.num  # each primer's band, set by primers()
        self._file_head = 0
        self.heads = [0] * options.num  # each primer's head length (BOS, conditions, band): kept by window models
        self._controls = set(tk.control_ids)
        self.copy_index, self.copy_table = self._copy_index() if options.no_copy else (None, None)

    def _copy_index(self) -> tuple[PitchNgrams, LineTable]:
        """``--no-copy``: the pitch n-grams of the run's training split, read under a shared lock, and the token table.

        A one-line error for an encoding without pitch tokens, or a run whose training data is gone or changed.
        """
        tk, data_dir = self.tokenizer, self.ckpt.data_dir
        LineTable.of(tk, PitchNgrams([]))  # an encoding without pitch tokens: one line before reading any data
        try:
            check_data_dir(data_dir)
        except TunesmithError as exc:
            raise TunesmithError(f"--no-copy compares the samples with the run's training split, but {exc}") from None
        with shared(data_dir, "generate --no-copy"):
            check_same_data(data_dir, data_fingerprint(data_dir), self.ckpt.fingerprint, tk, hint="prepare it again")
            train = TokenData(data_dir, "train")
            index = PitchNgrams.of_split(tk, train, train.n_pieces)
        return index, LineTable.of(tk, index)

    def _asked_band(self) -> tuple[int, ...] | None:
        if self.options.band is None:
            return None
        if not self.tokenizer.has_header:
            raise TunesmithError(
                "--band needs an event model whose pieces start with their band (prepared with band headers); "
                "this model has none: use --instruments"
            )
        band = parse_band(self.options.band)
        self.tokenizer.header_ids(band)  # a program the model never played: one line now
        return band

    # -- primers ----------------------------------------------------------------------------------------------

    def _head(self, rng: np.random.Generator | None = None, piece: Piece | None = None) -> tuple[list[int], Band]:
        """BOS, the conditions asked for (else the primer file's, else drawn from the training pieces'), the band.

        Returns the ids and the band (event models with headers, else None): ``--band``, else the primer file's, else
        a training piece's header drawn with ``rng``.
        """
        tk = self.tokenizer
        rng = rng if rng is not None else np.random.default_rng(self.options.seed)
        head = [tk.bos_id]
        if self.options.style is not None:
            head.append(tk.style_id(self.options.style))
        given = {"key": self.key_id, "tempo": self.tempo_id}
        of_piece = dict(zip(("key", "tempo"), tk.condition_tokens(piece, style=False))) if piece is not None else {}
        for name in ("key", "tempo"):
            if name not in tk.conditions:
                continue
            if given[name] is not None:
                head.append(given[name])
            elif piece is not None:
                head.append(tk.token_id(of_piece[name]))
            else:
                head.append(tk.token_id(_draw(tk.priors.get(name, {}), rng)))
        if not tk.has_header:
            return head, None
        if self.band is not None or piece is not None:
            band = self.band if self.band is not None else tk.band_of(piece.score)
            return head + tk.header_ids(band), band
        header = [tk.token_id(t) for t in _draw(tk.priors.get("header", {}), rng).split()]
        return head + header, tk.band_of_ids(header)

    def primers(self, rng: np.random.Generator) -> tuple[list[list[int]], bool]:
        """Each sample's primer ids and whether the primer belongs in the output (a user's file does).

        Primers may differ in length (their bands do): ``_sample`` draws each length's rows as one batch.
        """
        n, kind = self.options.num, self.options.primer
        if kind == "none":
            heads = [self._head(rng) for _ in range(n)]
            self.bands = [band for _, band in heads]
            self.heads = [len(ids) if self.tokenizer.window_head else 0 for ids, _ in heads]
            return [ids for ids, _ in heads], False
        if kind == "random":
            for option in ("style", "key"):  # a key without a key token is only a bias: any primer will do
                if getattr(self.options, option) is not None and (option == "style" or self.key_id is not None):
                    raise TunesmithError(
                        f"--{option} works with --primer none or --primer FILE (a random window has its own)"
                    )
            if self.tempo_id is not None:
                raise TunesmithError("--tempo for a tempo-conditioned model works with --primer none or --primer FILE")
            self.heads = [0] * n
            return self._random_windows(rng), False
        row, band = self._file_primer(Path(kind), rng)
        self.bands, self.heads = [band] * n, [self._file_head] * n
        return [row] * n, True

    def _random_windows(self, rng: np.random.Generator) -> list[list[int]]:
        """Windows of the training split, read under a shared lock from the very data the run was trained on."""
        data_dir = self.ckpt.data_dir
        hint = "use --primer none or --primer FILE"
        try:
            check_data_dir(data_dir)
        except TunesmithError as exc:
            raise TunesmithError(f"--primer random draws from the run's training data, but {exc}; {hint}") from None
        with shared(data_dir, "generate --primer random"):
            check_same_data(data_dir, data_fingerprint(data_dir), self.ckpt.fingerprint, self.tokenizer, hint=hint)
            return self._windows_of(TokenData(data_dir, "train"), rng)

    def _windows_of(self, data, rng: np.random.Generator) -> list[list[int]]:
        lengths = np.diff(data.bounds)
        size = int(min(self.window, max(lengths.max() - 1, 1)))
        usable = np.flatnonzero(lengths > size)
        rows = []
        for row in range(self.options.num):
            piece = int(rng.choice(usable))
            start = int(rng.integers(0, lengths[piece] - size))
            rows.append([int(i) for i in data.piece(piece)[start : start + size]])
            if self.tokenizer.has_header:  # the band of the song the window comes from, unless one was asked
                own = self.tokenizer.band_of_ids(data.piece(piece)[:HEADER_SEARCH])
                self.bands[row] = self.band if self.band is not None else own
        return rows

    def _file_primer(self, path: Path, rng: np.random.Generator) -> tuple[list[int], Band]:
        from tunesmith.corpus.readers import UnreadableFile, read_source
        from tunesmith.corpus.select import select_tracks

        if not path.is_file():
            raise TunesmithError(f"primer not found: {path} (use --primer random, none or a MIDI/ABC file)")
        try:
            parsed, _ = read_source(path, path.read_bytes(), 480)
            if not parsed or not sum(len(t.notes) for t in parsed[0].score.tracks):
                raise TunesmithError(f"primer {path} has no notes to continue (a file with a header and no notes?)")
            drums = "keep" if self.tokenizer.has_header else "drop"  # a band has its drums
            merged = select_tracks(parsed[0].score, SelectConfig(instruments="merge", drums=drums))
            piece = Piece(merged[0].to("quarter"), id=path.stem, source=str(path), abc=parsed[0].abc)
            ids = self.tokenizer.encode(piece, head=False)
        except (UnreadableFile, IndexError, ValueError, RuntimeError) as exc:
            raise TunesmithError(
                f"cannot read primer {path}: {str(exc).splitlines()[0] if str(exc) else 'no notes'}"
            ) from None
        body = [i for i in ids if i not in (self.tokenizer.bos_id, self.tokenizer.eos_id)]
        if not body:
            raise TunesmithError(f"primer {path} has no notes to continue")
        if len(body) > MAX_TOKENS:
            raise TunesmithError(f"primer {path} is {len(body):,} tokens long: at most {MAX_TOKENS:,}")
        head, band = self._head(rng, piece)
        self._file_head = len(head) if self.tokenizer.window_head else 0
        return head + body, band  # all of it: it is written back; window models read its last window

    # -- sampling ---------------------------------------------------------------------------------------------

    def _meter(self) -> Meter:
        num, den = parse_time_signature(self.options.time_signature or "4/4")
        return Meter(self.options.tempo or 120.0, num * 4 / den)

    def generate(self) -> list[Sample]:
        """Every sample at every temperature, checked (and redrawn) in memory, nothing written."""
        amount, unit = parse_length(self.options.target_length)
        target, out = Target(amount, unit, self._meter()), []
        steps = token_budget(amount, unit)
        for ti, temperature in enumerate(self.options.temperatures):
            rng = np.random.default_rng((self.options.seed, ti))
            primer, keep_primer = self.primers(rng)
            starts = [self._start(primer[i]) if keep_primer else Start() for i in range(len(primer))]
            suffix = f"-t{temperature:g}" if len(self.options.temperatures) > 1 else ""
            samples = [
                Sample(f"sample-{i + 1:02d}{suffix}", temperature, i, settings=self.options, composer=self.run_name)
                for i in range(self.options.num)
            ]
            for i, sample_ in enumerate(samples):
                sample_.band = self.bands[i]
                sample_.density_steering = self.density_steering
                sample_.head = [self.tokenizer.vocab[t] for t in primer[i][:HEADER_SEARCH] if t in self._controls]
            pending = list(range(self.options.num))
            drawn = self.options.beam == 1 and temperature > 0  # beam search and greedy draw nothing to redraw
            for attempt in range(self.options.retries + 1 if self.options.check and drawn else 1):
                seed = self.options.seed * 1_000 + ti + 1_000_003 * attempt  # attempt 0: the seed it always had
                bias, steering = self._key_pull(attempt) if attempt else (self.key_bias, self.key_steering)
                for i in pending:
                    samples[i].key_steering = steering
                generator = torch.Generator(device=self.device).manual_seed(seed)
                rows = [primer[i] for i in pending]
                row_starts = [starts[i] for i in pending]

                def until(group: list[int], rows=rows, row_starts=row_starts, keep=keep_primer):  # one length's rows
                    if unit == "tokens" or self.form is not None:  # a form ends a row at its last bar line
                        return None
                    return self._until([rows[j] for j in group], keep, target, [row_starts[j] for j in group])

                label = f"T={temperature:g}" + (f" retry {attempt}" if attempt else "")
                bands = [samples[i].band for i in pending]
                heads = [self.heads[i] for i in pending]
                ids, kept, guarded = self._sample(
                    rows, bands, heads, steps, temperature, generator, until, label, keep_primer, bias
                )
                for j, i in enumerate(pending):
                    samples[i].key_kept = kept[j].name if kept[j] else None
                    samples[i].copy_guard = guarded[j]
                    self._judge(samples[i], rows[j], keep_primer, ids[j].tolist(), row_starts[j], target)
                    samples[i].attempts = attempt + 1
                pending = [i for i in pending if not samples[i].ok or samples[i].off_key]  # off key: tried again
                if not pending:
                    break
            out += samples
        return out

    def _key_pull(self, attempt: int) -> tuple[torch.Tensor | None, str | None]:
        """``--key``'s logit bias for try ``attempt`` and how it asks, in words: stronger on each redraw.

        (None, None) without ``--key KEY``; with ``--key auto`` the keeper's description (it steers in ``_sample``).
        """
        if self.key_auto:
            return None, KeyKeeper.describe(self.tokenizer, strength=self.options.key_strength)
        if self.key is None:
            return None, None
        bias, how = steer(self.tokenizer, self.key, redraw_strength(self.options.key_strength, attempt))
        return (torch.from_numpy(bias).to(self.device) if bias is not None else None), how

    def _heard_key(self, new_music: Score) -> Key | None:
        """The key ``new_music`` is heard in (Krumhansl-Schmuckler) where it is not ``--key``'s, else None.

        Asked only where ``--key`` pulls the pitch tokens (``--key-strength 0``, the key token alone, is not checked).
        Music with too few pitch classes for an estimate passes: nothing says it is in another key. A sample heard in
        another key is redrawn while tries remain; the last try stands, and ``generate.json`` records the key heard.
        """
        heard = estimate_key(new_music)
        return heard if heard is not None and heard != self.key else None

    def _start(self, primer_ids: list[int]) -> Start:
        """Where new music begins after a kept primer: after its notes, or with a form at the form's first bar.

        A form's first token is a bar line, the one after the primer's bars (one bar token each), so the form starts
        on the bar after the primer's last, wherever the primer's last note ends: mid-bar, or across that bar line.
        """
        result = self.tokenizer.try_decode(primer_ids)
        if not result.ok:
            return Start()
        start = Start.of(result.score)
        if self.form is None:
            return start
        return Start(start.notes, bar_start(result.score, primer_ids.count(self.tokenizer.bar_id)))

    def _judge(
        self, record: Sample, primer_ids: list[int], keep_primer: bool, row: list[int], start: Start, target: Target
    ) -> None:
        """Decode one try; keep it in ``record`` when it passes the checks, else add the reason it failed."""
        amount, unit, meter = target.amount, target.unit, target.meter
        new_ids = [i for i in row if i != self.tokenizer.pad_id]
        if self.tokenizer.eos_id in new_ids:
            new_ids = new_ids[: new_ids.index(self.tokenizer.eos_id)]
        ids = (primer_ids if keep_primer else [self.tokenizer.bos_id]) + row
        result = self.tokenizer.try_decode(ids)
        if not result.ok:
            record.reasons.append(f"does not decode: {result.error}")
            record.result = result
            return
        score = result.score
        reached = len(new_ids) if unit == "tokens" else min(new_length(score, unit, start, meter), amount)
        if self.form is not None:  # bars as counted by bar lines: the first starts the form, the last ends it
            reached = min(max(new_ids.count(self.tokenizer.bar_id) - 1, 0), amount)
        if unit == "tokens" or self.form is not None:
            end = note_end(score)
        else:
            end = min(end_of(score, amount, unit, start, meter), max(note_end(score), start.time))
        reason = None
        if self.options.check:
            short = unit != "tokens" and reached < amount and not self.options.allow_early_end
            reason = absurd_note(score, meter.bar) or check_new_music(score, start.time, end, meter.bar)
            if reason is None and short:
                reason = f"short: {reached:g} of {amount} {unit} before the token budget ran out"
        if reason:
            record.reasons.append(reason)
            return
        score = clip(score, end)
        checks_key = self.options.check and self.key_bias is not None
        drops_primer = keep_primer and not self.options.primer_in_output
        new_music = drop_before(score, start, unit) if keep_primer and (checks_key or drops_primer) else score
        heard = self._heard_key(new_music) if checks_key else None
        if heard is not None:  # kept, and redrawn while tries remain; the last try stands, its key recorded
            record.reasons.append(f"off key: its new music is heard in {heard}, not {self.key}")
        if drops_primer:
            score = new_music
        record.decoded, record.result, record.tokens, record.reached = score, result, len(new_ids), reached
        record.score, dropped = fit_channels(self.instruments(score, record.index))
        meter = parse_time_signature(self.options.time_signature) if self.options.time_signature else None
        record.score = set_meter(record.score, self.options.tempo, meter)
        repaired = [REPAIRED] if result.repaired else []
        record.warnings = list(result.warnings) + repaired + dropped
        record.off_key = str(heard) if heard is not None else None
        if heard is not None:
            record.warnings.append(f"off key: heard in {heard}, not the {self.key} asked")
        record.ids = [i for i in ids if i != self.tokenizer.pad_id]

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        """Generate every sample at every temperature into ``out_dir``; returns one record per sample written now.

        ``out_dir`` is locked while generating; samples already there are kept and the new ones numbered after
        them, unless ``overwrite`` replaces them; ``generate.json`` lists every sample the directory holds.
        """
        from tunesmith.output import write_samples

        return write_samples(self, Path(out_dir))

    def _until(
        self, rows: list[list[int]], keep_primer: bool, target: Target, starts: list[Start]
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Whether each row has reached the asked length of new music (checked every ``CHECK_EVERY`` tokens).

        A row's decoded sequence is its primer and what it drew (a kept primer), else BOS and what it drew.
        """
        prefixes = rows if keep_primer else [[self.tokenizer.bos_id]] * len(rows)
        check = LengthCheck(self.tokenizer, prefixes, target, starts)
        return lambda out: torch.tensor(check(out), device=out.device)

    def _band_forbid(self, band: tuple[int, ...] | None) -> list[int]:
        return self.tokenizer.band_forbid(band) if band is not None else []

    def _sample(
        self,
        rows: list[list[int]],
        bands: list,
        heads: list[int],
        steps: int,
        temperature,
        generator,
        until,
        label,
        keep_primer: bool = False,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[Key | None], list[dict[str, int] | None]]:
        """(B, W) new ids for each primer row, its key kept by ``--key auto``, what ``--no-copy`` did in it.

        The key and the guard's record are None where they are off. Rows of one length are one batch, each masked
        to its band. ``heads``: how many first ids of each row are its head, which window models keep in every
        window. ``keep_primer``: the primer is decoded with the new tokens, so ``--no-copy`` follows its lines from it.
        ``bias``: this try's ``--key`` pull (``_key_pull``).
        """
        tk = self.tokenizer
        forbid = self.forbid if self.options.allow_early_end else (*self.forbid, tk.eos_id)
        kept: list[Key | None] = [None] * len(rows)
        guarded: list[dict[str, int] | None] = [None] * len(rows)
        if self.options.beam > 1:
            out = [
                beam_search(
                    self.model,
                    torch.tensor([rows[i]], device=self.device),
                    steps,
                    self.options.beam,
                    self.window,
                    (*forbid, *self._band_forbid(bands[i])),
                    tk.eos_id,
                    stepper=self.stepper,
                    bias=bias,
                )[0]
                for i in range(len(rows))
            ]
        else:
            groups: dict[int, list[int]] = {}
            for i, row in enumerate(rows):
                groups.setdefault(len(row), []).append(i)
            out = [None] * len(rows)
            disable = None if self.options.progress else True  # None: a bar on a terminal only
            for group in groups.values():
                mask = None
                keeper = (
                    KeyKeeper(tk, [rows[i] for i in group], strength=self.options.key_strength)
                    if self.key_auto
                    else None
                )
                guard = (
                    CopyGuard(
                        tk,
                        self.copy_index,
                        [rows[i] if keep_primer else [] for i in group],
                        self.copy_table,
                        self.device,
                    )
                    if self.copy_index is not None
                    else None
                )
                density = DensityKeeper(tk, self.density, len(group), self.device) if self.density else None
                if any(bands[i] is not None for i in group):
                    mask = torch.zeros(len(group), len(tk), dtype=torch.bool, device=self.device)
                    for j, i in enumerate(group):
                        mask[j, self._band_forbid(bands[i])] = True
                with tqdm(total=steps, desc=label, unit="tok", disable=disable, leave=False) as bar:
                    ids = sample(
                        self.model,
                        torch.tensor([rows[i] for i in group], device=self.device),
                        steps,
                        temperature,
                        self.options.top_k,
                        self.options.top_p,
                        generator=generator,
                        window=self.window,
                        forbid=forbid,
                        stop_id=tk.eos_id,
                        pad_id=tk.pad_id,
                        until=until(group),
                        check_every=CHECK_EVERY,
                        stepper=self.stepper,
                        on_step=bar.update,
                        forbid_rows=mask,
                        head=heads[group[0]],
                        bias=bias,
                        follow=FormFollower(self.form, tk.bar_id, len(group)) if self.form else None,
                        keep=[k for k in (keeper, density, guard) if k is not None],
                    )
                for j, i in enumerate(group):
                    out[i] = ids[j]
                    kept[i] = keeper.keys[j] if keeper else None
                    guarded[i] = guard.record(j) if guard else None
        width = max(len(r) for r in out)
        return torch.stack([torch.cat([r, r.new_full((width - len(r),), tk.pad_id)]) for r in out]), kept, guarded

    def instruments(self, score: Score, index: int) -> Score:
        """The score with the instruments asked for (``--instruments``), else as decoded."""
        spec = self.options.instruments
        if spec is None:
            return score
        # a preset that draws its instruments (random-indian) draws them from the seed and the sample's number
        mapping = load_instrument_map(spec, random.Random(self.options.seed * 1_000_003 + index))
        return assign_instruments(score, mapping)


def _draw(counts: dict[str, int], rng: np.random.Generator) -> str:
    """A value drawn in proportion to how often it started a training piece (``Tokenizer.priors``)."""
    if not counts:
        raise TunesmithError("this model's tokenizer recorded no training conditions to draw from: ask for them")
    values = sorted(counts)
    weights = np.asarray([counts[v] for v in values], dtype=np.float64)
    return values[int(rng.choice(len(values), p=weights / weights.sum()))]
