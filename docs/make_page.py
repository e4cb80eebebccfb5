"""Write docs/RECIPE.md from a full run of a recipe: command, budget, curves, the evaluation table, samples.

Usage: ``.venv/bin/python docs/make_page.py RUN_DIR recipes/NAME.toml [notes.md] [PAGE]``; PAGE (default NAME) names
the page, e.g. ``NAME-best`` for a run of ``tunesmith run NAME --only best``. Every figure on the page is
copied from the run's own ``summary.json`` / ``eval.json`` / ``train.json`` (the table is what ``tunesmith
evaluate`` printed), the pictures and samples from its folders, with the length each sample reached and an OGG
to listen to (rendered here with FluidSynth and oggenc when the run wrote none); ``notes.md``, when given, is
appended as the page's own words. The unit of an experiment is its budget in optimizer steps (and epochs); the
minutes they took on the documented machine stand beside them, and a run that the ``max_minutes`` safety cap
cut short is marked as such.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from symusic import Score

DOCS = Path(__file__).resolve().parent
SAMPLES_PER_RUN = 2


def _copy(src: Path, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest.relative_to(DOCS).as_posix()


def _training(out: Path, summary: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Each run's ``train.json`` record (from the summary, else from the run's folder; None when neither has it)."""
    records = {}
    for name, run in summary["runs"].items():
        path = out / name / "train.json"
        records[name] = run.get("training") or (json.loads(path.read_text()) if path.is_file() else None)
    return records


