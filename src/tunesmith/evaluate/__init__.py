"""Evaluation: likelihood against an n-gram baseline, musical metrics, memorisation, and comparisons of runs."""

from tunesmith.evaluate.compare import compare_runs
from tunesmith.evaluate.ngram import KneserNey
from tunesmith.evaluate.report import EvaluateConfig, evaluate_run, format_report

__all__ = ["EvaluateConfig", "KneserNey", "compare_runs", "evaluate_run", "format_report"]
