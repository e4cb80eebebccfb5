"""``tunesmith evaluate``: likelihood, musical metrics and memorisation of one run, beside the n-gram baseline.

Writes ``RUN_DIR/eval.json`` and the samples it judged (``RUN_DIR/eval/network/*.mid``, ``RUN_DIR/eval/ngram/*.mid``).
Every choice is made on the training and validation splits; the evaluated split (``test`` by default) is read once.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from symusic import Score

from tunesmith.checkpoint import Checkpoint, load_model
from tunesmith.data import TokenData, check_data_dir, check_same_data, data_fingerprint, decoded_scores
from tunesmith.devices import pick_device
from tunesmith.errors import TunesmithError
from tunesmith.evaluate.distances import set_distance
from tunesmith.evaluate.likelihood import fit_ngram, score_split, uses_windows
from tunesmith.evaluate.memorisation import PitchNgrams, TrainingIndex, looks_copied
from tunesmith.evaluate.metrics import DRUM_METRICS, METRICS, Notes, compute_metrics
from tunesmith.evaluate.options import EvaluateConfig as EvaluateConfig  # declared there, torch-free
from tunesmith.generate import GenerateConfig, Generator
from tunesmith.layout import RunDir
from tunesmith.locks import exclusive, shared
from tunesmith.pitch_ngrams import training_shifts
from tunesmith.rendering import write_midi
from tunesmith.threads import use_threads


def _notes(scores: list[Score]) -> list[Notes]:
    """The pitched notes of each score that has any."""
    return [notes for notes in (Notes.from_score(s) for s in scores) if len(notes)]


def _sample_length(data: TokenData, requested: int | None) -> int:
    if requested:
        return requested
    return int(np.clip(np.median(np.diff(data.bounds)), 64, 1024))


def _network_samples(run_dir: Path, opts: EvaluateConfig, length: int, windows: bool, out_dir: Path) -> list[Path]:
    gen_opts = GenerateConfig(
        num=opts.samples,
        length=str(length),
        temperatures=(opts.temperature,),
        primer="random" if windows else "none",
        seed=opts.seed,
        checkpoint=opts.checkpoint,
        device=opts.device,
        threads=opts.threads,
        check=False,  # every sample is measured, degenerate ones too: the metrics are about the model
        allow_early_end=True,
        overwrite=True,
        progress=False,
    )
    records = Generator(run_dir, gen_opts).run(out_dir)
    return [Path(r["files"][0]) for r in records if "error" not in r]


def _ngram_samples(ngram, tokenizer, opts: EvaluateConfig, length: int, out_dir: Path) -> list[Path]:
    rng = np.random.default_rng(opts.seed)
    paths = []
    for i in range(opts.samples):
        ids = [tokenizer.bos_id, *ngram.sample([tokenizer.bos_id], length, rng, stop_id=tokenizer.eos_id)]
        result = tokenizer.try_decode(ids)
        if result.ok:
            paths.append(write_midi(result.score, out_dir / f"sample-{i + 1:02d}.mid"))
    return paths


def metric_table(real: list[dict], sets: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """Per metric: mean and spread of each set, and the generated sets' distances to the real one.

    The drum metrics are taken over the pieces that have drums (``pieces`` says how many), and left out of the
    table when no piece, real or generated, has any.
    """
    table: dict[str, dict[str, Any]] = {}
    for name in METRICS:
        kept = lambda ms, name=name: [m[name] for m in ms if not _is_nan(m[name])]  # noqa: E731 - NaN: no drums
        if name in DRUM_METRICS and not any(kept(ms) for ms in (real, *sets.values())):
            continue
        r = kept(real)
        row: dict[str, Any] = {"real": _mean_std(r)}
        for label, values in sets.items():
            g = kept(values)
            row[label] = {**_mean_std(g), **set_distance(r, g)}
        if name in DRUM_METRICS:
            for label, values in (("real", real), *sets.items()):
                row[label]["pieces"] = len(kept(values))
        table[name] = row
    return table


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _mean_std(values: list) -> dict[str, Any]:
    if not values:
        return {"mean": math.nan, "std": math.nan}
    arr = np.asarray(values, dtype=float)
    mean, std = arr.mean(axis=0), arr.std(axis=0)
    if arr.ndim > 1:
        return {"mean": [round(float(v), 4) for v in mean], "std": [round(float(v), 4) for v in std]}
    return {"mean": float(mean), "std": float(std)}


def _memorisation(index: TrainingIndex, named: dict[str, list[tuple[str, Notes]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, pieces in named.items():
        checks = [{"name": name, **index.check(notes)} for name, notes in pieces]
        flagged = [c["name"] for c in checks if looks_copied(c)]
        out[label] = {
            "samples": checks,
            "mean_longest_run": float(np.mean([c["longest_run"] for c in checks])) if checks else math.nan,
            "max_longest_run": max((c["longest_run"] for c in checks), default=0),
            "mean_ngram_share": float(np.mean([c["ngram_share"] for c in checks])) if checks else math.nan,
            "flagged": flagged,
        }
    return out


def evaluate_run(run_dir: str | Path, opts: EvaluateConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate a training run and write its report (see ``report_path``); returns the report."""
    opts = opts or EvaluateConfig()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file" if run_dir.exists() else "does not exist"
        raise TunesmithError(f"{run_dir} {what}: evaluate takes a run directory made by `tunesmith train`")
    with exclusive(run_dir, "evaluate"):
        opts = replace(opts, threads=use_threads(opts.threads)[0])  # recorded as used
        model, tokenizer, ckpt = load_model(run_dir, prefer=opts.checkpoint, device=pick_device(opts.device))
        data_dir = ckpt.data_dir
        try:
            check_data_dir(data_dir)
        except TunesmithError as exc:
            raise TunesmithError(f"the run's data is needed to evaluate it: {exc}") from None
        with shared(data_dir, "evaluate"):
            check_same_data(
                data_dir, data_fingerprint(data_dir), ckpt.fingerprint, tokenizer, hint="prepare it as it was"
            )
            return _evaluate(run_dir, opts, model, tokenizer, ckpt, data_dir, progress)


