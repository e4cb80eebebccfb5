"""Musical structure over 16 and 32 bars: samples with and without ``--form`` against the held-out real songs.

Run: ``make bench-structure RUN=RUN_DIR`` (or ``.venv/bin/python benchmarks/structure.py RUN_DIR [--num N]``); not
part of ``make test`` or ``make bench``. Writes ``benchmarks/results/structure.json`` (``--result NAME``:
``NAME.json``) and prints a markdown table.

``RUN_DIR`` is a trained ``event`` model with band headers (the ``bollywood-multitrack`` recipe's, or any REMI model
with programs). For each length (16 and 32 bars) ``--num`` samples are drawn through the API
(``tunesmith.api.load_run(...).generate``, the code behind ``tunesmith generate``) from nothing (``--primer none``), at
temperature 1.0, with ``--band``: once without a form (``--length 16bars``) and once with each form of that length
(``--forms``, e.g. ``AABA/4``: AABA of 4-bar sections). Samples that fail the generator's checks after its retries
are counted, not measured. Reported per set, against the run's test split
decoded by its own tokenizer (as ``tunesmith evaluate`` does):

- programs per sample (drums count as one), beside the real songs' interquartile range (every split's songs), and the
  share of samples whose every program is in the band asked;
- per metric, the overlapping area (OA, Yang and Lerch 2020: ``tunesmith.evaluate.distances``) of the real intra-set
  distances and the real-generated inter-set distances, with the metric's mean; ``oa`` is against the whole
  held-out songs (issue 14's must-show), ``oa_excerpt`` against excerpts of the same number of bars from the middle
  of each held-out song (a 16-bar sample cannot span a song's whole range or repeat as a song does).

``--keys`` (default: the four keys issue 14 names; ``none`` skips them) then asks the same model for ``--num`` samples
of 16 bars per key with ``--key KEY`` and the same band, and reports the share whose estimated key
(Krumhansl-Schmuckler, ``tunesmith.keys.estimate_key``) is the key asked, of the samples written and of all asked:
``--key`` on a full-size model (``benchmarks/composer.py`` measures it on a smoke-sized one it trains itself).
``--key-form AABA/4`` draws them as that form (as the recipe generates) rather than as 16 bars without one.
``--key-strengths 0,2,5`` asks each key at each ``--key-strength`` (default: generate's own), and every key row also
reports what the pull costs: the samples' pitch-class entropy and used pitch classes, with their OA against the
held-out songs (a pull can win the key estimate by piling the notes onto the tonic).

``--key auto`` (or a key's name) is asked of the length and form sets: ``auto`` keeps each sample's key from its
first bar on (``tunesmith.key_keeper``); the record says what was asked.

``--density N|auto`` is asked of the length and form sets too (``tunesmith.density``). ``auto`` reads the training
corpus's notes a bar from the model's tokenizer; for a model prepared before tokenizers counted them, the benchmark
counts them from the run's training split by the same rule (``Tokenizer.notes_per_bar``) and says so.

``--no-plain`` leaves out the sets without a form.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, write_result

METRICS = (
    "pitch_range",
    "used_pitch_classes",
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
    "note_density",
    "ioi_histogram",
    "empty_beat_rate",
    "groove_consistency",
    "repeated_ngram_ratio",
)
BAND = "bollywood-band,drums,48,25,35,0,49"  # the preset and the six programs most common in the songs besides
FORMS = "16:AABA/4,32:AABA/8,32:AABAABAB/4"
KEYS = "C major;A minor;D minor;E-flat major"


def parse_forms(text: str) -> dict[int, list[tuple[str, int]]]:
    """``"16:AABA/4,32:AABA/8"`` -> ``{16: [("AABA", 4)], 32: [("AABA", 8)]}``; every form's bars must add up."""
    out: dict[int, list[tuple[str, int]]] = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        bars, spec = item.split(":")
        letters, section = spec.split("/")
        if len(letters) * int(section) != int(bars):
            raise SystemExit(f"--forms {item}: {letters} of {section} bars is not {bars} bars")
        out.setdefault(int(bars), []).append((letters, int(section)))
    return out


def programs(score) -> set[int]:
    """The programs a score plays, drums as -1."""
    return {-1 if t.is_drum else int(t.program) for t in score.tracks if len(t.notes)}


def excerpt(score, bars: int):
    """``bars`` bars from the middle of ``score`` (its first time signature's bars), moved to start at 0."""
    from tunesmith.length import Start, clip, drop_before, note_end

    bar = 4.0
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        bar = ts.numerator * 4.0 / ts.denominator
    start = max(math.floor((note_end(score) / bar - bars) / 2), 0) * bar
    return drop_before(clip(score, start + bars * bar), Start(time=start), "bars")


def metric_values(scores: list) -> list[dict]:
    """Every evaluate metric of each score that has pitched notes."""
    from tunesmith.evaluate.metrics import Notes, compute_metrics

    return [compute_metrics(n) for n in (Notes.from_score(s) for s in scores) if len(n)]


