"""``tunesmith run RECIPE``: prepare, train, generate, evaluate (and compare) from one recipe file.

Each step is the matching subcommand called with the recipe's options, so a recipe can do nothing that the
commands cannot, and ``RUN_DIR/commands.txt`` lists the equivalent commands. Running a recipe again into the same
directory continues it: the prepared data is reused and an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.layout import RecipeDir, RunDir, SamplesDir

RECIPE_INIT = "recipe:"  # a run's init = "recipe:NAME[/RUN]": fine-tune the model of another recipe's run


class Steps:
    """Runs subcommands, records them and how long each took."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.log: list[dict[str, Any]] = []

    def __call__(self, label: str, argv: list[str], required: bool = True) -> None:
        from tunesmith.cli import main

        print(f"\n== {label}: tunesmith {shlex.join(argv)}", flush=True)
        start = time.perf_counter()
        try:
            code = main(argv)
        except SystemExit as exc:  # an option the subcommand does not know: argparse said so in one line
            code = exc.code if isinstance(exc.code, int) else 2
        minutes = (time.perf_counter() - start) / 60
        self.log.append({"step": label, "command": "tunesmith " + shlex.join(argv), "minutes": round(minutes, 2)})
        RecipeDir(self.out).commands_file.write_text("\n".join(s["command"] for s in self.log) + "\n")
        self.log[-1]["exit_code"] = code
        if code and not required:
            print(f"note: step {label!r} failed (exit code {code}); going on")
        elif code:
            raise TunesmithError(f"step {label!r} failed (exit code {code}); fix it and run the recipe again")


def _decode_share(samples: SamplesDir) -> dict[str, int] | None:
    summary = samples.read_summary()
    if summary is None:
        return None
    files = summary["files"]
    decoded = [f for f in files if "error" not in f]
    return {
        "as_written": sum(not f.get("repaired") for f in decoded),  # ABC: parsed without repair
        "decoded": len(decoded),
        "generated": len(files),
    }


def _training(run_dir: Path) -> dict[str, Any] | None:
    """What ``train`` wrote to ``train.json``: steps and epochs against the budget, minutes, a cut by the cap."""
    return RunDir(run_dir).read_training()


def _only(runs: list[dict[str, Any]], names: str) -> list[dict[str, Any]]:
    """The runs named in ``names`` (comma-separated), in the recipe's order; an unknown name is a one-line error."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = [r["name"] for r in runs]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise TunesmithError(f"--only {names}: the recipe's runs are {', '.join(known)}")
    return [r for r in runs if r["name"] in wanted]


@dataclass(frozen=True)
class _InitRecipe:
    """A run's ``init = "recipe:NAME[/RUN]"``, resolved before any step runs: the recipe file, its output, the run."""

    label: str
    path: Path
    out: Path
    run: str

    def model(self, steps: Steps, smoke: bool, passed: list[str]) -> str:
        """The run directory of the model to start from; recipe NAME is run first until its training is complete."""
        model = RunDir(self.out / self.run)
        done = model.read_training() if model.checkpoint("best").is_file() else None
        if not done or not (done["steps"] >= done["steps_planned"] or done["cut_short"] or done["stopped_early"]):
            # never trained, or interrupted: running the recipe again trains it, or resumes it to its whole budget
            print(f"recipe {self.label} has no trained {self.run} in {self.out}: running it first", file=sys.stderr)
            argv = ["run", str(self.path), "-o", str(self.out), "--only", self.run, *passed]
            steps(f"recipe {self.label}", [*argv, *(["--smoke"] if smoke else [])])
        return str(model.path)


def _init_recipe(init: str, recipe: Path | None, out: Path, smoke: bool) -> _InitRecipe:
    """Resolve ``recipe:NAME[/RUN]``; a one-line error for an unknown recipe or run.

    NAME is a recipe file ``NAME.toml`` beside this recipe's, or a packaged recipe; RUN defaults to its first run; its
    output sits beside this recipe's (``runs/NAME``, ``runs/NAME-smoke``).
    """
    from tunesmith.recipe import find_recipe, load_recipe

    name, _, run = init[len(RECIPE_INIT) :].partition("/")
    if not name:
        raise TunesmithError(f"init {init!r}: name a recipe, e.g. recipe:pretrain or recipe:pretrain/model")
    beside = recipe.parent / f"{name}.toml" if recipe is not None else None
    path = beside if beside is not None and beside.is_file() else find_recipe(name)
    other = load_recipe(path)
    names = [r["name"] for r in other.runs]
    if run and run not in names:
        raise TunesmithError(f"init {init!r}: recipe {name} has no run {run!r} (its runs: {', '.join(names)})")
    return _InitRecipe(name, path, out.parent / (other.name + ("-smoke" if smoke else "")), run or names[0])


