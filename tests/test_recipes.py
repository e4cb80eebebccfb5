"""Recipes: every bundled recipe runs end to end in --smoke mode; recipe files are read and checked."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from tunesmith.cli import main
from tunesmith.errors import TunesmithError
from tunesmith.layout import RecipeDir, RunDir
from tunesmith.recipe import PACKAGED, load_recipe, packaged_recipes, to_argv
from tunesmith.threads import allowed_cores, choose_threads

ROOT = Path(__file__).resolve().parents[1]
RECIPES = list(packaged_recipes().values())
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


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory) -> Path:
    """One folder for every recipe's smoke run, as ``runs/`` is: a recipe that fine-tunes another's model finds it."""
    return tmp_path_factory.mktemp("runs")


@pytest.mark.slow
@pytest.mark.xdist_group("smoke-runs")  # one worker runs them all: they share ``smoke_root`` (pretrain-smoke once)
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_end_to_end_in_smoke_mode(recipe, smoke_root, tmp_path, monkeypatch):
    loaded = load_recipe(recipe, smoke=True)
    if any("shared/data" in s for s in loaded.prepare["sources"]) and not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    out = smoke_root / f"{recipe.stem}-smoke"  # bollywood-multitrack's finetune trains pretrain-smoke, or finds it
    monkeypatch.chdir(tmp_path)  # by name, from elsewhere: the packaged recipe and its relative sources are found
    fresh = not out.exists()
    assert main(["run", recipe.stem, "--smoke", "-o", str(out)]) == 0
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
        bollywood = any("bollywood" in s for s in loaded.prepare["sources"])
        if bollywood and loaded.prepare.get("drums") == "keep":  # the songs' drums reach the model and the metrics
            assert "Program_-1" in json.loads((out / "data" / "tokenizer.json").read_text())["vocab"]
            assert report["metrics"]["drum_pattern_consistency"]["real"]["pieces"] > 0
        training = summary["runs"][name]["training"]  # the whole step budget, never cut by the safety cap
        assert training["steps"] == training["steps_planned"] > 0 and not training["cut_short"]
    if len(loaded.runs) > 1:
        assert (out / "compare.md").is_file() and (out / "compare.png").is_file()
    commands = (out / "commands.txt").read_text()
    assert commands.startswith("tunesmith prepare " if fresh else "tunesmith ") and " -q" in commands  # no bars


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


def test_a_run_may_prepare_generate_and_smoke_its_own_way(tmp_path):
    """A ``best`` run beside the faithful one: its own prepare (its own data folder), generate and smoke sizes."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\n[prepare]\nsources = ["corpus:bach"]\nencoding = "notechord"\n'
        '[train]\nepochs = 40\nmodel = "lstm"\n[generate]\nnum = 2\ninstruments = "piano"\n'
        '[[runs]]\nname = "seed"\n'
        '[[runs]]\nname = "best"\nmodel = "transformer"\nprepare = { encoding = "event" }\n'
        'generate = { instruments = "model" }\nsmoke = { epochs = 2, model_option = { d_model = 16 } }\n'
        "[smoke]\ntrain = { epochs = 1, model_option = { hidden = [8] } }\nprepare = { sample = 3 }\n"
    )
    full, smoke = load_recipe(recipe), load_recipe(recipe, smoke=True)
    assert not full.own_data("seed") and full.own_data("best")
    assert full.step("prepare", "seed") == full.prepare
    assert full.step("prepare", "best") == {"sources": ["corpus:bach"], "encoding": "event"}
    assert full.step("generate", "best") == {"num": 2, "instruments": "model"} and full.step("evaluate", "best") == {}
    assert smoke.step("prepare", "best")["sample"] == 3  # the recipe's smoke sizes win over the run's options
    assert [r.get("model_option") for r in smoke.runs] == [{"hidden": [8]}, {"d_model": 16}]
    assert [r["epochs"] for r in smoke.runs] == [1, 2] and [r["epochs"] for r in full.runs] == [40, 40]
    recipe.write_text(recipe.read_text().replace('prepare = { encoding = "event" }', 'prepare = "event"'))
    with pytest.raises(TunesmithError, match="run 'best': prepare must be a table"):
        load_recipe(recipe)