def measure(scores: list, real: list[dict], real_excerpts: list[dict]) -> dict:
    """Each metric's mean and OA against the whole held-out songs and against their excerpts."""
    from tunesmith.evaluate.report import metric_table

    values = metric_values(scores)
    whole, cut = metric_table(real, {"g": values}), metric_table(real_excerpts, {"g": values})
    return {
        name: {
            "mean": whole[name]["g"]["mean"],
            "real_mean": whole[name]["real"]["mean"],
            "real_excerpt_mean": cut[name]["real"]["mean"],
            "oa": round(whole[name]["g"]["overlap"], 3),
            "oa_excerpt": round(cut[name]["g"]["overlap"], 3),
        }
        for name in METRICS
    }


def corpus_notes_per_bar(tokenizer, train) -> dict:
    """The training corpus's notes a bar, as ``--density auto`` reads it; counted here for a tokenizer without it."""
    recorded = tokenizer.stats.get("notes_per_bar")
    if recorded is None:
        ids, counts = np.unique(np.asarray(train.ids), return_counts=True)
        counted = tokenizer.notes_per_bar({tokenizer.vocab[i]: int(c) for i, c in zip(ids, counts)})
        tokenizer.stats["notes_per_bar"] = counted  # what fit records today: --density auto reads it
        return {"value": counted, "by": "counted by the benchmark from the training split (the tokenizer predates it)"}
    return {"value": recorded, "by": "recorded by the tokenizer at fit"}


def generate(run, args: argparse.Namespace, bars: int, form: tuple[str, int] | None, **more) -> list:
    """``--num`` samples from nothing with the band asked: ``form`` if given, else ``bars`` bars without one."""
    options = dict(num=args.num, primer="none", band=args.band, temperatures=(args.temperature,), seed=args.seed)
    if form:
        options.update(form=form[0], section_bars=form[1])
    else:
        options.update(length=f"{bars}bars")
    return run.generate(progress=False, **options, **more)


def draw(run, args: argparse.Namespace, bars: int, form: tuple[str, int] | None) -> dict:
    started = time.perf_counter()
    asked = {name: getattr(args, name) for name in ("key", "density") if getattr(args, name)}
    samples = generate(run, args, bars, form, **asked)
    seconds = time.perf_counter() - started
    kept = [s.score for s in samples if s.ok]
    counts = [len(programs(s)) for s in kept]
    return {
        "form": f"{form[0]}/{form[1]}" if form else None,
        "samples": len(kept),
        "failed": len(samples) - len(kept),
        "seconds": round(seconds, 1),
        "programs_median": statistics.median(counts) if counts else None,
        "programs_range": [min(counts), max(counts)] if counts else None,
        "programs_in_iqr": round(float(np.mean([args.iqr[0] <= c <= args.iqr[1] for c in counts])), 3) if kept else 0,
        "in_band": round(float(np.mean([programs(s) <= args.band_set for s in kept])), 3) if kept else 0,
        "kept": kept,
    }


def keys(run, args: argparse.Namespace, real: list[dict]) -> list[dict]:
    """Per key and strength asked: ``--num`` samples of 16 bars with ``--key`` and what they cost.

    The share whose estimated key is the one asked, and the samples' pitch-class entropy and used pitch classes, with
    their OA against the held-out songs (``real``).
    """
    from tunesmith.evaluate.report import metric_table
    from tunesmith.keys import estimate_key, parse_key

    rows = []
    names = [k.strip() for k in args.keys.split(";") if k.strip() and args.keys != "none"]
    for strength in args.key_strengths:
        for name in names:
            asked = parse_key(name)
            started = time.perf_counter()
            more = {} if strength is None else {"key_strength": strength}
            samples = generate(run, args, 16, args.key_form, key=name, **more)
            kept = [s.score for s in samples if s.ok]
            hits = sum(estimate_key(s) == asked for s in kept)
            values = metric_values(kept)
            table_ = metric_table(real, {"g": values}) if values else {}
            rows.append(
                {
                    "key": str(asked),
                    "strength": strength,  # None: generate's default
                    "samples": len(kept),
                    "asked": len(samples),
                    "hits": hits,
                    "of_written": round(hits / len(kept), 3) if kept else None,
                    "of_asked": round(hits / len(samples), 3),
                    "seconds": round(time.perf_counter() - started, 1),
                    **{
                        name_: {
                            "mean": round(table_[name_]["g"]["mean"], 3),
                            "real_mean": round(table_[name_]["real"]["mean"], 3),
                            "oa": round(table_[name_]["g"]["overlap"], 3),
                        }
                        for name_ in ("pitch_class_entropy", "used_pitch_classes")
                        if table_
                    },
                }
            )
            entropy = rows[-1].get("pitch_class_entropy", {})
            print(
                f"--key {asked} (strength {'default' if strength is None else strength}): {hits} of {len(kept)} "
                f"written ({len(samples)} asked); pitch-class entropy {entropy.get('mean')} "
                f"(songs {entropy.get('real_mean')}, OA {entropy.get('oa')})",
                flush=True,
            )
    return rows


