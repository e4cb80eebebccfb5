"""The studio's one contact with the rest of tunesmith: find and describe runs, generate, render, read primers.

Everything else in ``tunesmith.studio`` (the ASGI app, the job queue, the page) imports only this module, so when
the library's API changes, this file is the one to adapt.

Generation goes through the Python API (``tunesmith.api.load_run(path).generator(...)``), the code behind
``tunesmith generate``: the studio has no generation path of its own. Two things are added around it without
changing it: a counting wrapper around the generator's stepper (the callable the sampling loop calls once per new
token) reports progress and stops a cancelled job at its next token, and **Continue** puts the new music after the
earlier piece as it was (the generator writes back the primer as the model reads it: tracks merged and quantised
by the encoding).
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from symusic import Score

from tunesmith.density import DENSITY_AUTO, corpus_density, parse_density, takes_density
from tunesmith.errors import TunesmithError
from tunesmith.key_steering import KEY_AUTO, keeps_key
from tunesmith.layout import DataDir, RunDir
from tunesmith.length import DEFAULT_LENGTH

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
LENGTH_UNITS = ("tokens", "notes", "bars", "seconds")
_UNIT_SUFFIX = {"tokens": "", "notes": "notes", "bars": "bars", "seconds": "s"}
RUN_SEARCH_DEPTH = 4  # how deep below a given folder runs are looked for


class StudioError(Exception):
    """A bad request: its message goes to the page as it is, with ``status`` (4xx)."""

    status = 400


class NotFound(StudioError):
    """An unknown run, job, primer or file."""

    status = 404


class Cancelled(Exception):
    """Raised inside a generation the user cancelled, at its next token."""


# -- runs ---------------------------------------------------------------------------------------------------------


def is_run(path: Path) -> bool:
    """A run directory: it holds ``checkpoints/best.pt`` or ``last.pt``."""
    return RunDir(path).has_checkpoint()


def find_runs(roots: list[Path]) -> list[Path]:
    """Every run directory that is one of ``roots`` or lies below one (a few levels deep), sorted, no repeats."""
    found: dict[Path, None] = {}

    def walk(folder: Path, depth: int) -> None:
        if is_run(folder):
            found[folder.resolve()] = None
            return
        if depth >= RUN_SEARCH_DEPTH:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            walk(child, depth + 1)

    for root in roots:
        if Path(root).is_dir():
            walk(Path(root), 0)
    return list(found)


def describe_run(path: Path) -> dict[str, Any]:
    """Name, encoding, model, data, test NLL beside the n-gram's (from ``eval.json``) and the controls it supports."""
    from tunesmith.band import band_names
    from tunesmith.checkpoint import load_checkpoint
    from tunesmith.encodings import tokenizer_from_dict
    from tunesmith.instruments import PRESET_NAMES
    from tunesmith.keys import ALL_KEYS

    try:
        ckpt = load_checkpoint(path)
        tokenizer = tokenizer_from_dict(ckpt.tokenizer)
    except (TunesmithError, KeyError, TypeError, ValueError) as exc:
        return {"path": str(path), "name": _label(path), "error": str(exc).splitlines()[0]}
    cfg = ckpt.config
    data_dir = ckpt.data_dir
    programs = list(tokenizer.band_programs) if tokenizer.has_header else []
    density = takes_density(tokenizer)
    info: dict[str, Any] = {
        "path": str(path),
        "name": _label(path),
        "encoding": tokenizer.name,
        "model": cfg.get("model"),
        "data": _label(data_dir) if data_dir.name else "?",
        "epochs": ckpt.epochs,
        "vocab": len(tokenizer.vocab),
        "controls": {
            "styles": list(tokenizer.styles),
            "instruments": list(PRESET_NAMES),
            "random_primer": DataDir(data_dir).has_tokens(),
            "abc": tokenizer.text_format == "abc",
            "musicxml": tokenizer.text_format is None,
            "length_units": list(LENGTH_UNITS),
            "tempo": True,
            "time_signature": True,
            # the programs an event model's band can hold ([] without band headers), and the keys it can be asked
            # for (a key token, a pitch bias or both; [] for neither)
            "band": [{"program": p, "name": name} for p, name in zip(programs, band_names(tuple(programs)))],
            "keys": [k.name for k in ALL_KEYS] if _takes_key(tokenizer) else [],
            "key_auto": keeps_key(tokenizer),  # --key auto: bar tokens to find the first bar by, pitch tokens
            # --density: bar tokens to count notes between; the training corpus's notes a bar where it was counted
            "density": density,
            "density_corpus": corpus_density(tokenizer) if density else None,
            # --no-copy: pitch tokens to follow the note lines by, and the training data to compare them with
            "no_copy": tokenizer.has_note_lines and DataDir(data_dir).has_tokens(),
        },
    }
    report = run_eval(path)
    if report:
        likelihood = report.get("likelihood", {})
        info["eval"] = {
            "test_nll": _number(likelihood.get("network", {}).get("nll")),
            "ngram_nll": _number(likelihood.get("ngram", {}).get("nll")),
            "ngram_order": likelihood.get("ngram", {}).get("order"),
        }
    return info