def cmd_run(args: argparse.Namespace) -> int:
    """Run every step of a recipe."""
    from tunesmith.recipe import load_recipe, to_argv

    if args.list:
        print(describe_recipes())
        return 0
    from tunesmith.evaluate import format_report  # torch: not for --list

    if args.recipe is None:
        raise TunesmithError("name a recipe (a TOML file or a packaged recipe: see tunesmith run --list)")
    recipe = load_recipe(args.recipe, smoke=args.smoke, sources=args.source)
    if args.only:
        recipe.runs = _only(recipe.runs, args.only)
    out = Path(args.output or Path("runs") / (recipe.name + ("-smoke" if args.smoke else "")))
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(out)
    q = ["-q"] if args.quiet or not sys.stderr.isatty() else []  # progress bars on a terminal, unless asked not to
    layout = RecipeDir(out)
    inits = {  # checked before any step: a wrong name must not wait for an hour of training to be said
        spec["name"]: _init_recipe(spec["init"], recipe.path, out, args.smoke)
        for spec in recipe.runs
        if str(spec.get("init", "")).startswith(RECIPE_INIT)
    }
    runs = []
    for spec in recipe.runs:
        name = spec["name"]
        data = layout.run_data(name) if recipe.own_data(name) else layout.data
        if not data.has_tokens():
            label = f"prepare {name}" if recipe.own_data(name) else "prepare"
            steps(label, ["prepare", *to_argv(recipe.step("prepare", name), ("sources",)), "-o", str(data.path), *q])
        run_dir = layout.run(name).path
        options = {k: v for k, v in spec.items() if k != "name"}
        if args.threads is not None:
            options["threads"] = args.threads
        if name in inits:
            passed = [*q, *(["--threads", str(args.threads)] if args.threads is not None else [])]
            options["init"] = inits[name].model(steps, args.smoke, passed)
        if RunDir(run_dir).checkpoint("last").is_file():
            steps(f"train {name}", ["train", "--resume", str(run_dir), *q])
        else:
            steps(f"train {name}", ["train", str(data.path), "-o", str(run_dir), *q, *to_argv(options)])
        samples = RunDir(run_dir).samples.path
        # A model whose samples do not decode (an undertrained char-RNN) still gets evaluated: that is a finding.
        options = to_argv(recipe.step("generate", name))
        steps(f"generate {name}", ["generate", str(run_dir), "-o", str(samples), "--overwrite", *q, *options], False)
        steps(f"evaluate {name}", ["evaluate", str(run_dir), *q, *to_argv(recipe.step("evaluate", name))])
        runs.append(run_dir)
    if len(runs) > 1:
        steps("compare", ["compare", *map(str, runs), "-o", str(layout.compare_stem), "--no-evaluate", *q])
    summary = {
        "recipe": recipe.name,
        "about": recipe.about,
        "smoke": args.smoke,
        "steps": steps.log,
        "minutes": round(sum(s["minutes"] for s in steps.log), 2),
        "runs": {},
    }
    for run_dir in runs:
        report = RunDir(run_dir).read_eval()
        summary["runs"][run_dir.name] = {
            "likelihood": report["likelihood"],
            "decoded_samples": _decode_share(RunDir(run_dir).samples),
            "training": _training(run_dir),
            "table": format_report(report),
        }
    layout.write_summary(summary)
    print(f"\nrecipe {recipe.name} done in {summary['minutes']:.1f} minutes: {out}")
    for name, run in summary["runs"].items():
        shares = run["decoded_samples"]
        decoded = ""
        if shares:
            decoded = f", {shares['as_written']} of {shares['generated']} samples decode as written"
            if shares["decoded"] > shares["as_written"]:
                decoded += f" ({shares['decoded']} after repair)"
        net, base = run["likelihood"]["network"], run["likelihood"]["ngram"]
        print(f"  {name}: test NLL {net['nll']:.4f} nats/token (n-gram {base['nll']:.4f}){decoded}")
        training = run["training"]
        if training and training["cut_short"]:
            print(
                f"  warning: {name} was cut short by the --max-minutes {training['max_minutes']:g} safety cap after "
                f"{training['steps']} of {training['steps_planned']} steps: its figures are not the recipe's"
            )
    return 0


def describe_recipes() -> str:
    """The packaged recipes for ``run --list``: one line each, the name and the recipe's ``about`` line."""
    from tunesmith.recipe import packaged_recipes, recipe_about

    recipes = packaged_recipes()
    width = max(map(len, recipes))
    return "\n".join(f"{name:<{width}}  {recipe_about(path)}" for name, path in recipes.items())


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` to the command line."""
    p = sub.add_parser(
        "run",
        help="run a recipe: prepare, train, generate, evaluate (and compare) from one TOML file",
        description="Run every step of RECIPE (a TOML file, or the name of a packaged recipe: see --list) into "
        "RUN_DIR (default runs/NAME): data/, one folder per trained "
        "model (checkpoints, curves, samples/, eval.json), compare.* when the recipe trains several models, "
        "commands.txt and summary.json. Running it again continues where it stopped.",
    )
    p.add_argument("recipe", metavar="RECIPE", nargs="?", help="a recipe file, or a packaged recipe's name")
    p.add_argument("--list", action="store_true", help="list the packaged recipes")
    p.add_argument("-o", "--output", metavar="RUN_DIR", help="where to write (default runs/NAME)")
    p.add_argument("--smoke", action="store_true", help="tiny data and epochs: the whole recipe in under 2 minutes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (also when not on a terminal)")
    p.add_argument("--source", action="append", metavar="PATH", help="train on these files/folders instead")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads for every training (default: the cores)")
    p.add_argument("--only", metavar="RUN[,RUN]", help="only these of the recipe's runs (e.g. --only best)")
    p.set_defaults(func=cmd_run)