def table(rows: list[dict], iqr: list[float]) -> str:
    heads = [f"{r['bars']} bars, {r['form'] or 'no form'}" for r in rows]
    lines = ["| | " + " | ".join(heads) + " |", "|---" * (len(rows) + 1) + "|"]
    lines.append("| samples kept (failed) | " + " | ".join(f"{r['samples']} ({r['failed']})" for r in rows) + " |")
    progs = [
        f"{r['programs_median']} [{r['programs_range'][0]}-{r['programs_range'][1]}]" if r["samples"] else "-"
        for r in rows
    ]
    lines.append(f"| programs per sample (real IQR {iqr[0]:g}-{iqr[1]:g}) | " + " | ".join(progs) + " |")
    lines.append("| share within the real IQR | " + " | ".join(f"{r['programs_in_iqr']:.2f}" for r in rows) + " |")
    lines.append("| every program in the band | " + " | ".join(f"{r['in_band']:.2f}" for r in rows) + " |")
    for name in METRICS:
        cells = [
            f"{r['metrics'][name]['oa']:.2f} / {r['metrics'][name]['oa_excerpt']:.2f}" if r["metrics"] else "-"
            for r in rows
        ]
        lines.append(f"| OA {name} (songs / excerpts) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", metavar="RUN_DIR", help="a trained event model with band headers")
    parser.add_argument("--num", type=int, default=20, help="samples per length and form (default 20)")
    parser.add_argument("--band", default=BAND, help=f"the band asked for (default {BAND})")
    parser.add_argument("--forms", default=FORMS, help=f"BARS:LETTERS/SECTION_BARS, ... (default {FORMS})")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every set (default 0)")
    parser.add_argument("--keys", default=KEYS, help=f"keys asked, ';'-separated, or none (default {KEYS})")
    parser.add_argument("--result", default="structure", help="results/NAME.json to write (default structure)")
    parser.add_argument("--key", default=None, help="asked of the length and form sets: auto, or a key's name")
    parser.add_argument("--density", default=None, help="asked of the length and form sets: N notes a bar, or auto")
    parser.add_argument(
        "--key-strengths",
        default="",
        help="--key-strength values to ask the key samples with, comma-separated (default: generate's own)",
    )
    parser.add_argument("--key-form", default="", help="LETTERS/SECTION_BARS of 16 bars for the key samples")
    parser.add_argument(
        "--no-plain", dest="plain", action="store_false", help="leave out the sets without a form (the slow ones)"
    )
    args = parser.parse_args()
    from tunesmith.api import load_run
    from tunesmith.band import parse_band
    from tunesmith.data import TokenData
    from tunesmith.evaluate.report import decoded_scores

    forms = parse_forms(args.forms)
    # The key samples: a 16-bar form, as the recipe generates, or no form.
    args.key_form = parse_forms(f"16:{args.key_form}")[16][0] if args.key_form else None
    args.key_strengths = [float(x) for x in args.key_strengths.split(",") if x.strip()] or [None]
    run = load_run(args.run)
    data_dir = run.checkpoint.data_dir
    args.band_set = set(parse_band(args.band))
    splits = [TokenData(data_dir, split) for split in ("train", "valid", "test")]
    every = [s for split in splits for s in decoded_scores(run.tokenizer, split, 10_000)]
    counts = [len(programs(s)) for s in every]
    args.iqr = [float(np.percentile(counts, 25)), float(np.percentile(counts, 75))]
    corpus_density = corpus_notes_per_bar(run.tokenizer, splits[0])
    test = decoded_scores(run.tokenizer, TokenData(data_dir, "test"), 200)
    real = metric_values(test)
    rows = []
    for bars, bar_forms in sorted(forms.items()):
        real_excerpts = metric_values([excerpt(s, bars) for s in test])
        for form in ((None,) if args.plain else ()) + tuple(bar_forms):
            row = {"bars": bars, **draw(run, args, bars, form)}
            row["metrics"] = measure(row.pop("kept"), real, real_excerpts) if row["samples"] else {}
            rows.append(row)
            print(
                f"{bars} bars, {row['form'] or 'no form'}: {row['samples']} samples in {row['seconds']} s", flush=True
            )
    key_rows = keys(run, args, real)
    result = {
        "machine": machine(),
        "command": " ".join(["benchmarks/structure.py", *sys.argv[1:]]),
        "run": str(args.run),
        "data": os.path.relpath(data_dir),  # as the run was named: relative where RUN_DIR was
        "band": sorted(args.band_set),
        "temperature": args.temperature,
        "key": args.key,  # asked of the length and form sets (None: the model's own)
        "density": args.density,  # likewise
        "corpus_notes_per_bar": corpus_density,
        "real": {"test_songs": len(real), "songs": len(every), "programs_iqr": args.iqr},
        "sets": rows,
        "keys": key_rows,
    }
    print(table(rows, args.iqr))
    for row in key_rows:
        entropy = row.get("pitch_class_entropy", {})
        print(
            f"| --key {row['key']} | strength {row['strength']} | {row['hits']} of {row['samples']} written, "
            f"{row['asked']} asked | entropy {entropy.get('mean')} (OA {entropy.get('oa')}) |"
        )
    print(f"wrote {write_result(args.result, result)}")


if __name__ == "__main__":
    main()
