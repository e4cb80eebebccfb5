"""The Python API: what a notebook calls, and what the command line and the studio call too.

    import tunesmith as ts

    data = ts.prepare(["corpus:bach"], "data/bach", encoding="notechord", max_files=20)
    run = ts.train(data, "runs/bach", model="lstm", epochs=2, steps_per_epoch=20)
    samples = run.generate(num=2, length="8bars", temperature=0.9)   # in memory: each has a symusic.Score
    samples[0].save("out")                                            # out/sample-01.mid (and any other formats)
    report = run.evaluate(samples=4)                                  # likelihood, metrics, memorisation
    ts.render(samples[0].score, wav="a.wav", png="a.png")

Options are the fields of the config dataclasses, by name (``tunesmith.config.TrainConfig``,
``tunesmith.config.IngestConfig`` and ``SelectConfig``, ``tunesmith.generate_options.GenerateConfig``,
``tunesmith.evaluate.EvaluateConfig``), with the same validation and the same one-line errors as the command line
(a ``TunesmithError``). Nothing is printed unless ``progress=True`` or a ``log`` callable is given.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symusic import Score

from tunesmith.config import IngestConfig, PrepareConfig, SelectConfig, TrainConfig, from_dict
from tunesmith.encode_options import EncodeConfig
from tunesmith.errors import TunesmithError
from tunesmith.generate_options import GenerateConfig
from tunesmith.layout import DataDir, RunDir
from tunesmith.lazy import lazy_names

if TYPE_CHECKING:
    from tunesmith.checkpoint import LoadedModel
    from tunesmith.generate import Generator, Sample

Log = Callable[[str], None]
BEST, LAST = RunDir.BEST, RunDir.LAST

# What comes with torch is imported when first used, so ``prepare``, ``inspect`` and ``render`` never load it; these
# names are still this module's (``tunesmith.Checkpoint``, ``tunesmith.Sample``), looked up on first use.
_WITH_TORCH = {
    "Checkpoint": "tunesmith.checkpoint",
    "LoadedModel": "tunesmith.checkpoint",
    "Generator": "tunesmith.generate",
    "Sample": "tunesmith.generate",
}
__getattr__, __dir__ = lazy_names(__name__, _WITH_TORCH, globals())


def _quiet(_text: str) -> None:
    """A log that says nothing."""


def _split(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``options`` that are fields of dataclass ``cls``, removed from ``options``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {name: options.pop(name) for name in list(options) if name in names}


# -- prepare ----------------------------------------------------------------------------------------------------


def prepare(
    sources: str | Iterable[str],
    out: str | Path,
    *,
    encoding: str | EncodeConfig | None = None,
    progress: bool = False,
    log: Log | None = None,
    **options: Any,
) -> DataDir:
    """Ingest ``sources`` (files, folders, globs, ``corpus:NAME``) into the data directory ``out``.

    ``options`` are fields of ``IngestConfig`` (workers, file_timeout, max_files, sample, seed, cache_dir, use_cache,
    shard) and ``SelectConfig`` (instruments, min_notes, programs, drums). With ``encoding`` (a name, or an
    ``EncodeConfig`` for its settings, split and augmentation), the corpus is also tokenized, ready for ``train``. The
    previous corpus at ``out`` stays whole until the new one is complete. ``log`` receives the summary of kept and
    skipped files.

    Returns the ``DataDir``; its ``read_report()`` says what was kept and skipped, and why. Raises
    ``TunesmithError`` when no piece was kept and ``KeyboardInterrupt`` when interrupted (nothing is written then).
    """
    from tunesmith.corpus.prepare import prepare_corpus

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    options = dict(options)
    ingest = from_dict(IngestConfig, _split(IngestConfig, options))
    select = from_dict(SelectConfig, _split(SelectConfig, options))
    if options:
        raise TunesmithError(f"unknown prepare option(s): {', '.join(sorted(options))}")
    if ingest.shard and encoding is not None:
        raise TunesmithError(
            "--encoding goes with --merge, not --shard: the split and vocabulary are fitted on the whole corpus"
        )
    config = PrepareConfig([str(s) for s in sources], ingest, select)
    return _build(
        Path(out), encoding, progress, log, lambda finish: prepare_corpus(config, Path(out), progress, finish)
    )


def merge(
    shards: Iterable[str | Path],
    out: str | Path,
    *,
    encoding: str | EncodeConfig | None = None,
    progress: bool = False,
    log: Log | None = None,
) -> DataDir:
    """Join the data directories of ``prepare(..., shard="K/N")`` for K = 1..N into one corpus at ``out``.

    The result is the corpus one ``prepare`` of all the files gives (pieces, split, vocabulary, tokens); ``encoding``
    tokenizes it, as in ``prepare``. Sources and settings come from the shards.
    """
    from tunesmith.corpus.shards import merge_shards

    dirs = [Path(s) for s in shards]
    return _build(Path(out), encoding, progress, log, lambda finish: merge_shards(dirs, Path(out), progress, finish))


def _build(
    out: Path,
    encoding: str | EncodeConfig | None,
    progress: bool,
    log: Log | None,
    make: Callable[[Callable[[Path, dict[str, Any]], None] | None], dict[str, Any]],
) -> DataDir:
    """Run ``make(finish)`` (a prepare or a merge) with the encoding step as ``finish``; check what it reported."""
    from tunesmith.corpus.prepare import format_summary
    from tunesmith.data import encode_dataset
    from tunesmith.encodings import make_tokenizer

    log = log or _quiet
    finish = None
    if encoding is not None:  # every encoding option is checked before the corpus is read
        settings = encoding if isinstance(encoding, EncodeConfig) else EncodeConfig(encoding)
        tokenizer = make_tokenizer(settings.encoding, **settings.options)

        def finish(build: Path, report: dict[str, Any]) -> None:  # before the new corpus replaces the old
            log(format_summary(report))
            seed = report["settings"]["ingest"]["seed"]  # the split follows prepare's --seed (a merge: the shards')
            encode = dataclasses.replace(settings, seed=seed)
            encode_dataset(build, tokenizer, encode, progress=progress, report=report)  # adds report["encoding"]

    report = make(finish)
    if finish is None or not report["committed"]:
        log(format_summary(report))
    kept = "the previous corpus there is unchanged" if DataDir(out).is_prepared() else "nothing was written"
    if report["summary"]["files_interrupted"]:
        raise KeyboardInterrupt(f"interrupted: {out} not written ({kept})")
    if not report["committed"]:
        raise TunesmithError(f"no piece was kept from {report['summary']['files_considered']} file(s); {kept}")
    return DataDir(out)


def inspect(
    sources: str | Path | Iterable[str | Path], *, progress: bool = False, **options: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Statistics of a corpus (instruments, ranges, distributions, frequent notes and chords) and its report.

    ``sources`` is a prepared data directory, or sources read on the fly with every track of a song, drums
    included (``options`` as for ``prepare``; nothing is written).
    """
    from tunesmith.corpus.pieces import load_pieces, verify_corpus
    from tunesmith.corpus.stats import corpus_stats
    from tunesmith.locks import shared

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    if len(sources) == 1 and DataDir(sources[0]).is_prepared():
        data = DataDir(sources[0])
        with shared(data.path, "inspect"):
            verify_corpus(data.path, hashes=False)
            report, pieces = data.read_report(), load_pieces(data.path)
    else:
        options = {"instruments": "merge", "drums": "keep", "min_notes": 1, **options}
        with tempfile.TemporaryDirectory(prefix="tunesmith-inspect-") as tmp:
            try:
                data = prepare(sources, Path(tmp) / "data", progress=progress, **options)
            except TunesmithError:
                data = None
            report = data.read_report() if data else None
            pieces = load_pieces(data.path) if data else []
    if not pieces:
        raise TunesmithError("no piece to inspect: every file was skipped (run prepare to see why)")
    return corpus_stats(pieces), report