def _evaluate(
    run_dir: Path, opts: EvaluateConfig, model, tokenizer, ckpt: Checkpoint, data_dir: Path, progress: bool
) -> dict[str, Any]:
    cfg = ckpt.config
    try:
        train, split = TokenData(data_dir, "train"), TokenData(data_dir, opts.split)
    except (TunesmithError, OSError):
        raise TunesmithError(f"the run's data directory {data_dir} is not there: evaluation needs its splits") from None
    if not len(split):
        raise TunesmithError(f"the {opts.split} split of {data_dir} is empty: prepare with a --split that fills it")
    valid = TokenData(data_dir, "valid") if opts.split != "valid" else None
    window = int(cfg.get("seq_len") or 64)
    windows = uses_windows(model, cfg.get("targets", "all"))

    def stage(text: str) -> None:
        if progress:
            print(f"evaluate: {text}", file=sys.stderr, flush=True)

    # len() of a split counts its tokens; the pieces are n_pieces
    orders = f"orders 1..{opts.ngram_order}"
    stage(f"fitting the n-gram baseline ({orders}) on the training split ({_pieces(train, train.n_pieces)})")
    ngram, order_scores = fit_ngram(tokenizer, train, valid, opts.ngram_order)
    scored = split.n_pieces if opts.max_pieces is None else min(opts.max_pieces, split.n_pieces)
    stage(f"scoring the {opts.split} split ({_pieces(split, scored)}) with the network and the n-gram")
    net, base = score_split(model, tokenizer, split, window, windows, ngram, opts.max_pieces, progress)
    if not net.targets:
        raise TunesmithError(f"no piece of the {opts.split} split is longer than the model's window of {window} tokens")

    length = _sample_length(split, opts.sample_length)
    stage(f"generating {opts.samples} samples of {length} tokens from the network and from the n-gram")
    out_dir = RunDir(run_dir).eval_dir
    net_paths = _network_samples(run_dir, opts, length, windows, out_dir / "network")
    ngram_paths = _ngram_samples(ngram, tokenizer, opts, length, out_dir / "ngram")
    paths = {"network": net_paths, "ngram": ngram_paths}
    scores = {label: [(p.stem, Score(str(p))) for p in found] for label, found in paths.items()}
    generated = {label: [(name, Notes.from_score(s)) for name, s in named] for label, named in scores.items()}
    stage("musical metrics of the samples and the real pieces; memorisation against the training pieces")
    real_scores = decoded_scores(tokenizer, split, opts.max_pieces or 200)
    real = _notes(real_scores)
    metric_sets = {label: [compute_metrics(n) for _, n in pieces if len(n)] for label, pieces in generated.items()}
    train_scores = decoded_scores(tokenizer, train, opts.max_train_pieces)
    index = TrainingIndex.build(_notes(train_scores))
    memo = _memorisation(index, {**generated, "real": [(f"{opts.split} #{i}", n) for i, n in enumerate(real)]})
    pitch_grams = PitchNgrams(train_scores, training_shifts(train.meta))  # a copy may be a moved one
    for label, named in (*scores.items(), ("real", [(None, s) for s in real_scores])):
        memo[label]["pitch_ngrams"] = pitch_grams.share(s for _, s in named)

    best = min((row["valid_loss"] for row in ckpt.history if row["valid_loss"] == row["valid_loss"]), default=None)
    report = {
        "run": str(run_dir),
        "checkpoint": str(ckpt.path),
        "split": opts.split,
        "options": asdict(opts),
        "model": {"preset": cfg.get("model"), "parameters": model.n_parameters},
        "checkpoint_epoch": ckpt.epochs,
        "best_valid_loss": best,
        "scoring": "full windows only" if windows else "every token, state carried",
        "likelihood": {"network": net.summary(), "ngram": {"order": ngram.order, **base.summary()}},
        "ngram": {**ngram.describe(), "valid_nll_by_order": order_scores},
        "samples": {
            "length_tokens": length,
            "requested": opts.samples,
            **{k: len(v) for k, v in generated.items()},
            "real": len(real),
        },
        "metrics": metric_table([compute_metrics(n) for n in real], metric_sets),
        "memorisation": memo,
    }
    RunDir(run_dir).write_eval(report, opts.split)
    return report