def test_only_runs_the_named_runs_each_on_its_own_data(tmp_path, capsys):
    """``--only best`` trains the best run alone, on the data its own prepare options made (``data-best``)."""
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\n[prepare]\nsources = ["corpus:bach"]\nsample = 3\nencoding = "notechord"\n'
        '[train]\nepochs = 1\nsteps_per_epoch = 2\nvalid_batches = 1\nseq_len = 16\nmodel = "lstm"\n'
        'model_option = { hidden = [16], embed_dim = 8 }\n[generate]\nnum = 1\nlength = "24"\n'
        "[evaluate]\nsamples = 2\nmax_pieces = 1\nsample_length = 24\n"
        '[[runs]]\nname = "seed"\n[[runs]]\nname = "best"\nprepare = { encoding = "event" }\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(recipe), "-o", str(out), "--only", "seed,nope"]) == 2
    assert capsys.readouterr().err.strip().endswith("--only seed,nope: the recipe's runs are seed, best")
    assert main(["run", str(recipe), "-o", str(out), "--only", "best", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["best", "data-best"]
    assert json.loads((out / "data-best" / "tokenizer.json").read_text())["encoding"] == "event"
    assert list(json.loads((out / "summary.json").read_text())["runs"]) == ["best"]
    assert json.loads((out / "best" / "eval.json").read_text())["likelihood"]["network"]["targets"] > 0


def test_bad_recipes_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[prepare]\nsources = ["corpus:bach"]\n[trian]\nepochs = 1\n')
    assert main(["run", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == "tunesmith: error: " + f"{bad}: unknown recipe section(s) trian"
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "recipe not found" in capsys.readouterr().err


def test_the_recipes_folder_is_the_packaged_one_and_every_recipe_says_what_it_is():
    assert (ROOT / "recipes").resolve() == PACKAGED  # the old paths (docs, Makefile, benchmarks) still work
    assert sorted(p.name for p in (ROOT / "recipes").glob("*.toml")) == sorted(p.name for p in RECIPES)
    for recipe in RECIPES:
        assert load_recipe(recipe.stem).about == load_recipe(ROOT / "recipes" / recipe.name).about != ""


def test_run_list_prints_each_packaged_recipe_with_its_about_line(capsys):
    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [p.stem for p in RECIPES]
    for line, recipe in zip(lines, RECIPES):
        assert line.split(None, 1)[1] == load_recipe(recipe).about


def test_an_unknown_recipe_name_is_one_line_naming_the_known_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "bollywood-atention", "--smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bollywood-atention" in err
    assert all(p.stem in err for p in RECIPES)
    assert main(["run"]) == 2 and "--list" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written for a recipe that was not found
    assert load_recipe("folk-charrnn.toml").name == "folk-charrnn"  # a name with its suffix is a name too


@pytest.mark.slow
def test_a_built_wheel_carries_the_recipes(tmp_path):
    """``pip install`` gets the recipes: the wheel built from the sources holds every one of them."""
    import shutil
    import zipfile

    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."]
    subprocess.run(pip, cwd=tmp_path, check=True, capture_output=True)
    (wheel,) = wheels.glob("tunesmith-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n for n in names if n.startswith("tunesmith/recipes/")) == [
        f"tunesmith/recipes/{p.name}" for p in RECIPES
    ]


LOSS_COLUMNS = ("epoch", "step", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy", "lr")


def _loss_columns(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as fh:
        return [{k: row[k] for k in LOSS_COLUMNS} for row in csv.DictReader(fh)]


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the last checkpoint: weights, optimizer moments, RNG state."""
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    flat = {f"weights.{k}": v for k, v in ckpt["weights"].items()}
    for key, state in ckpt["optimizer"]["state"].items():
        flat.update({f"optimizer.{key}.{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)})
    flat["rng"] = ckpt["rng"]["torch"]
    return flat


@pytest.mark.slow
def test_a_recipe_gives_the_same_model_beside_a_competing_process(tmp_path):
    """The step budget, not the machine's load, decides the model: the smoke multitrack recipe's training twice,
    the second time with a CPU-bound process on one of the cores, gives the same losses and the same tensors."""
    recipe = load_recipe(ROOT / "recipes" / "bollywood-multitrack.toml", smoke=True)
    if not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    data = tmp_path / "data"
    assert main(["prepare", *to_argv(recipe.prepare, ("sources",)), "-o", str(data), "-q"]) == 0
    options = {k: v for k, v in recipe.runs[0].items() if k != "name"}
    # no --threads: the default count is the affinity's cores, whatever the load
    train = lambda run: main(["train", str(data), "-o", str(run), "-q", *to_argv(options)])  # noqa: E731
    assert train(tmp_path / "idle") == 0
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert train(tmp_path / "busy") == 0
        assert busy.poll() is None, "the competing process was running all along"
    finally:
        busy.kill()
        busy.wait()
    idle, loaded = (json.loads((tmp_path / r / "train.json").read_text()) for r in ("idle", "busy"))
    assert idle["steps"] == loaded["steps"] == idle["steps_planned"] and not loaded["cut_short"]
    assert _loss_columns(tmp_path / "idle") == _loss_columns(tmp_path / "busy")
    a, b = _tensors(tmp_path / "idle"), _tensors(tmp_path / "busy")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_threads_are_never_more_than_the_cores_and_at_least_one():
    cores = len(allowed_cores())
    assert choose_threads(cores + 3)[0] == cores and "lowered" in choose_threads(cores + 3)[1]
    assert choose_threads(1) == (1, "--threads 1")
    assert choose_threads(0)[0] == cores  # the machine's cores, not its load: the same numbers on a busy machine
    assert choose_threads(0, processes=cores)[0] == 1  # torchrun's processes share them


def _make_page():
    """``docs/make_page.py`` as a module (the docs folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_page", ROOT / "docs" / "make_page.py")
    page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page)
    return page


def test_docs_pages_state_the_step_budget_and_any_cut_by_the_safety_cap():
    page = _make_page()
    full = {"steps": 540, "steps_planned": 540, "epochs": 9, "epochs_planned": 9, "steps_per_epoch": 60}
    full.update(minutes=6.4, threads=2, max_minutes=20.0, cut_short=False)
    cut = {**full, "steps": 60, "epochs": 1, "minutes": 20.3, "threads": 1, "cut_short": True}
    text = "\n".join(page.budget_lines({"model": full}))
    assert "| model | 540 of 540 | 9 of 9 | 60 | 6.40 | 2 | 20 min | no |" in text
    assert "No run was cut short" in text
    text = "\n".join(page.budget_lines({"a": full, "b": cut}))
    assert "| b | 60 of 540 | 1 of 9 | 60 | 20.30 | 1 | 20 min | **yes** |" in text
    assert "**Cut short by the safety cap: b (60 of 540 steps).**" in text and "No run was cut" not in text


def test_docs_pages_show_the_run_folder_a_reader_gets_not_the_one_the_run_was_made_in(tmp_path, monkeypatch):
    """A page made from a run in any folder names it ``runs/NAME``, and a recipe output beside it ``runs/OTHER``."""
    page = _make_page()
    scratch = tmp_path / "scratch"
    run, pre = scratch / "bmt", RecipeDir(scratch / "pretrain")
    pre.path.mkdir(parents=True)
    pre.write_summary({})  # a recipe's output: what an init = "recipe:pretrain" ran first, beside the run
    (scratch / "other").mkdir()  # a folder beside it that no recipe wrote
    text = (
        f"`tunesmith train {run}/data -o {run}/finetune -q --init={scratch}/pretrain/model`\n"
        f"{run}/finetune: transformer, 1,908,864 parameters\n"
        f"{scratch}/other/x and {run}-2/model stay; {run}"
    )
    shown = page.shown_paths(text, run, Path("runs/bmt"))
    assert shown == (
        "`tunesmith train runs/bmt/data -o runs/bmt/finetune -q --init=runs/pretrain/model`\n"
        "runs/bmt/finetune: transformer, 1,908,864 parameters\n"
        f"{scratch}/other/x and {run}-2/model stay; runs/bmt"
    )
    monkeypatch.chdir(scratch)  # the run given relative, as `tunesmith run -o bmt` writes it: paths inside it only
    given = "tunesmith train bmt/data -o bmt/model: a bmt model"
    assert (
        page.shown_paths(given, Path("bmt"), Path("runs/bmt"))
        == "tunesmith train runs/bmt/data -o runs/bmt/model: a bmt model"
    )


def test_the_docs_name_no_folder_outside_the_checkout_by_its_absolute_path():
    """What a reader has is the checkout (and ``../shared`` beside it, by that name): no page names this machine's."""
    if ROOT.parent == Path(tempfile.gettempdir()).resolve():
        pytest.skip("a checkout in the temporary folder: the benchmarks' records name their /tmp folders")
    outside = str(ROOT.parent) + "/"
    files = [ROOT / "README.md", ROOT / "BENCHMARKS.md", ROOT / "corpora" / "pretrain" / "report.json"]
    files += [*(ROOT / "docs").glob("*.md"), *(ROOT / "recipes").glob("*.toml"), *(ROOT / "benchmarks").rglob("*.json")]
    named = [f.relative_to(ROOT).as_posix() for f in files if f.is_file() and outside in f.read_text()]
    assert not named, f"{outside} named in {named}"


def test_a_run_fine_tunes_another_recipes_model_trained_first_on_a_shared_vocabulary(tmp_path, song_dir, capsys):
    """``init = "recipe:pre"`` trains recipe ``pre`` first (beside this recipe's output), then starts from its model.

    The two recipes prepare different corpora (Bach chorales; General MIDI songs with drums) as events with every
    MidiTok token in the vocabulary, so their vocabularies are the same and the fine-tuning run is accepted; the
    recipe's own model sizes apply to the run trained from scratch, not to the fine-tuned one. A recipe or run that
    does not exist is one line, before anything is prepared.
    """
    tail = (
        'encoding = "event"\nencoding_option = { full_vocab = true, use_tempos = false, num_velocities = 8 }\n'
        'instruments = "merge"\ndrums = "keep"\n[train]\nepochs = 1\nsteps_per_epoch = 1\nvalid_batches = 1\n'
        'seq_len = 16\nmodel = "transformer"\n'
        "model_option = { d_model = 16, layers = 1, heads = 2, d_ff = 32, context = 32 }\n"
        '[generate]\nnum = 1\nlength = "24"\n[evaluate]\nsamples = 2\nmax_pieces = 1\nsample_length = 24\n'
    )
    (tmp_path / "pre.toml").write_text(f'name = "pre"\n[prepare]\nsources = ["corpus:bach"]\nsample = 3\n{tail}')
    down = tmp_path / "down.toml"
    runs = tmp_path / "runs"
    for init in ("recipe:nope", "recipe:pre/nope"):
        head = f'name = "down"\n[prepare]\nsources = ["{song_dir}"]\n{tail}'
        down.write_text(f'{head}[[runs]]\nname = "t"\ninit = "{init}"\n')
        assert main(["run", str(down), "-o", str(runs / "down"), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "nope" in err
        assert not (runs / "down" / "data").exists()
    down.write_text(
        f'name = "down"\n[prepare]\nsources = ["{song_dir}"]\n{tail}'.replace("d_model = 16", "d_model = 24")
        + '[[runs]]\nname = "scratch"\n[[runs]]\nname = "finetune"\ninit = "recipe:pre"\n'
    )
    assert main(["run", str(down), "-o", str(runs / "down"), "-q"]) == 0
    vocab = [json.loads((runs / r / "data" / "tokenizer.json").read_text())["vocab"] for r in ("pre", "down")]
    assert vocab[0] == vocab[1] and len(vocab[0]) > 500
    pre, tuned, scratch = (
        torch.load(RunDir(runs / p).checkpoint("best"), weights_only=False)
        for p in ("pre/model", "down/finetune", "down/scratch")
    )
    assert tuned["model"] == pre["model"] and json.loads(scratch["model"])["config"]["d_model"] == 24
    started = json.loads((runs / "down" / "finetune" / "train.json").read_text())["init"]["from"]
    assert started.startswith(str(runs / "pre"))
    steps = [s["step"] for s in json.loads((runs / "down" / "summary.json").read_text())["steps"]]
    assert steps.index("recipe pre") < steps.index("train finetune")
