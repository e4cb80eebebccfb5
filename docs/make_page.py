"""Write docs/RECIPE.md from a full run of a recipe: command, budget, curves, the evaluation table, samples.

Usage: ``.venv/bin/python docs/make_page.py RUN_DIR recipes/NAME.toml [notes.md] [PAGE]``; PAGE (default NAME) names
the page, e.g. ``NAME-best`` for a run of ``tunesmith run NAME --only best``. Every figure on the page is
copied from the run's own ``summary.json`` / ``eval.json`` / ``train.json`` (the table is what ``tunesmith
evaluate`` printed), the pictures and samples from its folders, with the length each sample reached and an OGG
to listen to (rendered here with FluidSynth and oggenc when the run wrote none); ``notes.md``, when given, is
appended as the page's own words. The unit of an experiment is its budget in optimizer steps (and epochs); the
minutes they took on the documented machine stand beside them, and a run that the ``max_minutes`` safety cap
cut short is marked as such. The run may have been made in any folder: the page shows it as ``runs/NAME``, where
``tunesmith run`` writes by default, so its commands are what a reader types (``shown_paths``).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from symusic import Score

from tunesmith.layout import RecipeDir

DOCS = Path(__file__).resolve().parent
SAMPLES_PER_RUN = 2
RUNS = Path("runs")  # where ``tunesmith run`` writes a recipe's output unless given -o (``runs/NAME``)
PATH_START, PATH_END = r"(?<![\w./-])", r"(?![\w.-])"  # a path's first and last characters, in a page's text


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


def shown_paths(text: str, run_dir: Path, shown: Path) -> str:
    """``text`` with the run's folder ``run_dir`` written as ``shown`` (``runs/NAME``), whatever it was called.

    A page's commands must be what a reader types: ``tunesmith run RECIPE`` writes into ``runs/NAME``, not into the
    folder (a scratch disk, another checkout) where the documented run was made. A recipe's output beside the run (one
    that a ``recipe:`` init ran first: ``tunesmith run`` puts it beside this one) is shown beside it, ``runs/OTHER``.
    """
    resolved = run_dir.resolve()
    # The folder as an absolute path, and what is in it as given (``out/model``: a bare ``out`` may be a word).
    for spelling, end in ((str(resolved), PATH_END), (str(run_dir), "(?=/)")):
        text = re.sub(PATH_START + re.escape(spelling) + end, lambda _: shown.as_posix(), text)

    def beside(match: re.Match) -> str:
        is_recipe_output = RecipeDir(resolved.parent / match.group(1)).summary_file.is_file()
        return (shown.parent / match.group(1)).as_posix() if is_recipe_output else match.group(0)

    return re.sub(PATH_START + re.escape(str(resolved.parent)) + r"/([\w.-]+)" + PATH_END, beside, text)


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
    smoke = " --smoke" if summary.get("smoke") else ""
    home = RUNS / (summary["recipe"] + ("-smoke" if smoke else ""))  # the RUN_DIR that command writes into
    lines = [
        f"# {name}",
        "",
        summary["about"],
        "",
        f"Command: `tunesmith run {recipe}{only}{smoke}` (into `{home.as_posix()}`): {steps:,} optimizer steps of "
        "training in all "
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
    text = shown_paths("\n".join(lines), out, home).replace(str(DOCS.parent) + "/", "")  # relative to the repository
    path.write_text(text + "\n")
    return path


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5):
        raise SystemExit(__doc__)
    print(f"wrote {main(*sys.argv[1:])}")
