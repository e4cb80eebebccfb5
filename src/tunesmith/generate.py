"""From a checkpoint to music: primers, sampling at each temperature, checks, decoding, instruments.

Every sample of one temperature is one batch. Randomness comes from one seed: primers, sampling, redraws and the
``random-indian`` instrument choice, so the same checkpoint, options and seed give byte-identical MIDI files.

A length counts new music, after the primer; EOS is held back until it is reached (``allow_early_end`` restores the
old cap). Every sample is checked before it becomes a ``Sample`` with a score (``tunesmith.quality``): one that is
empty, degenerate, broken or short is redrawn with a seed derived from the run's, up to ``retries`` times, and then
comes back failed with its reasons. ``Generator.generate`` returns the samples in memory; ``Generator.run`` writes
them (``tunesmith.output``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from symusic import Score
from tqdm import tqdm

from tunesmith.checkpoint import load_model
from tunesmith.config import DEVICES, SelectConfig
from tunesmith.corpus.pieces import Piece
from tunesmith.data import TokenData, check_data_dir, check_same_data, data_fingerprint
from tunesmith.devices import pick_device
from tunesmith.encodings.base import DecodeResult
from tunesmith.errors import TunesmithError
from tunesmith.length import (
    MAX_TOKENS,
    Meter,
    Start,
    clip,
    drop_before,
    end_of,
    new_length,
    note_end,
    parse_length,
    token_budget,
)
from tunesmith.locks import shared
from tunesmith.models.fused_rnn import PRECISIONS
from tunesmith.postprocess import (
    RANDOM_INDIAN,
    assign_instruments,
    load_instrument_map,
    parse_time_signature,
    pick_random_indian,
)
from tunesmith.quality import absurd_note, check_new_music
from tunesmith.render import MAX_SECONDS
from tunesmith.sample import beam_search, sample

FORMATS = ("mid", "wav", "ogg", "png", "abc", "musicxml")
CHECK_EVERY = 64  # tokens between checks of a length given in notes, bars or seconds


@dataclass
class GenerateOptions:
    """What ``tunesmith generate`` was asked for."""

    num: int = 1
    length: str = "512"
    temperatures: tuple[float, ...] = (1.0,)
    top_k: int = 0
    top_p: float = 1.0
    beam: int = 1
    primer: str = "random"  # random | none | FILE
    seed: int = 0
    style: str | None = None
    tempo: float | None = None
    time_signature: str | None = None
    instruments: str | None = None  # a preset, random-indian, or FILE.toml; None keeps the decoded tracks
    formats: tuple[str, ...] = ("mid",)
    checkpoint: str = "best.pt"
    precision: str = "float32"  # weights for each new token: float32, bfloat16 (LSTM and GRU stacks) or int8
    device: str = "auto"  # auto (CUDA, then MPS, then the CPU), cpu, cuda or mps; int8 with auto runs on the CPU
    retries: int = 3  # redraws of a sample that fails its checks
    allow_early_end: bool = False  # EOS may end a sample before the asked length (the length is then a cap)
    primer_in_output: bool = True  # a user's primer file stays at the start of each sample
    max_seconds: float = MAX_SECONDS  # the longest WAV / OGG rendered
    overwrite: bool = False  # replace the samples already in the output directory (else number after them)
    check: bool = True  # refuse empty, degenerate, broken and short samples (evaluation measures them all)
    progress: bool = True  # a bar over tokens, on a terminal

    def __post_init__(self) -> None:
        self.temperatures = tuple(float(t) for t in self.temperatures)
        self.formats = tuple(dict.fromkeys(("mid", *self.formats)))
        checks = [
            (self.num >= 1, "--num must be at least 1"),
            (all(t >= 0 for t in self.temperatures), "--temperature must be 0 (greedy) or positive"),
            (self.top_k >= 0, "--top-k must be 0 (off) or positive"),
            (0 < self.top_p <= 1, "--top-p must be in (0, 1]"),
            (self.beam >= 1, "--beam must be at least 1"),
            (self.tempo is None or 10 <= self.tempo <= 400, "--tempo must be between 10 and 400 BPM"),
            (set(self.formats) <= set(FORMATS), f"--format takes {', '.join(FORMATS)}"),
            (self.precision in PRECISIONS, f"--precision takes {', '.join(PRECISIONS)}"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.retries >= 0, "--retries must be 0 or more"),
            (self.max_seconds > 0, "--max-seconds must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise TunesmithError(message)
        parse_length(self.length)
        if self.time_signature:
            parse_time_signature(self.time_signature)
        if self.instruments and self.instruments != RANDOM_INDIAN:
            load_instrument_map(self.instruments)


@dataclass
class Sample:
    """One generated sample: its score (None when it failed every try), how long it came out, and why not."""

    name: str
    temperature: float
    index: int
    score: Score | None = None
    tokens: int = 0
    reached: float = 0.0  # new music, in the unit of --length
    attempts: int = 1
    reasons: list[str] = field(default_factory=list)  # why earlier tries (or all of them) were refused
    result: DecodeResult | None = None

    @property
    def ok(self) -> bool:
        """Whether the sample passed its checks."""
        return self.score is not None


class Generator:
    """Generation from one checkpoint."""

    def __init__(self, target: str | Path, options: GenerateOptions, device: str | None = None) -> None:
        """``device`` overrides ``options.device`` (a name, resolved by ``tunesmith.devices.pick_device``)."""
        self.options = options
        name = device or options.device
        if name == "auto" and options.precision == "int8":
            name = "cpu"  # dynamic quantisation runs on the CPU only
        self.device = pick_device(name)
        self.model, self.tokenizer, self.ckpt = load_model(target, prefer=options.checkpoint, device=self.device)
        if options.precision == "int8" and self.device.type != "cpu":
            raise TunesmithError("--precision int8 is for generating on the CPU (PyTorch dynamic quantisation)")
        try:
            self.stepper = self.model.stepper(options.precision)  # built once: packing int8 weights takes 70 ms
        except ValueError as exc:
            raise TunesmithError(f"--precision {options.precision}: {exc}") from None
        self.cfg = self.ckpt["config"]
        self.window = int(self.cfg.get("seq_len") or 64)
        if options.style is not None and options.style not in self.tokenizer.styles:
            known = ", ".join(self.tokenizer.styles) or "none: the model was trained without --style-tokens"
            raise TunesmithError(f"unknown style {options.style!r}: this model knows {known}")
        path = Path(self.ckpt["path"])
        self.run_name = path.parent.parent.name if path.parent.name == "checkpoints" else path.stem
        specials = (self.tokenizer.pad_id, self.tokenizer.bos_id, self.tokenizer.unk_id)
        styles = tuple(self.tokenizer.token_id(f"<style:{s}>") for s in self.tokenizer.styles)
        self.forbid = tuple(dict.fromkeys(specials + styles))

    # -- primers ----------------------------------------------------------------------------------------------

    def _head(self) -> list[int]:
        head = [self.tokenizer.bos_id]
        if self.options.style is not None:
            head.append(self.tokenizer.token_id(f"<style:{self.options.style}>"))
        return head

    def primers(self, rng: np.random.Generator) -> tuple[torch.Tensor, bool]:
        """(B, P) primer ids and whether the primer belongs in the output (a user's file does)."""
        n, kind = self.options.num, self.options.primer
        if kind == "none":
            rows = [self._head()] * n
            return torch.tensor(rows, device=self.device), False
        if kind == "random":
            if self.options.style is not None:
                raise TunesmithError("--style works with --primer none or --primer FILE (a random window has its own)")
            return torch.tensor(self._random_windows(rng), device=self.device), False
        return torch.tensor([self._file_primer(Path(kind))] * n, device=self.device), True

    def _random_windows(self, rng: np.random.Generator) -> list[list[int]]:
        """Windows of the training split, read under a shared lock from the very data the run was trained on."""
        data_dir = Path(self.cfg.get("data", ""))
        hint = "use --primer none or --primer FILE"
        try:
            check_data_dir(data_dir)
        except TunesmithError as exc:
            raise TunesmithError(f"--primer random draws from the run's training data, but {exc}; {hint}") from None
        with shared(data_dir, "generate --primer random"):
            trained_on = (self.ckpt.get("data") or {}).get("fingerprint")
            check_same_data(data_dir, data_fingerprint(data_dir), trained_on, self.tokenizer, hint=hint)
            return self._windows_of(TokenData(data_dir, "train"), rng)

    def _windows_of(self, data, rng: np.random.Generator) -> list[list[int]]:
        lengths = np.diff(data.bounds)
        size = int(min(self.window, max(lengths.max() - 1, 1)))
        usable = np.flatnonzero(lengths > size)
        rows = []
        for _ in range(self.options.num):
            piece = int(rng.choice(usable))
            start = int(rng.integers(0, lengths[piece] - size))
            rows.append([int(i) for i in data.piece(piece)[start : start + size]])
        return rows

    def _file_primer(self, path: Path) -> list[int]:
        from tunesmith.corpus.readers import UnreadableFile, read_source
        from tunesmith.corpus.select import select_tracks

        if not path.is_file():
            raise TunesmithError(f"primer not found: {path} (use --primer random, none or a MIDI/ABC file)")
        try:
            parsed, _ = read_source(path, path.read_bytes(), 480)
            if not parsed or not sum(len(t.notes) for t in parsed[0].score.tracks):
                raise TunesmithError(f"primer {path} has no notes to continue (a file with a header and no notes?)")
            merged = select_tracks(parsed[0].score, SelectConfig(instruments="merge"))
            piece = Piece(merged[0].to("quarter"), id=path.stem, source=str(path), abc=parsed[0].abc)
            ids = self.tokenizer.encode(piece, style=False)
        except (UnreadableFile, IndexError, ValueError, RuntimeError) as exc:
            raise TunesmithError(
                f"cannot read primer {path}: {str(exc).splitlines()[0] if str(exc) else 'no notes'}"
            ) from None
        body = [i for i in ids if i not in (self.tokenizer.bos_id, self.tokenizer.eos_id)]
        if not body:
            raise TunesmithError(f"primer {path} has no notes to continue")
        if len(body) > MAX_TOKENS:
            raise TunesmithError(f"primer {path} is {len(body):,} tokens long: at most {MAX_TOKENS:,}")
        return self._head() + body  # all of it: it is written back; window models read its last window

    # -- sampling ---------------------------------------------------------------------------------------------

    def _meter(self) -> Meter:
        num, den = parse_time_signature(self.options.time_signature or "4/4")
        return Meter(self.options.tempo or 120.0, num * 4 / den)

    def generate(self) -> list[Sample]:
        """Every sample at every temperature, checked (and redrawn) in memory, nothing written."""
        amount, unit = parse_length(self.options.length)
        steps, meter, out = token_budget(amount, unit), self._meter(), []
        for ti, temperature in enumerate(self.options.temperatures):
            rng = np.random.default_rng((self.options.seed, ti))
            primer, keep_primer = self.primers(rng)
            starts = [self._start(primer[i].tolist()) if keep_primer else Start() for i in range(primer.shape[0])]
            suffix = f"-t{temperature:g}" if len(self.options.temperatures) > 1 else ""
            samples = [Sample(f"sample-{i + 1:02d}{suffix}", temperature, i) for i in range(self.options.num)]
            pending = list(range(self.options.num))
            drawn = self.options.beam == 1 and temperature > 0  # beam search and greedy draw nothing to redraw
            for attempt in range(self.options.retries + 1 if self.options.check and drawn else 1):
                seed = self.options.seed * 1_000 + ti + 1_000_003 * attempt  # attempt 0: the seed it always had
                generator = torch.Generator(device=self.device).manual_seed(seed)
                rows = primer[pending]
                row_starts = [starts[i] for i in pending]
                until = None if unit == "tokens" else self._until(rows, keep_primer, amount, unit, row_starts, meter)
                label = f"T={temperature:g}" + (f" retry {attempt}" if attempt else "")
                ids = self._sample(rows, steps, temperature, generator, until, label)
                for j, i in enumerate(pending):
                    self._judge(samples[i], rows[j].tolist(), keep_primer, ids[j].tolist(), row_starts[j], meter)
                    samples[i].attempts = attempt + 1
                pending = [i for i in pending if not samples[i].ok]
                if not pending:
                    break
            out += samples
        return out

    def _start(self, primer_ids: list[int]) -> Start:
        result = self.tokenizer.try_decode(primer_ids)
        return Start.of(result.score) if result.ok else Start()

    def _judge(self, record: Sample, primer_ids: list[int], keep_primer: bool, row: list[int], start, meter) -> None:
        """Decode one try; keep it in ``record`` when it passes the checks, else add the reason it failed."""
        amount, unit = parse_length(self.options.length)
        new_ids = [i for i in row if i != self.tokenizer.pad_id]
        if self.tokenizer.eos_id in new_ids:
            new_ids = new_ids[: new_ids.index(self.tokenizer.eos_id)]
        ids = (primer_ids if keep_primer else self._head()) + row
        result = self.tokenizer.try_decode(ids)
        if not result.ok:
            record.reasons.append(f"does not decode: {result.error}")
            record.result = result
            return
        score = result.score
        reached = len(new_ids) if unit == "tokens" else min(new_length(score, unit, start, meter), amount)
        if unit == "tokens":
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
        if keep_primer and not self.options.primer_in_output:
            score = drop_before(score, start, unit)
        record.score, record.result, record.tokens, record.reached = score, result, len(new_ids), reached

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        """Generate every sample at every temperature into ``out_dir``; returns one record per sample written now.

        ``out_dir`` is locked while generating; samples already there are kept and the new ones numbered after
        them, unless ``overwrite`` replaces them; ``generate.json`` lists every sample the directory holds.
        """
        from tunesmith.output import write_samples

        return write_samples(self, Path(out_dir))

    def _until(self, rows: torch.Tensor, keep_primer: bool, amount: int, unit: str, starts: list[Start], meter):
        def enough(out: torch.Tensor) -> torch.Tensor:
            done = []
            for i in range(out.shape[0]):
                ids = (rows[i].tolist() if keep_primer else self._head()) + out[i].tolist()
                result = self.tokenizer.try_decode(ids)
                done.append(result.ok and new_length(result.score, unit, starts[i], meter) > amount)
            return torch.tensor(done, device=out.device)

        return enough

    def _sample(self, primer: torch.Tensor, steps: int, temperature: float, generator, until, label: str):
        tk = self.tokenizer
        forbid = self.forbid if self.options.allow_early_end else (*self.forbid, tk.eos_id)
        if self.options.beam > 1:
            rows = [
                beam_search(
                    self.model,
                    primer[i : i + 1],
                    steps,
                    self.options.beam,
                    self.window,
                    forbid,
                    tk.eos_id,
                    stepper=self.stepper,
                )[0]
                for i in range(primer.shape[0])
            ]
            width = max(len(r) for r in rows)
            return torch.stack([torch.cat([r, r.new_full((width - len(r),), tk.pad_id)]) for r in rows])
        disable = None if self.options.progress else True  # None: a bar on a terminal only
        with tqdm(total=steps, desc=label, unit="tok", disable=disable, leave=False) as bar:
            return sample(
                self.model,
                primer,
                steps,
                temperature,
                self.options.top_k,
                self.options.top_p,
                generator=generator,
                window=self.window,
                forbid=forbid,
                stop_id=tk.eos_id,
                pad_id=tk.pad_id,
                until=until,
                check_every=CHECK_EVERY,
                stepper=self.stepper,
                on_step=bar.update,
            )

    def instruments(self, score: Score, index: int) -> Score:
        """The score with the instruments asked for (``--instruments``), else as decoded."""
        spec = self.options.instruments
        if spec is None:
            return score
        if spec == RANDOM_INDIAN:
            mapping = pick_random_indian(random.Random(self.options.seed * 1_000_003 + index))
        else:
            mapping = load_instrument_map(spec)
        return assign_instruments(score, mapping)
