"""Write docs/RECIPE.md from a full run of a recipe: command, minutes, curves, the evaluation table, samples.

Usage: ``.venv/bin/python docs/make_page.py RUN_DIR recipes/NAME.toml [notes.md]``. Every figure on the page is
copied from the run's own ``summary.json`` / ``eval.json`` (the table is what ``tunesmith evaluate`` printed), the
pictures and samples from its folders, with the length each sample reached and an OGG to listen to (rendered here
with FluidSynth and oggenc when the run wrote none); ``notes.md``, when given, is appended as the page's own words.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SAMPLES_PER_RUN = 2


def _copy(src: Path, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest.relative_to(DOCS).as_posix()


def _audio(midi: Path, dest: Path) -> str:
    """An OGG of a sample for readers to listen to: FluidSynth, then oggenc (``make system-deps`` installs both)."""
    from tunesmith.render import encode_ogg, render_wav

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


def main(run_dir: str, recipe: str, notes: str | None = None) -> Path:
    """Build the page and return its path."""
    out, name = Path(run_dir), Path(recipe).stem
    summary = json.loads((out / "summary.json").read_text())
    assets = DOCS / "assets" / name
    shutil.rmtree(assets, ignore_errors=True)
    lines = [
        f"# {name}",
        "",
        summary["about"],
        "",
        f"Command: `tunesmith run {recipe} -o {run_dir}` ({summary['minutes']:.1f} minutes in all on the 2-core CPU "
        "described in [BENCHMARKS.md](../BENCHMARKS.md)). The recipe: [`" + recipe + "`](../" + recipe + ").",
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
    page = DOCS / f"{name}.md"
    page.write_text("\n".join(lines).replace(str(DOCS.parent) + "/", "") + "\n")  # paths relative to the repository
    return page


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    print(f"wrote {main(*sys.argv[1:])}")
