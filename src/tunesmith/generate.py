"""From a checkpoint to files: primers, sampling at each temperature, decoding, instruments, MIDI / WAV / PNG / ABC.

Every sample of one temperature is one batch. Randomness comes from one seed: primers, sampling and the
``random-indian`` instrument choice, so the same checkpoint, options and seed give byte-identical MIDI files.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from symusic import Score

from tunesmith.checkpoint import load_model
from tunesmith.config import SelectConfig
from tunesmith.corpus.pieces import Piece
from tunesmith.errors import TunesmithError
from tunesmith.models.fused_rnn import PRECISIONS
from tunesmith.postprocess import (
    RANDOM_INDIAN,
    assign_instruments,
    load_instrument_map,
    parse_time_signature,
    pick_random_indian,
    set_meter,
)
from tunesmith.render import plot_piano_roll, render_wav, write_midi, write_musicxml
from tunesmith.sample import beam_search, sample

FORMATS = ("mid", "wav", "png", "abc", "musicxml")
UNITS = {"": "tokens", "tokens": "tokens", "notes": "notes", "bars": "bars", "s": "seconds", "seconds": "seconds"}
TOKENS_PER_UNIT = {"notes": 24, "bars": 256, "seconds": 128}  # a generous token budget per unit asked for
MAX_TOKENS = 50_000
CHECK_EVERY = 64  # tokens between checks of a length given in notes, bars or seconds


def parse_length(text: str) -> tuple[int, str]:
    """``"512"`` -> (512, "tokens"); ``"200notes"``, ``"32bars"``, ``"60s"`` likewise."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in UNITS or int(match.group(1)) < 1:
        raise TunesmithError(f"bad --length {text!r}: a positive number of tokens, or like 200notes, 32bars, 60s")
    return int(match.group(1)), UNITS[match.group(2)]


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
    precision: str = "float32"  # weights for each new token: float32, bfloat16 (LSTM stacks) or int8

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
        ]
        for ok, message in checks:
            if not ok:
                raise TunesmithError(message)
        parse_length(self.length)
        if self.time_signature:
            parse_time_signature(self.time_signature)
        if self.instruments and self.instruments != RANDOM_INDIAN:
            load_instrument_map(self.instruments)


def score_length(score: Score, unit: str, qpm: float, beats_per_bar: float) -> float:
    """How long a decoded score is in ``unit`` (notes, bars or seconds)."""
    notes = [n for t in score.tracks for n in t.notes]
    if unit == "notes":
        return len(notes)
    end = max((n.time + n.duration for n in notes), default=0.0)
    return end / beats_per_bar if unit == "bars" else end * 60.0 / qpm


def cut_score(score: Score, amount: int, unit: str, qpm: float, beats_per_bar: float) -> Score:
    """The score up to ``amount`` notes, bars or seconds (notes starting later dropped, the last ones shortened)."""
    if unit == "tokens":
        return score
    if unit == "notes":
        onsets = sorted(n.time for t in score.tracks for n in t.notes)
        limit = onsets[amount] if len(onsets) > amount else float("inf")
    else:
        limit = amount * beats_per_bar if unit == "bars" else amount * qpm / 60.0
    out = score.copy()
    for track in out.tracks:
        kept = [n for n in track.notes if n.time < limit]
        for n in kept:
            n.duration = min(n.duration, limit - n.time)
        track.notes = type(track.notes)(kept) if kept else type(track.notes)()
    return out


