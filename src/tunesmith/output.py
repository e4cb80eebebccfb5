"""Writing generated samples: numbered files in a locked directory, every format, and ``generate.json``.

The output directory is held with an exclusive lock while samples are written. Samples already there are kept and
the new ones numbered after them (``overwrite`` removes them first); ``generate.json`` lists every sample the
directory holds, earlier ones included, and is replaced atomically. A sample that failed its checks is listed with
its reasons and no file.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symusic import Score

from tunesmith.abc_writer import check_abc, ensure_headers, score_to_abc
from tunesmith.errors import TunesmithError
from tunesmith.key_steering import KEY_AUTO
from tunesmith.layout import SamplesDir
from tunesmith.length import note_count, parse_length
from tunesmith.locks import exclusive
from tunesmith.postprocess import parse_time_signature
from tunesmith.rendering import encode_ogg, plot_piano_roll, render_wav, wav_seconds, write_midi, write_musicxml

if TYPE_CHECKING:
    from tunesmith.generate import Generator, Sample

SAMPLE_FILE = re.compile(rf"^{SamplesDir.STEM}(\d+)")


def write_samples(generator: Generator, out_dir: Path) -> list[dict[str, Any]]:
    """Generate and write into ``out_dir`` (see the module); returns the records of this run's samples."""
    options = generator.options
    folder = SamplesDir(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TunesmithError(f"output {out_dir} is an existing file: give a directory to write samples into")
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(out_dir, "generate"):
        samples = generator.generate()  # before anything is removed: a failure here leaves the folder as it was
        if options.overwrite:
            for path in out_dir.iterdir():
                if path.is_file() and (SAMPLE_FILE.match(path.name) or path == folder.summary_file):
                    path.unlink()
        earlier = _earlier_records(folder)
        offset = max((int(m.group(1)) for p in out_dir.iterdir() if (m := SAMPLE_FILE.match(p.name))), default=0)
        several = len(options.temperatures) > 1
        records = []
        for sample in samples:
            suffix = f"-t{sample.temperature:g}" if several else ""
            stem = f"{SamplesDir.STEM}{offset + sample.index + 1:02d}{suffix}"
            records.append(write_sample(sample, out_dir, stem))
        summary = {"checkpoint": str(generator.ckpt.path), "options": asdict(options), "files": earlier + records}
        folder.write_summary(summary)
    return records


def _conditions(sample: Sample, score: Score, options) -> dict[str, Any]:
    """What a sample was asked for and what it is: its head tokens, band, drums, key (asked and estimated), tempo."""
    from tunesmith.band import band_names
    from tunesmith.keys import estimate_key, parse_key

    out: dict[str, Any] = {}
    if sample.head:
        out["conditions"] = sample.head
    if sample.band is not None:
        out["band"] = band_names(sample.band)
    out["drums"] = any(t.is_drum and len(t.notes) for t in score.tracks)
    estimated = estimate_key(score)
    asked = parse_key(options.key).name if options.key and options.key != KEY_AUTO else options.key
    out["key"] = {"asked": asked, "estimated": estimated.name if estimated else None}
    if options.key == KEY_AUTO:
        out["key"]["kept"] = sample.key_kept  # None: the sample never had an estimate to keep
    if sample.key_steering:
        out["key"]["by"] = sample.key_steering
    if options.tempo is not None:
        out["tempo"] = options.tempo
    if sample.density_steering:
        out["density"] = {"asked": options.density, "by": sample.density_steering}
    if sample.copy_guard is not None:  # --no-copy: draws at which it held tokens back, and those it let through
        out["no_copy"] = sample.copy_guard
    return out


def _earlier_records(folder: SamplesDir) -> list[dict[str, Any]]:
    """The records of an earlier ``generate.json`` whose files are all still there (failed ones are dropped)."""
    summary = folder.read_summary()
    try:
        files = (summary or {}).get("files", [])
    except AttributeError:
        return []
    return [r for r in files if r.get("files") and all(Path(f).is_file() for f in r["files"])]


def write_sample(sample: Sample, out_dir: Path, stem: str, formats: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Write one sample as ``out_dir/STEM.mid`` and the other ``formats``; returns its record for ``generate.json``."""
    options = sample.settings
    formats = options.formats if formats is None else tuple(dict.fromkeys(("mid", *formats)))
    amount, unit = parse_length(options.target_length)
    record: dict[str, Any] = {"name": stem, "temperature": sample.temperature, "seed": options.seed}
    record["attempts"] = sample.attempts
    if sample.reasons:
        record["refused"] = sample.reasons
    if not sample.ok:
        record["error"] = f"failed after {sample.attempts} tries: {sample.reasons[-1]}"
        if sample.result is not None and sample.result.text:
            record["text"] = sample.result.text
        return record
    out_dir.mkdir(parents=True, exist_ok=True)
    record["tokens"] = sample.tokens
    record["length"] = {"asked": amount, "unit": unit, "reached": round(sample.reached, 3)}
    if sample.result is not None and sample.result.repaired:
        record["repaired"] = True
    record["warnings"] = list(sample.warnings)
    score = sample.score
    midi = write_midi(score, out_dir / f"{stem}.mid", title=stem, composer=sample.composer)
    record["files"] = [str(midi)]
    record["notes"] = note_count(score)
    record["programs"] = sorted({t.program for t in score.tracks if not t.is_drum})
    record.update(_conditions(sample, score, options))
    for fmt in formats:
        try:
            if fmt in ("wav", "ogg"):
                _audio(fmt, midi, out_dir / f"{stem}.{fmt}", options.max_seconds, "wav" in formats, record)
            elif fmt == "png":
                record["files"].append(str(plot_piano_roll(score, out_dir / f"{stem}.png")))
            elif fmt == "musicxml":
                path, warnings = write_musicxml(midi, out_dir / f"{stem}.musicxml", stem, sample.composer)
                record["files"].append(str(path))
                record["warnings"].extend(warnings)
            elif fmt == "abc":
                record["files"].append(str(_abc(sample, score, out_dir / f"{stem}.abc", stem, record)))
        except TunesmithError as exc:
            if fmt in ("wav", "ogg"):
                raise  # a missing synthesizer or encoder is the user's to fix: say so once
            record["warnings"].append(str(exc))
    if not record["warnings"]:
        del record["warnings"]
    return record


def _audio(fmt: str, midi: Path, path: Path, max_seconds: float, keep_wav: bool, record: dict[str, Any]) -> None:
    wav = path.with_suffix(".wav")
    render_wav(midi, wav, max_seconds=max_seconds)
    record["seconds"] = round(wav_seconds(wav), 3)
    if fmt == "ogg":
        encode_ogg(wav, path)
        if not keep_wav:
            wav.unlink()
    record["files"].append(str(path))


def _abc(sample: Sample, score: Score, path: Path, title: str, record: dict[str, Any]) -> Path:
    """The model's own ABC text when it is the whole sample and abc2midi reads it, else the score written as ABC."""
    options = sample.settings
    meter = parse_time_signature(options.time_signature) if options.time_signature else (4, 4)
    result = sample.result
    whole = result is not None and result.text and not result.repaired
    if whole and note_count(sample.decoded) == note_count(result.score):
        path.write_text(ensure_headers(result.text, title, f"{meter[0]}/{meter[1]}"))
        problem = check_abc(path)
        if problem is None:
            return path
        record["warnings"].append(f"the model's ABC text does not pass abc2midi ({problem}): written from the score")
    path.write_text(score_to_abc(score, title, sample.composer, meter, options.tempo or 120.0))
    problem = check_abc(path)
    if problem is not None:
        record["warnings"].append(f"abc2midi refuses {path.name}: {problem}")
    return path
