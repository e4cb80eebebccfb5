"""Evaluation: likelihood against an n-gram baseline, musical metrics, memorisation, and comparisons of runs.

The names below are imported on first use: ``tunesmith.evaluate.options`` (what the command line is built from)
must not pull in torch through ``compare`` and ``report``.
"""

from tunesmith.lazy import lazy_names

_WHERE = {
    "EvaluateConfig": "tunesmith.evaluate.options",
    "KneserNey": "tunesmith.evaluate.ngram",
    "compare_runs": "tunesmith.evaluate.compare",
    "evaluate_run": "tunesmith.evaluate.report",
    "format_report": "tunesmith.evaluate.report",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
