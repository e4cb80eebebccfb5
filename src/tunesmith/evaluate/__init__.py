"""Evaluation: likelihood against an n-gram baseline, musical metrics, memorisation, and comparisons of runs.

The names below are imported on first use: ``tunesmith.evaluate.options`` (what the command line is built from)
must not pull in torch through ``compare`` and ``report``.
"""

from importlib import import_module

_WHERE = {
    "EvaluateConfig": "tunesmith.evaluate.options",
    "KneserNey": "tunesmith.evaluate.ngram",
    "compare_runs": "tunesmith.evaluate.compare",
    "evaluate_run": "tunesmith.evaluate.report",
    "format_report": "tunesmith.evaluate.report",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """``name`` from the module that defines it, imported when first asked for."""
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tunesmith.evaluate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