# -- train --------------------------------------------------------------------------------------------------------


def train(
    data: str | Path | DataDir,
    out: str | Path,
    *,
    model: str = "lstm",
    progress: bool = False,
    log: Log | None = None,
    on_start: Callable[[Any], None] | None = None,
    on_epoch_end: Callable[..., None] | None = None,
    **options: Any,
) -> Run:
    """Train ``model`` (a preset of ``tunesmith train --list-models``) on a prepared ``data`` directory into ``out``.

    ``options`` are ``TrainConfig`` fields (epochs, steps_per_epoch, batch_size, seq_len, lr, seed, model_options,
    ...). ``on_start(trainer)`` is called once the model is built, before the first step. Returns the trained run,
    loaded from its best checkpoint.
    """
    config = from_dict(TrainConfig, {**options, "data": str(Path(data).resolve()), "model": model})
    return _fit(config, Path(out), resume=False, progress=progress, log=log, on_start=on_start, hook=on_epoch_end)


def resume(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    allow_data_change: bool = False,
    progress: bool = False,
    log: Log | None = None,
    on_start: Callable[[Any], None] | None = None,
    on_epoch_end: Callable[..., None] | None = None,
) -> Run:
    """Continue an interrupted run from its last checkpoint (``epochs``: a new total), exactly as if never stopped."""
    return _fit(
        None,
        Path(run_dir),
        resume=True,
        progress=progress,
        log=log,
        on_start=on_start,
        hook=on_epoch_end,
        epochs=epochs,
        allow_data_change=allow_data_change,
    )