def _pieces(data: TokenData, n: int) -> str:
    """``n`` of the split's pieces and their tokens, in words: "3 pieces, 1,204 tokens" or "1 of 3 pieces, ..."."""
    of = f"{n} of {data.n_pieces}" if n < data.n_pieces else f"{n}"
    return f"{of} {'piece' if data.n_pieces == 1 else 'pieces'}, {int(data.bounds[n]):,} tokens"


def report_path(run_dir: Path, split: str = "test") -> Path:
    """``RUN_DIR/eval.json`` for the test split (the one ``compare`` reads), ``eval-SPLIT.json`` for the others."""
    return RunDir(run_dir).eval_file(split)


def format_report(report: dict[str, Any]) -> str:
    """The table ``tunesmith evaluate`` prints."""
    lk = report["likelihood"]
    per_step = "nll_per_step" in lk["network"]
    lines = [
        f"{report['run']}: {report['model']['preset']}, {report['model']['parameters']:,} parameters, "
        f"checkpoint of epoch {report['checkpoint_epoch']}; {report['split']} split, "
        f"{lk['network']['targets']:,} targets ({report['scoring']})",
        "",
        f"{'model':<16}{'nats/token':>12}{'bits/token':>12}{'perplexity':>12}{'accuracy':>10}"
        + (f"{'nats/step':>11}" if per_step else ""),
    ]
    for label, row in (("network", lk["network"]), (f"{lk['ngram']['order']}-gram KN", lk["ngram"])):
        lines.append(
            f"{label:<16}{row['nll']:>12.4f}{row['bits']:>12.4f}{row['perplexity']:>12.3f}{row['accuracy']:>10.1%}"
            + (f"{row['nll_per_step']:>11.4f}" if per_step else "")
        )
    n = report["samples"]
    lines += [
        "",
        f"musical metrics: {n['network']} network and {n['ngram']} n-gram samples (of {n['requested']} each, "
        f"{n['length_tokens']} tokens; the others did not decode) against {n['real']} real pieces",
    ]
    width = max(22, *(len(name) + 1 for name in report["metrics"]))
    lines.append(f"{'metric':<{width}}{'real':>9}{'network':>9}{'OA':>7}{'KL':>7}{'n-gram':>9}{'OA':>7}{'KL':>7}")
    for name, row in report["metrics"].items():
        cells = [_mean_cell(row["real"]["mean"])]
        for label in ("network", "ngram"):
            part = row[label]
            cells += [_mean_cell(part["mean"]), f"{part['overlap']:.3f}", f"{part['kl']:.3f}"]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, (9, 9, 7, 7, 9, 7, 7))))
    drums = [row for name, row in report["metrics"].items() if name in DRUM_METRICS]
    if drums:
        counts = ", ".join(f"{label} {drums[0][label]['pieces']}" for label in ("real", "network", "ngram"))
        lines.append(f"(drum metrics over the pieces that have drums: {counts})")
    lines += [
        "",
        "memorisation (longest run copied from training, in notes; share of 8-note n-grams found there: pitch and "
        "rhythm per sample; pitches alone per track, of all the samples' n-grams, transpositions included)",
    ]
    for label, memo in report["memorisation"].items():
        pitches = memo.get("pitch_ngrams")
        copied = f", pitch 8-grams copied {pitches['share']:.1%} of {pitches['ngrams']:,}" if pitches else ""
        lines.append(
            f"{label:<10} mean run {memo['mean_longest_run']:6.1f}, max {memo['max_longest_run']:4d}, "
            f"mean 8-gram share {memo['mean_ngram_share']:.3f}{copied}"
        )
    for label in ("network", "ngram"):
        flagged = report["memorisation"][label]["flagged"]
        if flagged:
            lines.append(f"warning: {label} samples that look copied from the training split: {', '.join(flagged)}")
    return "\n".join(lines)


def _mean_cell(mean: float | list[float]) -> str:
    return "(hist)" if isinstance(mean, list) else f"{mean:.3f}"
