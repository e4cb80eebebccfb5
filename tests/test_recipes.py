"""Recipes: every bundled recipe runs end to end in --smoke mode; recipe files are read and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.cli import main
from tunesmith.recipe import load_recipe, to_argv

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))
SHARED = ROOT.parent / "shared" / "data"


def test_every_seed_has_a_recipe():
    names = {p.stem for p in RECIPES}
    assert names >= {
        "bollywood-attention",
        "bilstm-vs-lstm",
        "piano-lstm-vs-gru",
        "seq2seq-pseudonote",
        "folk-charrnn",
        "jsb-polyphonic",
        "bollywood-multitrack",
    }


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_end_to_end_in_smoke_mode(recipe, tmp_path):
    loaded = load_recipe(recipe, smoke=True)
    if any("shared/data" in s for s in loaded.prepare["sources"]) and not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    out = tmp_path / recipe.stem
    assert main(["run", str(recipe), "--smoke", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["runs"]) == {r["name"] for r in loaded.runs}
    for name in summary["runs"]:
        run = out / name
        report = json.loads((run / "eval.json").read_text())
        assert report["likelihood"]["network"]["targets"] > 0 and report["likelihood"]["ngram"]["nll"] > 0
        assert list(run.glob("eval/**/*.mid")), f"{name}: evaluation wrote no MIDI samples"
        generated = json.loads((run / "samples" / "generate.json").read_text())["files"]
        assert generated and all(f.get("files") or f.get("error") for f in generated)  # written, or said why not
        for record in (f for f in generated if f.get("files")):
            assert record["length"]["reached"] >= record["length"]["asked"] or record["length"]["unit"] == "tokens"
    if len(loaded.runs) > 1:
        assert (out / "compare.md").is_file() and (out / "compare.png").is_file()
    commands = (out / "commands.txt").read_text()
    assert commands.startswith("tunesmith prepare ") and " -q" in commands  # not a terminal: no progress bars


def test_smoke_overrides_win_and_options_become_arguments(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\n[prepare]\nsources = ["corpus:bach"]\ntranspose = "-5..6"\n'
        "[train]\nepochs = 40\nmodel_option = { hidden = [64, 64], dropout = 0.1 }\n"
        '[[runs]]\nname = "a"\nepochs = 30\n[[runs]]\nname = "b"\nmodel = "gru"\n'
        "[smoke]\ntrain = { epochs = 1 }\nprepare = { sample = 3 }\n"
    )
    full, smoke = load_recipe(recipe), load_recipe(recipe, smoke=True)
    assert [r["epochs"] for r in full.runs] == [30, 40] and [r["epochs"] for r in smoke.runs] == [1, 1]
    assert smoke.prepare["sample"] == 3 and "sample" not in full.prepare
    argv = to_argv({k: v for k, v in full.runs[1].items() if k != "name"})
    assert argv == ["--epochs=40", "--model-option", "hidden=64,64", "--model-option", "dropout=0.1", "--model=gru"]
    assert to_argv(full.prepare, ("sources",)) == ["corpus:bach", "--transpose=-5..6"]


def test_bad_recipes_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[prepare]\nsources = ["corpus:bach"]\n[trian]\nepochs = 1\n')
    assert main(["run", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == "tunesmith: error: " + f"{bad}: unknown recipe section(s) trian"
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "recipe not found" in capsys.readouterr().err