def _takes_key(tokenizer) -> bool:
    """Whether ``--key`` works for this model: a key token, or pitch tokens for the key bias."""
    from tunesmith.keys import ALL_KEYS

    return "key" in tokenizer.conditions or tokenizer.key_bias(ALL_KEYS[0], 1.0) is not None


def _label(path: Path) -> str:
    """A folder's name, with its parent's where the name alone says little (``demo/run``, ``bach/data``)."""
    return f"{path.parent.name}/{path.name}" if path.name in ("run", "data", "runs") and path.parent.name else path.name


def run_eval(path: Path) -> dict[str, Any] | None:
    """The run's ``eval.json``, or None when it has not been evaluated."""
    try:
        return RunDir(path).read_eval()
    except (OSError, TunesmithError):
        return None


def run_curves(path: Path) -> dict[str, list[float]]:
    """``metrics.csv`` as columns of numbers (an empty cell is NaN, sent as null)."""
    file = RunDir(path).metrics_file
    if not file.is_file():
        return {}
    columns: dict[str, list[float | None]] = {}
    with file.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = math.nan
                columns.setdefault(key, []).append(None if math.isnan(number) else number)
    return columns


def run_samples(path: Path) -> list[Path]:
    """The MIDI files a run holds: epoch samples and the samples ``evaluate`` judged."""
    run = RunDir(path)
    return sorted(run.samples.path.glob("*.mid")) + sorted(run.eval_dir.glob("*/*.mid"))


def eval_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The evaluation as rows of ``[measure, real music, network, n-gram]`` (numbers or None) for the page."""
    rows: list[list[Any]] = []
    likelihood = report.get("likelihood", {})
    net, gram = likelihood.get("network", {}), likelihood.get("ngram", {})
    for key in ("nll", "bits", "perplexity", "accuracy"):
        if key in net:
            rows.append([f"test {key}", None, _number(net.get(key)), _number(gram.get(key))])
    for name, values in (report.get("metrics") or {}).items():
        if isinstance(values, dict):
            means = [_number((values.get(k) or {}).get("mean")) for k in ("real", "network", "ngram")]
            rows.append([name, *means])
    return rows


def _number(value: Any) -> float | None:
    """A finite number, or None (JSON has no NaN)."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


# -- generation ---------------------------------------------------------------------------------------------------