class Generator:
    """Generation from one checkpoint."""

    def __init__(self, target: str | Path, options: GenerateOptions, device: str = "cpu") -> None:
        self.options = options
        self.model, self.tokenizer, self.ckpt = load_model(target, prefer=options.checkpoint, device=device)
        self.device = torch.device(device)
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
        if "abc" in options.formats and self.tokenizer.name != "abc":
            raise TunesmithError(
                f"--format abc needs a model trained on the abc encoding (this one: {self.tokenizer.name})"
            )
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
        from tunesmith.data import TokenData

        data_dir = Path(self.cfg.get("data", ""))
        try:
            data = TokenData(data_dir, "train")
        except (TunesmithError, OSError):
            raise TunesmithError(
                f"--primer random draws from the training data at {data_dir}, which is not there; "
                "use --primer none or --primer FILE"
            ) from None
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
        return self._head() + body[-max(self.window - len(self._head()), 1) :]

    # -- sampling ---------------------------------------------------------------------------------------------

    def _budget(self) -> tuple[int, str, int]:
        amount, unit = parse_length(self.options.length)
        steps = amount if unit == "tokens" else min(amount * TOKENS_PER_UNIT[unit], MAX_TOKENS)
        return amount, unit, steps

    def _meter(self) -> tuple[float, float]:
        qpm = self.options.tempo or 120.0
        num, den = parse_time_signature(self.options.time_signature or "4/4")
        return qpm, num * 4 / den

    def run(self, out_dir: Path) -> list[dict[str, Any]]:
        """Generate every sample at every temperature into ``out_dir``; returns one record per file set."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        amount, unit, steps = self._budget()
        qpm, bar = self._meter()
        records = []
        for ti, temperature in enumerate(self.options.temperatures):
            rng = np.random.default_rng((self.options.seed, ti))
            primer, keep_primer = self.primers(rng)
            generator = torch.Generator(device=self.device).manual_seed(self.options.seed * 1_000 + ti)
            until = None if unit == "tokens" else self._until(primer, keep_primer, amount, unit, qpm, bar)
            ids = self._sample(primer, steps, temperature, generator, until)
            for i in range(self.options.num):
                row = ids[i].tolist()
                full = primer[i].tolist() + row if keep_primer else self._head() + row
                stem = f"sample-{i + 1:02d}" + (f"-t{temperature:g}" if len(self.options.temperatures) > 1 else "")
                records.append(self._write(out_dir, stem, full, temperature, i, amount, unit, qpm, bar))
        summary = {"checkpoint": self.ckpt["path"], "options": asdict(self.options), "files": records}
        (out_dir / "generate.json").write_text(json.dumps(summary, indent=1))
        return records

    def _until(self, primer, keep_primer, amount, unit, qpm, bar):
        def enough(out: torch.Tensor) -> torch.Tensor:
            done = []
            for i in range(out.shape[0]):
                ids = (primer[i].tolist() if keep_primer else self._head()) + out[i].tolist()
                result = self.tokenizer.try_decode(ids)
                done.append(result.ok and score_length(result.score, unit, qpm, bar) > amount)
            return torch.tensor(done, device=out.device)

        return enough

    def _sample(self, primer: torch.Tensor, steps: int, temperature: float, generator, until) -> torch.Tensor:
        tk = self.tokenizer
        if self.options.beam > 1:
            rows = [
                beam_search(
                    self.model,
                    primer[i : i + 1],
                    steps,
                    self.options.beam,
                    self.window,
                    self.forbid,
                    tk.eos_id,
                    stepper=self.stepper,
                )[0]
                for i in range(primer.shape[0])
            ]
            width = max(len(r) for r in rows)
            return torch.stack([torch.cat([r, r.new_full((width - len(r),), tk.pad_id)]) for r in rows])
        return sample(
            self.model,
            primer,
            steps,
            temperature,
            self.options.top_k,
            self.options.top_p,
            generator=generator,
            window=self.window,
            forbid=self.forbid,
            stop_id=tk.eos_id,
            pad_id=tk.pad_id,
            until=until,
            check_every=CHECK_EVERY,
            stepper=self.stepper,
        )

    def _write(self, out_dir, stem, ids, temperature, index, amount, unit, qpm, bar) -> dict[str, Any]:
        record: dict[str, Any] = {"name": stem, "temperature": temperature, "tokens": len(ids)}
        result = self.tokenizer.try_decode(ids)
        if not result.ok:
            record["error"] = result.error
            if "abc" in self.options.formats:  # text that does not parse is still worth reading and fixing by hand
                (out_dir / f"{stem}.abc").write_text(result.text or "".join(self.tokenizer.strip(ids)))
                record["files"] = [str(out_dir / f"{stem}.abc")]
            return record
        if result.repaired:
            record["repaired"] = True
            record.setdefault("warnings", []).append(
                "the ABC text does not parse as written: the MIDI is of a repaired copy"
            )
        score = cut_score(result.score, amount, unit, qpm, bar)
        score = self._instruments(score, index)
        ts = parse_time_signature(self.options.time_signature) if self.options.time_signature else None
        score = set_meter(score, self.options.tempo, ts)
        midi = write_midi(score, out_dir / f"{stem}.mid")
        record["files"] = [str(midi)]
        record["notes"] = sum(len(t.notes) for t in score.tracks)
        record["programs"] = sorted({t.program for t in score.tracks if not t.is_drum})
        for fmt in self.options.formats:
            try:
                if fmt == "wav":
                    record["files"].append(str(render_wav(midi, out_dir / f"{stem}.wav")))
                elif fmt == "png":
                    record["files"].append(str(plot_piano_roll(score, out_dir / f"{stem}.png")))
                elif fmt == "musicxml":
                    record["files"].append(str(write_musicxml(midi, out_dir / f"{stem}.musicxml")))
                elif fmt == "abc":
                    text = result.text or "".join(self.tokenizer.strip(ids))
                    (out_dir / f"{stem}.abc").write_text(text)
                    record["files"].append(str(out_dir / f"{stem}.abc"))
            except TunesmithError as exc:
                if fmt == "wav":
                    raise  # a missing synthesizer is the user's to fix: say so once
                record.setdefault("warnings", []).append(str(exc))
        return record

    def _instruments(self, score: Score, index: int) -> Score:
        spec = self.options.instruments
        if spec is None:
            return score
        if spec == RANDOM_INDIAN:
            mapping = pick_random_indian(random.Random(self.options.seed * 1_000_003 + index))
        else:
            mapping = load_instrument_map(spec)
        return assign_instruments(score, mapping)