def _fit(
    config: TrainConfig | None,
    run_dir: Path,
    resume: bool,
    progress: bool,
    log: Log | None,
    on_start: Callable[[Any], None] | None,
    hook: Callable[..., None] | None,
    **extra: Any,
) -> Run:
    from tunesmith.sample import write_epoch_sample
    from tunesmith.trainer import Trainer

    trainer = Trainer(
        config,
        run_dir,
        resume=resume,
        progress=progress,
        on_epoch_end=hook or write_epoch_sample,
        log=log or _quiet,
        **extra,
    )
    try:
        if on_start is not None:
            on_start(trainer)
        trainer.fit()
    finally:
        trainer.close()
    if not trainer.dist.main:
        return None  # type: ignore[return-value]
    run = load_run(run_dir, device=trainer.device.type)
    run._history = list(trainer.history)  # every epoch, already in memory: no need to read last.pt again
    return run


# -- a trained run ------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``Run.evaluate`` measured (the same report as ``RUN_DIR/eval.json``)."""

    report: dict[str, Any]
    path: Path

    @property
    def nll(self) -> float:
        """The network's negative log-likelihood per token on the split, in nats."""
        return float(self.report["likelihood"]["network"]["nll"])

    @property
    def ngram_nll(self) -> float:
        """The Kneser-Ney n-gram baseline's negative log-likelihood per token on the same targets."""
        return float(self.report["likelihood"]["ngram"]["nll"])

    @property
    def metrics(self) -> dict[str, Any]:
        """Per musical metric: the real pieces', the network's and the n-gram's figures and their distances."""
        return self.report["metrics"]

    def __str__(self) -> str:
        from tunesmith.evaluate import format_report

        return format_report(self.report)