@dataclass
class GenerateRequest:
    """What the compose page asks for; ``from_json`` checks every field's type and range."""

    primer: str = "none"  # none | random | a file path the app resolved (an upload or the piece to continue)
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    length: int = 16
    unit: str = "bars"
    seed: int = 0
    instruments: str | None = None
    style: str | None = None
    tempo: float | None = None
    time_signature: str | None = None
    band: str | None = None  # programs, comma-separated (``drums`` for the kit): event models with band headers
    key: str | None = None  # a key name, e.g. "D minor"
    density: str | None = None  # notes a bar ("12.5") or "auto" (the training corpus's); None: the model's own
    form: str | None = None  # section letters, e.g. "AABA": sets the length (sections x 4 bars)
    no_copy: bool = False  # hold back what would copy the training split's 8-note pitch n-grams
    continue_from: str | None = None  # the MIDI file of the piece being continued (set by the app)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> GenerateRequest:
        """A request from the page's JSON; a wrong type or value is a ``StudioError`` naming the field."""
        numbers = {"temperature": float, "top_p": float, "top_k": int, "length": int, "seed": int, "tempo": float}
        out = cls()
        for name, kind in numbers.items():
            value = body.get(name)
            if value is None or value == "":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise StudioError(f"{name} must be a number")
            try:
                number = float(value)
            except ValueError:
                raise StudioError(f"{name} must be a number, not {value!r}") from None
            if not math.isfinite(number) or (kind is int and number != int(number)):
                raise StudioError(f"{name} must be a{'n integer' if kind is int else ' finite number'}")
            setattr(out, name, kind(number))
        for name in ("unit", "instruments", "style", "time_signature", "band", "key", "form"):
            value = body.get(name)
            if value not in (None, ""):
                if not isinstance(value, str) or len(value) > (600 if name == "band" else 64):
                    raise StudioError(f"{name} must be a short text")
                setattr(out, name, value)
        no_copy = body.get("no_copy")
        if no_copy is not None:
            if not isinstance(no_copy, bool):
                raise StudioError("no_copy must be true or false")
            out.no_copy = no_copy
        if out.unit not in LENGTH_UNITS:
            raise StudioError(f"length unit must be one of {', '.join(LENGTH_UNITS)}")
        if out.length < 1:
            raise StudioError("length must be at least 1")
        if out.seed < 0 or out.seed >= 2**31:
            raise StudioError("seed must be between 0 and 2147483647")
        if out.key and out.key.lower() == KEY_AUTO:
            out.key = KEY_AUTO  # each sample keeps the key of its first bar
        elif out.key:
            from tunesmith.keys import parse_key

            try:
                out.key = parse_key(out.key).name
            except ValueError as exc:
                raise StudioError(f"unknown key: {exc}") from None
        out.density = _density(body.get("density"))
        if out.band and not all(p == "drums" or p.isdigit() for p in out.band.split(",")):
            raise StudioError("band must list program numbers (or drums), comma-separated")
        if out.instruments:
            from tunesmith.instruments import PRESET_NAMES

            if out.instruments not in PRESET_NAMES:  # never a file name: a TOML map is for the command line
                raise StudioError(f"unknown instruments {out.instruments!r}: one of {', '.join(PRESET_NAMES)}")
        return out

    def settings(self, formats: tuple[str, ...]) -> dict[str, Any]:
        """The options of ``tunesmith generate`` for this request (one sample, one temperature), as API keywords."""
        return dict(
            num=1,
            length=f"{self.length}{_UNIT_SUFFIX[self.unit]}" if self.form is None else DEFAULT_LENGTH,  # a form's own
            form=self.form,
            temperatures=(self.temperature,),
            top_k=self.top_k,
            top_p=self.top_p,
            primer=self.continue_from or self.primer,
            seed=self.seed,
            style=self.style,
            tempo=self.tempo,
            time_signature=self.time_signature,
            instruments=self.instruments,
            band=self.band,
            key=self.key,
            density=self.density,
            no_copy=self.no_copy,
            formats=formats,
        )


def _density(value: Any) -> str | None:
    """The request's density as ``--density`` takes it: None (the model's own), ``auto`` or a number of notes a bar."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or len(str(value)) > 64:
        raise StudioError("density must be a number of notes a bar or auto")
    try:
        asked = parse_density(str(value))
    except TunesmithError as exc:
        raise StudioError(str(exc).removeprefix("--")) from None  # named as the page names it
    return DENSITY_AUTO if asked == DENSITY_AUTO else f"{asked:g}"


class _CountingStepper:
    """The generator's stepper, counting calls (one per new token) and stopping a cancelled job."""

    def __init__(self, inner: Callable, on_token: Callable[[], None]) -> None:
        self.inner, self.on_token = inner, on_token

    def __call__(self, *args, **kwargs):
        self.on_token()
        return self.inner(*args, **kwargs)


