"""``tunesmith evaluate`` (one run against real music and the n-gram baseline) and ``tunesmith compare`` (runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import check_output_file
from tunesmith.cli.options import add_options, given
from tunesmith.evaluate.options import EvaluateConfig
from tunesmith.layout import RunDir


def _options(args: argparse.Namespace) -> EvaluateConfig:
    return EvaluateConfig(**given(args, EvaluateConfig), checkpoint=RunDir.LAST if args.last else RunDir.BEST)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate one run and print its table."""
    from tunesmith import api

    checkpoint = "last" if args.last else "best"
    evaluation = api.evaluate(args.run, checkpoint=checkpoint, progress=not args.quiet, **given(args, EvaluateConfig))
    print(evaluation)
    print(f"wrote {evaluation.path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare runs, evaluating those without eval.json first."""
    from tunesmith.evaluate import compare_runs, evaluate_run

    options = _options(args)  # checked before any run is read
    out = Path(args.output)
    for suffix in (".md", ".csv", ".png"):  # before any run is evaluated
        check_output_file(out.with_suffix(suffix), "-o")

    def evaluate(run: Path) -> None:
        print(f"evaluating {run} (no eval.json yet)")
        evaluate_run(run, options, progress=not args.quiet)

    paths = compare_runs(args.runs, Path(args.output), None if args.no_evaluate else evaluate)
    print(paths["md"].read_text().split("\n![")[0].rstrip())
    print(f"wrote {paths['md']}, {paths['csv']}, {paths['png']}")
    return 0


def _add_evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--last", action="store_true", help="use checkpoints/last.pt instead of best.pt")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_options(p, EvaluateConfig, title="evaluation")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``compare`` to the command line."""
    p = sub.add_parser(
        "evaluate",
        help="likelihood, musical metrics and memorisation of a run, beside an n-gram baseline",
        description="Score RUN_DIR's best checkpoint on a split of its data (NLL, perplexity, accuracy; NLL per "
        "time step for the poly piano roll) next to a Kneser-Ney n-gram model of the same tokens; generate samples "
        "and compare their musical metrics with real pieces; check them for copies of the training data. "
        "Writes RUN_DIR/eval.json (eval-SPLIT.json for --split train or valid).",
    )
    p.add_argument("run", metavar="RUN_DIR")
    _add_evaluate_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "compare",
        help="tables and overlaid curves of several runs",
        description="Write OUT.md, OUT.csv and OUT.png comparing the runs (model, parameters, epochs, validation "
        "loss, test NLL, accuracy, metric distances, memorisation). Runs without eval.json are evaluated first.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("-o", "--output", default="compare", metavar="OUT", help="path prefix (default ./compare)")
    p.add_argument("--no-evaluate", action="store_true", help="leave unevaluated runs' test columns blank")
    _add_evaluate_options(p)
    p.set_defaults(func=cmd_compare)
