"""Recipes: a whole experiment (prepare, train, generate, evaluate, compare) in one TOML file.

A recipe's sections hold the options of the matching ``tunesmith`` subcommand, spelled as in TOML (``min_notes``
for ``--min-notes``)::

    name = "bollywood-attention"
    about = "one line"
    [prepare]   # sources = [...], encoding = "...", encoding_option = {grid = 0.25}, ...
    [train]     # model = "...", model_option = {hidden = [256, 256]}, epochs = 50, ...
    [[runs]]    # optional: several trainings, each {name = "...", <train options>}; compared
    [generate]  # num, length, temperature = [...], instruments, format, ...
    [evaluate]  # samples, sample_length, ...
    [smoke]     # overrides per section for ``--smoke``: prepare = {sample = 8}, train = {epochs = 1}, ...

The recipes of the seed systems ship inside the package (``tunesmith/recipes/``; the repository's top-level
``recipes`` is a link to that folder), so ``tunesmith run NAME`` finds one by name after ``pip install``;
``tunesmith run --list`` lists them with their ``about`` line.

A run may change the other steps too: ``prepare = {...}``, ``generate = {...}`` and ``evaluate = {...}`` in its
``[[runs]]`` entry are merged over the recipe's sections for that run alone (a run whose prepare differs gets its own
data folder, ``data-NAME``), and ``smoke = {...}`` replaces the recipe's ``[smoke] train`` overrides for it (a
transformer's smoke sizes are not an LSTM's). That is how a recipe keeps its seed-faithful run beside a ``best`` run
with another encoding or model.

A run may start from another recipe's model: ``init = "recipe:pretrain"`` (or ``"recipe:pretrain/RUN"``) in its
``[[runs]]`` entry fine-tunes the model that ``tunesmith run pretrain`` trains, found beside this recipe's output
(``runs/pretrain``); the other recipe is run first when it has no model there yet. Such a run has the model of its
checkpoint, so the recipe's ``model`` and ``model_option`` do not apply to it. Both recipes must prepare their data
with the same vocabulary (``encoding_option = {full_vocab = true}`` for ``event``).

Relative source paths are read from the current directory or, failing that, from the folder above the recipe's
(the repository root for the bundled recipes, whether named through the ``recipes`` link or by name), so
``../shared/data/bollywood`` works from either.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.config import load_toml
from tunesmith.errors import TunesmithError

SECTIONS = ("prepare", "train", "generate", "evaluate")
TOP_KEYS = {"name", "about", "runs", "smoke", *SECTIONS}
RUN_SECTIONS = ("prepare", "generate", "evaluate")  # a run's own overrides of the recipe's steps
DEFAULT_RUN = "model"
MODEL_KEYS = ("model", "model_option")  # the train options a fine-tuning run takes from its checkpoint instead
PACKAGED = Path(__file__).resolve().parent / "recipes"


@dataclass
class Recipe:
    """A loaded recipe: one options table per step and the trainings to run (at least one)."""

    name: str
    about: str
    prepare: dict[str, Any]
    runs: list[dict[str, Any]]  # each: {"name": ..., <train options>}
    generate: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    run_steps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # run -> section -> options

    def step(self, section: str, run: str) -> dict[str, Any]:
        """The options of ``section`` (prepare, generate or evaluate) for the run named ``run``."""
        return self.run_steps.get(run, {}).get(section, getattr(self, section))

    def own_data(self, run: str) -> bool:
        """Whether ``run`` prepares its own data (its prepare options differ from the recipe's)."""
        return self.step("prepare", run) != self.prepare


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def packaged_recipes() -> dict[str, Path]:
    """The recipes that ship with tunesmith, by name (the file name without ``.toml``)."""
    return {path.stem: path for path in sorted(PACKAGED.glob("*.toml"))}


def find_recipe(recipe: str | Path) -> Path:
    """``recipe`` itself when it is a file, else the packaged recipe of that name (``.toml`` optional)."""
    path = Path(recipe)
    if path.is_file():
        return path
    known = packaged_recipes()
    found = known.get(path.name.removesuffix(".toml")) if len(path.parts) == 1 else None
    if found is None:
        raise TunesmithError(f"recipe not found: {recipe} is not a file nor a packaged recipe ({', '.join(known)})")
    return found


def recipe_about(path: Path) -> str:
    """A recipe's one-line description: its ``about`` key."""
    return str(load_toml(path).get("about", ""))


def _source_bases(recipe_dir: Path) -> list[Path]:
    """Where a relative source is looked for after the current directory.

    The folder above the recipe's, and for a packaged recipe in a source checkout the checkout's root (the folder
    whose ``recipes`` links to the package's).
    """
    bases = [recipe_dir.parent]
    root = PACKAGED.parents[2]
    if recipe_dir.resolve() == PACKAGED and (root / "recipes").resolve() == PACKAGED:
        bases.append(root)
    return bases


def _resolve_source(source: str, recipe_dir: Path) -> str:
    if source.startswith("corpus:") or Path(source).is_absolute() or Path(source).exists():
        return source
    for base in _source_bases(recipe_dir):
        beside = (base / source).resolve()
        if beside.exists():
            return str(beside)
    return source


def load_recipe(recipe: str | Path, smoke: bool = False, sources: list[str] | None = None) -> Recipe:
    """Read a recipe, a file or the name of a packaged one.

    ``smoke`` applies its ``[smoke]`` overrides; ``sources`` replaces its data sources.
    """
    path = find_recipe(recipe)
    data = load_toml(path)
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise TunesmithError(f"{path}: unknown recipe section(s) {', '.join(sorted(unknown))}")
    if smoke:
        overrides = data.get("smoke", {})
        for key, value in overrides.items():
            if key not in (*SECTIONS, "runs"):
                raise TunesmithError(f"{path}: [smoke] overrides sections {', '.join(SECTIONS)}, not {key!r}")
            if key not in ("runs", "train"):  # train overrides go onto each run below, after its own settings
                data[key] = _merge(data.get(key, {}), value)
    prepare = _sources(dict(data.get("prepare", {})), sources, path)
    train = dict(data.get("train", {}))
    runs_spec = data.get("runs") or [{"name": DEFAULT_RUN}]
    runs, run_steps = [], {}
    smoke_sections = data.get("smoke", {}) if smoke else {}
    for spec in runs_spec:
        if "name" not in spec:
            raise TunesmithError(f"{path}: every [[runs]] entry needs a name")
        name = str(spec["name"])
        own = {key: spec[key] for key in RUN_SECTIONS if key in spec}
        for key, value in own.items():
            if not isinstance(value, dict):
                raise TunesmithError(f"{path}: run {name!r}: {key} must be a table, {key} = {{ ... }}")
        # A run that starts from a trained model (init) has its sizes: the recipe's and its smoke's are not the run's.
        dropped = MODEL_KEYS if "init" in spec else ()
        run = _merge(
            {k: v for k, v in train.items() if k not in dropped},
            {k: v for k, v in spec.items() if k not in ("name", "smoke", *RUN_SECTIONS)},
        )
        if smoke:
            smoke_train = spec.get("smoke", smoke_sections.get("train", {}))
            run = _merge(run, {k: v for k, v in smoke_train.items() if k not in dropped})
        runs.append({"name": name, **run})
        if own:
            sections = {key: _merge(data.get(key, {}), own.get(key, {})) for key in RUN_SECTIONS}
            for key in RUN_SECTIONS if smoke else ():  # the recipe's smoke sizes still win
                sections[key] = _merge(sections[key], smoke_sections.get(key, {}))
            sections["prepare"] = _sources(sections["prepare"], sources, path)
            run_steps[name] = sections
    if len({r["name"] for r in runs}) != len(runs):
        raise TunesmithError(f"{path}: run names must be different")
    return Recipe(
        name=str(data.get("name", path.stem)),
        about=str(data.get("about", "")),
        prepare=prepare,
        runs=runs,
        generate=dict(data.get("generate", {})),
        evaluate=dict(data.get("evaluate", {})),
        path=path,
        run_steps=run_steps,
    )


def _sources(prepare: dict[str, Any], sources: list[str] | None, path: Path) -> dict[str, Any]:
    """``prepare`` with its sources replaced by ``sources`` when given, each resolved beside the recipe."""
    prepare = dict(prepare)
    if sources:
        prepare["sources"] = list(sources)
    if not prepare.get("sources"):
        raise TunesmithError(f"{path}: [prepare] needs sources = [...]")
    prepare["sources"] = [_resolve_source(str(s), path.parent) for s in prepare["sources"]]
    return prepare


def to_argv(options: dict[str, Any], positional: tuple[str, ...] = ()) -> list[str]:
    """Options as command-line arguments.

    ``key = value`` -> ``--key=value``; ``true`` -> ``--key``; a table (``model_option``, ``encoding_option``) ->
    one ``--key k=v`` per entry; a list -> ``--key v1 v2``. Keys named in ``positional`` come first, as bare values.
    """
    argv: list[str] = []
    for key in positional:
        value = options.get(key)
        argv += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []
    for key, value in options.items():
        if key in positional or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, dict):
            for k, v in value.items():
                argv += [flag, f"{k}={_value_text(v)}"]
        elif isinstance(value, list):
            argv += [flag, *(str(v) for v in value)]
        else:
            argv.append(f"{flag}={value}")
    return argv


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(x) for x in value)
    return str(value).lower() if isinstance(value, bool) else str(value)