def generate(
    run: Path,
    request: GenerateRequest,
    out_dir: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
    device: str = "cpu",
) -> dict[str, Any]:
    """One piece from ``run`` into ``out_dir`` (``piece.mid``, ``piece.wav``, ``piece.abc`` for ABC models).

    ``progress(tokens, budget)`` is called for every new token; once ``cancelled()`` says True the job raises
    ``Cancelled`` at its next token. Bad options raise ``StudioError`` with the generator's own message.
    """
    from tunesmith.api import load_run
    from tunesmith.length import parse_length, token_budget

    out_dir = Path(out_dir)
    clock = [time.perf_counter()]
    try:
        model_run = load_run(run, device=device)
        text = model_run.tokenizer.text_format  # a text encoding's own text is kept beside the MIDI
        formats = ("mid", text) if text else ("mid",)
        generator = model_run.generator(**request.settings(formats))
        budget = token_budget(*parse_length(generator.options.target_length))  # a length counts new music only
    except TunesmithError as exc:
        raise StudioError(str(exc)) from None
    count = 0

    def on_token() -> None:
        nonlocal count
        if cancelled():
            raise Cancelled
        count += 1
        progress(count, budget)

    generator.stepper = _CountingStepper(generator.stepper, on_token)
    work = out_dir / "work"
    clock.append(time.perf_counter())
    try:
        sample = generator.generate()[0]
    except TunesmithError as exc:
        raise StudioError(str(exc)) from None
    record = sample.save(work)
    if "error" in record:
        raise StudioError(f"the model's output could not be decoded into music ({record['error']})")
    midi = out_dir / "piece.mid"
    score = Score(str(work / f"{record['name']}.mid"))
    if request.continue_from:
        score = _splice(Score(request.continue_from), score, generator)
    from tunesmith.rendering import write_midi

    write_midi(score, midi)
    files = {"mid": str(midi)}
    if (work / f"{record['name']}.abc").is_file():
        shutil.copyfile(work / f"{record['name']}.abc", out_dir / "piece.abc")
        files["abc"] = str(out_dir / "piece.abc")
    clock.append(time.perf_counter())
    files["wav"] = str(render_wav(midi))
    clock.append(time.perf_counter())
    result = {"tokens": count, "files": files, "warnings": record.get("warnings", []), **score_notes(midi)}
    result["key"] = record.get("key")  # asked, estimated from the notes written (and how it was asked)
    if "no_copy" in record:  # --no-copy: draws at which it held notes back, and those it let through
        result["no_copy"] = record["no_copy"]
    result["band"] = record.get("band")
    result["density"] = _density_result(record, generator, midi)
    phases = ("load", "generate", "render")  # checkpoint and options; sampling to MIDI; FluidSynth
    result["timing"] = {name: round(b - a, 3) for name, a, b in zip(phases, clock, clock[1:])}
    result["settings"] = {k: v for k, v in asdict(request).items() if k != "continue_from"}
    return result


def _density_result(record: dict[str, Any], generator, midi: Path) -> dict[str, Any] | None:
    """What the sample was asked for (``generate.json``'s density, the notes a bar kept to) and what it plays.

    ``played`` is the written piece's pitched notes a bar (``tunesmith.evaluate.metrics.note_density``, the measure
    the density benchmarks use), None where nothing was asked.
    """
    if "density" not in record:
        return None
    from tunesmith.evaluate.metrics import Notes, note_density

    played = note_density(Notes.from_score(Score(str(midi))))
    return {**record["density"], "target": generator.density, "played": round(played, 1)}


def _splice(before: Score, generated: Score, generator) -> Score:
    """The earlier piece as it was, then what ``generated`` adds after its primer (the earlier piece as encoded)."""
    import numpy as np

    from tunesmith.length import note_end

    primer, _ = generator.primers(np.random.default_rng(0))
    decoded = generator.tokenizer.try_decode(list(primer[0]))
    before_q, new_q = before.to("quarter"), generated.to("quarter")
    primer_end = note_end(decoded.score.to("quarter")) if decoded.ok else 0.0
    shift = note_end(before_q) - primer_end
    out = before_q.copy()
    if len(new_q.tempos) and not len(out.tempos):
        out.tempos = new_q.tempos
    for track in new_q.tracks:
        added = [n for n in track.notes if n.time >= primer_end - 1e-6]
        if not added:
            continue
        target = next((t for t in out.tracks if t.program == track.program and t.is_drum == track.is_drum), None)
        if target is None:
            target = track.copy()
            target.notes = type(track.notes)()
            out.tracks.append(target)
            target = out.tracks[-1]
        for note in added:
            note.time += shift
            target.notes.append(note)
        target.notes.sort(key=lambda n: (n.time, n.pitch))
    return out.to("tick")


# -- rendering and notes ------------------------------------------------------------------------------------------