def budget_lines(records: dict[str, dict[str, Any] | None]) -> list[str]:
    """The budget table (steps and epochs, done of planned, the minutes beside) and whether the cap cut a run."""
    lines = [
        "## Budget",
        "",
        "The experiment is its optimizer steps; the minutes are what they took on this machine.",
        "",
        "| run | optimizer steps | epochs | steps per epoch | training minutes | threads | safety cap | cut short |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    cut = []
    for name, r in records.items():
        if r is None:
            lines.append(f"| {name} | not recorded | | | | | | |")
            continue
        cap = f"{r['max_minutes']:g} min" if r["max_minutes"] else "none"
        flag = "**yes**" if r["cut_short"] else "no"
        lines.append(
            f"| {name} | {r['steps']:,} of {r['steps_planned']:,} | {r['epochs']} of {r['epochs_planned']} | "
            f"{r['steps_per_epoch']} | {r['minutes']:.2f} | {r['threads']} | {cap} | {flag} |"
        )
        if r["cut_short"]:
            cut.append(f"{name} ({r['steps']:,} of {r['steps_planned']:,} steps)")
    lines.append("")
    if cut:
        lines.append(
            f"**Cut short by the safety cap: {', '.join(cut)}.** These figures are not the recipe's: rerun on a "
            "machine with free cores, or raise `max_minutes`."
        )
    elif all(r is not None for r in records.values()):
        lines.append("No run was cut short by the `max_minutes` safety cap: every run did all its steps.")
    return lines


def drum_lines(run_path: Path, report: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """For a run whose music has drums: how many samples have a drum track, and the drum metrics beside the real."""
    rows = {k: v for k, v in report.get("metrics", {}).items() if k.startswith("drum_")}
    if not rows:
        return []
    mids = [Path(f) for r in records if "error" not in r for f in r.get("files", []) if f.endswith(".mid")]
    with_drums = sum(any(t.is_drum and len(t.notes) for t in Score(str(m)).tracks) for m in mids if m.is_file())
    lines = [
        "",
        f"Drums: {with_drums} of {len(mids)} generated samples have a drum track. The drum metrics, MusPy's, over the "
        "pieces that have drums: the drum-in-pattern rate is the share of drum onsets on the beat's 16th-note grid, "
        "the drum pattern consistency the larger of that share and the share on its 8th-note-triplet grid:",
        "",
        "| metric | real | network | n-gram |",
        "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        cells = [f"{row[k]['mean']:.3f} ({row[k].get('pieces', '?')} pieces)" for k in ("real", "network", "ngram")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _audio(midi: Path, dest: Path) -> str:
    """An OGG of a sample for readers to listen to: FluidSynth, then oggenc (``make system-deps`` installs both)."""
    from tunesmith.rendering import encode_ogg, render_wav

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        encode_ogg(render_wav(midi, Path(tmp) / "sample.wav"), dest)
    return dest.relative_to(DOCS).as_posix()


def _reached(record: dict) -> str:
    """The length a sample reached, as generate.json recorded it."""
    length = record.get("length")
    if not length:  # written before lengths were recorded
        return f"{record.get('notes', '?')} notes"
    unit = length["unit"]
    if length["reached"] >= length["asked"]:
        return f"{length['reached']:g} {unit} of new music as asked, {record['notes']} notes"
    return f"{length['reached']:g} of the {length['asked']} {unit} asked, {record['notes']} notes"


def main(run_dir: str, recipe: str, notes: str | None = None, page: str | None = None) -> Path:
    """Build the page and return its path."""
    out, name = Path(run_dir), page or Path(recipe).stem
    summary = json.loads((out / "summary.json").read_text())
    assets = DOCS / "assets" / name
    shutil.rmtree(assets, ignore_errors=True)
    training = _training(out, summary)
    steps = sum(r["steps"] for r in training.values() if r)
    train_minutes = sum(r["minutes"] for r in training.values() if r)
    only = f" --only {','.join(summary['runs'])}" if page else ""
    lines = [
        f"# {name}",
        "",
        summary["about"],
        "",
        f"Command: `tunesmith run {recipe}{only} -o {run_dir}`: {steps:,} optimizer steps of training in all "
        f"({train_minutes:.1f} minutes of training, {summary['minutes']:.1f} minutes for every step of the recipe on "
        "the 2-core CPU described in [BENCHMARKS.md](../BENCHMARKS.md)). The recipe: [`"
        + recipe
        + "`](../"
        + recipe
        + ").",
        "",
        *budget_lines(training),
        "",
        "| step | minutes | command |",
        "|---|---:|---|",
    ]
    lines += [f"| {s['step']} | {s['minutes']:.2f} | `{s['command']}` |" for s in summary["steps"]]
    if (out / "compare.md").is_file():
        table = (out / "compare.md").read_text().split("\n![")[0].rstrip()
        lines += [
            "",
            "## Comparison",
            "",
            table,
            "",
            f"![validation curves]({_copy(out / 'compare.png', assets / 'compare.png')})",
        ]
    for run_name, run in summary["runs"].items():
        run_path = out / run_name
        lines += ["", f"## {run_name}", "", "What `tunesmith evaluate` printed (test split, best checkpoint):", ""]
        lines += ["```", run["table"], "```", ""]
        if run.get("decoded_samples"):
            shares = {"as_written": run["decoded_samples"]["decoded"], **run["decoded_samples"]}  # older summaries
            lines += [
                f"Samples that decode into music as generated: {shares['as_written']} of {shares['generated']}"
                + (
                    f" ({shares['decoded']} after repairing the ABC text)."
                    if shares["decoded"] > shares["as_written"]
                    else "."
                ),
                "",
            ]
        lines.append(f"![training curves]({_copy(run_path / 'curves.png', assets / f'{run_name}-curves.png')})")
        records = json.loads((run_path / "samples" / "generate.json").read_text())["files"]
        lines += drum_lines(run_path, json.loads((run_path / "eval.json").read_text()), records)
        temperatures = {r["temperature"] for r in records}
        shown: list[float] = []  # one sample per temperature when there are several, else the first two
        for record in records:
            files = [Path(f) for f in record.get("files", [])]
            if "error" in record or len(shown) >= max(SAMPLES_PER_RUN, len(temperatures)):
                continue
            if len(temperatures) > 1 and record["temperature"] in shown:
                continue
            shown.append(record["temperature"])
            links = [
                f"[{f.suffix[1:]}]({_copy(f, assets / f'{run_name}-{f.name}')})"
                for f in files
                if f.suffix not in (".png", ".wav")
            ]
            if not any(f.suffix == ".ogg" for f in files):
                links.append(f"[listen (ogg)]({_audio(files[0], assets / f'{run_name}-{files[0].stem}.ogg')})")
            lines += [
                "",
                f"Sample `{record['name']}` (temperature {record['temperature']:g}, {_reached(record)}): "
                + ", ".join(links),
            ]
            pngs = [f for f in files if f.suffix == ".png"]
            if pngs:
                lines += ["", f"![{record['name']}]({_copy(pngs[0], assets / f'{run_name}-{pngs[0].name}')})"]
        failed = [r for r in records if "error" in r]
        if failed:
            lines += ["", f"Samples refused by the checks and not written: {len(failed)} of {len(records)}:"]
            lines += [f"- `{r['name']}`: {r['error']}" for r in failed]
    if notes:
        lines += ["", "## What works and what does not", "", Path(notes).read_text().strip()]
    path = DOCS / f"{name}.md"
    path.write_text("\n".join(lines).replace(str(DOCS.parent) + "/", "") + "\n")  # paths relative to the repository
    return path


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5):
        raise SystemExit(__doc__)
    print(f"wrote {main(*sys.argv[1:])}")