class Run:
    """A trained run: its model and tokenizer (from one checkpoint), its config and metrics, and what it can do."""

    def __init__(self, path: str | Path, loaded: LoadedModel) -> None:
        self.path = RunDir(path)
        self.model, self.tokenizer, self.checkpoint = loaded
        self._loaded = loaded
        self._history: list[dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        return self.checkpoint.run_name

    @property
    def config(self) -> TrainConfig:
        """The run's training config (data, model, budget, optimizer, seed...)."""
        return self.checkpoint.train_config()

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """One row per epoch of the whole run: train and validation loss, accuracy and perplexity, learning rate.

        The run's last checkpoint holds them all (the best one only those up to its epoch).
        """
        from tunesmith.checkpoint import load_checkpoint

        if self._history is None:
            last = self.path.checkpoint(LAST)
            self._history = load_checkpoint(last).history if last.is_file() else self.checkpoint.history
        return list(self._history)

    @property
    def training(self) -> dict[str, Any] | None:
        """Steps and epochs against the budget, minutes, and whether the safety cap cut the run short."""
        return self.path.read_training()

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def __repr__(self) -> str:
        model, name = self.checkpoint.config.get("model"), self.checkpoint.path.name
        return f"Run({str(self.path.path)!r}, model={model!r}, checkpoint={name!r}, epoch={self.checkpoint.epochs})"

    def generator(self, **options: Any) -> Generator:
        """A ``Generator`` for this run's model with ``GenerateConfig`` fields as keywords (see ``generate``)."""
        from tunesmith.generate import Generator

        return Generator(self._loaded, generate_config(**options))  # the model stays on its device

    def generate(self, **options: Any) -> list[Sample]:
        """New samples in memory, checked (and redrawn) as ``tunesmith generate`` does; nothing is written.

        ``options`` are ``GenerateConfig`` fields: num, length ("512", "200notes", "16bars", "30s"), temperature (one
        number) or temperatures, top_k, top_p, beam, primer ("random", "none" or a MIDI/ABC file), seed, style, key
        ("D minor", or "auto": each sample keeps its own), band, form, tempo, density (pitched notes a bar, or "auto":
        the training corpus's), time_signature, instruments, precision, retries, allow_early_end, primer_in_output,
        no_copy (hold back what would copy the training split's 8-note pitch n-grams), formats (for ``save``).
        Each ``Sample`` has ``score`` (a ``symusic.Score``), ``ids``, ``reached`` and ``ok``; ``save(dir)`` writes it.
        """
        return self.generator(**options).generate()

    def generate_into(self, out_dir: str | Path, **options: Any) -> list[dict[str, Any]]:
        """Generate and write numbered samples into ``out_dir`` (locked) with its ``generate.json``; the records."""
        return self.generator(**options).run(Path(out_dir))

    def evaluate(self, progress: bool = False, **options: Any) -> Evaluation:
        """Score the run against real music and the n-gram baseline; writes ``eval.json`` as ``tunesmith evaluate``.

        ``options`` are ``EvaluateConfig`` fields: split, samples, sample_length, temperature, ngram_order,
        max_pieces, seed.
        """
        return evaluate(self.path.path, checkpoint=self.checkpoint.path.name, progress=progress, **options)


def evaluate(run_dir: str | Path, *, checkpoint: str = "best", progress: bool = False, **options: Any) -> Evaluation:
    """``Run.evaluate`` for a run directory, loading its model once, under the run's lock (``tunesmith evaluate``).

    ``checkpoint``: ``best``, ``last`` or a file name in ``checkpoints/``.
    """
    from tunesmith.evaluate import EvaluateConfig, evaluate_run

    prefer = {"best": BEST, "last": LAST}.get(checkpoint, checkpoint)
    opts = from_dict(EvaluateConfig, {**options, "checkpoint": prefer})
    report = evaluate_run(Path(run_dir), opts, progress=progress)
    return Evaluation(report, RunDir(run_dir).eval_file(opts.split))


def generate_config(**options: Any) -> GenerateConfig:
    """``GenerateConfig`` from keywords, ``temperature=T`` standing for ``temperatures=(T,)``."""
    if "temperature" in options:
        if "temperatures" in options:
            raise TunesmithError("give temperature or temperatures, not both")
        value = options.pop("temperature")
        options["temperatures"] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    for name in ("temperatures", "formats"):
        if isinstance(options.get(name), list):
            options[name] = tuple(options[name])
    return from_dict(GenerateConfig, options)


def load_run(path: str | Path, checkpoint: str = "best", device: str = "cpu") -> Run:
    """A trained run from its directory (``checkpoint``: ``best`` or ``last``) or from a checkpoint file.

    ``device``: ``cpu`` (the default: the same numbers and bytes everywhere), ``auto`` (CUDA, then Apple MPS, then the
    CPU), ``cuda`` or ``mps``.
    """
    from tunesmith.checkpoint import load_model
    from tunesmith.devices import pick_device

    prefer = {"best": BEST, "last": LAST}.get(checkpoint, checkpoint)
    loaded = load_model(path, prefer=prefer, device=pick_device(device))
    run_dir = loaded.checkpoint.run_dir
    return Run(run_dir.path if run_dir is not None else Path(path).parent, loaded)


# -- listening and looking ----------------------------------------------------------------------------------------


def render(
    score: Score | str | Path,
    *,
    midi: str | Path | None = None,
    wav: str | Path | None = None,
    png: str | Path | None = None,
    max_seconds: float | None = None,
    title: str = "",
) -> dict[str, Path]:
    """Write a score (or a MIDI file) as MIDI, a WAV (FluidSynth) and/or a piano-roll PNG; returns the paths."""
    from tunesmith.rendering import MAX_SECONDS, plot_piano_roll, render_wav, write_midi

    if isinstance(score, (str, Path)):
        path = Path(score)
        if not path.is_file():
            raise TunesmithError(f"MIDI file not found: {path}")
        try:
            score = Score(str(path))
        except Exception as exc:  # symusic raises plain RuntimeErrors for damaged files
            raise TunesmithError(f"cannot read {path} as MIDI: {str(exc).splitlines()[0]}") from None
    if not (midi or wav or png):
        raise TunesmithError("render needs midi=, wav= or png=: where to write")
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="tunesmith-render-") as tmp:
        midi_path = Path(midi) if midi else Path(tmp) / "score.mid"
        if midi or wav:
            write_midi(score, midi_path, title=title or None)
        if midi:
            written["midi"] = midi_path
        if wav:
            written["wav"] = render_wav(midi_path, Path(wav), max_seconds=max_seconds or MAX_SECONDS)
    if png:
        written["png"] = plot_piano_roll(score, Path(png), title=title)
    return written


def compare(runs: Iterable[str | Path], out: str | Path, evaluate: bool = True) -> dict[str, Path]:
    """Compare runs in one table and one figure (``OUT.md``, ``.csv``, ``.png``), evaluating those not yet evaluated."""
    from tunesmith.evaluate import compare_runs, evaluate_run

    return compare_runs([Path(r) for r in runs], Path(out), evaluate_run if evaluate else None)