def render_wav(midi: Path, wav: Path | None = None) -> Path:
    """WAV through FluidSynth with the soundfont ``tunesmith render`` uses (next to the MIDI file by default)."""
    from tunesmith.rendering import render_wav as _render

    wav = Path(wav) if wav else Path(midi).with_suffix(".wav")
    try:
        return _render(Path(midi), wav)
    except TunesmithError as exc:
        raise StudioError(str(exc)) from None


def render_musicxml(midi: Path) -> Path:
    """MusicXML (through music21, as ``generate --format musicxml``), next to the MIDI file."""
    from tunesmith.rendering import write_musicxml

    target = Path(midi).with_suffix(".musicxml")
    if not target.is_file():
        try:
            write_musicxml(Path(midi), target)
        except TunesmithError as exc:
            raise StudioError(str(exc)) from None
    return target


def score_notes(midi: Path) -> dict[str, Any]:
    """The notes of a MIDI file for the page's piano roll: tracks with ``[start s, duration s, pitch, velocity]``."""
    from tunesmith.music import gm_name

    seconds = Score(str(midi)).to("second")
    tracks = []
    for track in seconds.tracks:
        if not len(track.notes):
            continue
        notes = track.notes.numpy()
        rows = [
            [round(float(t), 4), round(float(d), 4), int(p), int(v)]
            for t, d, p, v in zip(notes["time"], notes["duration"], notes["pitch"], notes["velocity"])
        ]
        name = "drums" if track.is_drum else gm_name(track.program)
        tracks.append({"name": name, "program": int(track.program), "drum": bool(track.is_drum), "notes": rows})
    end = max((n[0] + n[1] for t in tracks for n in t["notes"]), default=0.0)
    return {"tracks": tracks, "duration": round(end, 3), "notes": sum(len(t["notes"]) for t in tracks)}


# -- primers ------------------------------------------------------------------------------------------------------


def primer_timeout() -> float:
    """The ingest timeout of ``tunesmith prepare`` (``--file-timeout``'s default)."""
    from tunesmith.config import IngestConfig

    return IngestConfig().file_timeout


def _parse_in_worker(path: str, conn) -> None:
    from tunesmith.config import SelectConfig
    from tunesmith.corpus.readers import UnreadableFile, read_source
    from tunesmith.corpus.select import select_tracks

    try:
        file = Path(path)
        parsed, _ = read_source(file, file.read_bytes(), 480)
        if not parsed:
            raise UnreadableFile("empty", "no tune in the file")
        merged = select_tracks(parsed[0].score, SelectConfig(instruments="merge"))
        if not merged:
            raise UnreadableFile("no notes", "nothing to continue")
        parsed[0].score.dump_midi(str(_notes_file(file)))  # what the page draws, read back without a parser
        conn.send({"ok": True})
    except UnreadableFile as exc:
        conn.send({"ok": False, "error": str(exc)})
    except Exception as exc:  # a parser's own failure is the file's fault: report it, one line
        conn.send({"ok": False, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
    finally:
        conn.close()


def check_primer(path: Path, timeout: float | None = None, name: str | None = None) -> dict[str, Any]:
    """Parse an uploaded primer in a worker process with the ingest timeout; its notes for the page, or a StudioError.

    The worker is a child process (killed when it runs past the timeout), so a file that hangs or crashes a
    parser costs this upload only.
    """
    from tunesmith.corpus.sources import source_format

    if source_format(Path(path)) not in ("midi", "abc"):
        raise StudioError("a primer must be a MIDI (.mid, .midi) or ABC (.abc) file")
    timeout = primer_timeout() if timeout is None else timeout
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_parse_in_worker, args=(str(path), there), daemon=True)
    worker.start()
    there.close()
    try:
        if not here.poll(timeout):
            raise StudioError(f"the file took longer than {timeout:g} s to read; skipped")
        answer = here.recv()
    except EOFError:
        raise StudioError("the file crashed the reader; skipped") from None
    finally:
        if worker.is_alive():
            worker.kill()
        worker.join(5)
        here.close()
    if not answer["ok"]:
        raise StudioError(f"cannot read {name or Path(path).name}: {answer['error']}")
    return score_notes(_notes_file(Path(path)))


def _notes_file(path: Path) -> Path:
    return path.with_name(path.name + ".notes.mid")
