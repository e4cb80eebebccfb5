"""``tunesmith compare``: several runs side by side, as a markdown and a CSV table and one plot of their curves."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.checkpoint import LAST, load_checkpoint
from tunesmith.errors import TunesmithError
from tunesmith.layout import RunDir
from tunesmith.models import build_model

COLUMNS = (
    ("run", "run"),
    ("model", "model"),
    ("parameters", "parameters"),
    ("epochs", "epochs"),
    ("best_valid_loss", "best valid loss"),
    ("test_nll", "NLL/token"),
    ("test_nll_per_step", "NLL/step"),
    ("test_accuracy", "accuracy"),
    ("ngram_nll", "n-gram NLL/token"),
    ("metric_overlap", "mean metric OA"),
    ("metric_kl", "mean metric KL"),
    ("max_copied_run", "longest copied run"),
    ("ngram_share", "8-gram share"),
    ("flagged", "copied samples"),
)


def _run_name(run_dir: Path, taken: set[str]) -> str:
    name = run_dir.name or str(run_dir)
    if name in taken:
        name = f"{run_dir.parent.name}/{run_dir.name}"
    taken.add(name)
    return name


def run_row(run_dir: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One table row and the run's history; figures from ``eval.json`` are blank when it has not been evaluated."""
    ckpt = load_checkpoint(run_dir, prefer=LAST)
    history = ckpt.history
    valid = [r["valid_loss"] for r in history if r.get("valid_loss") == r.get("valid_loss")]
    row: dict[str, Any] = {
        "run": name,
        "model": ckpt.config.get("model"),
        "parameters": build_model(ckpt.model).n_parameters,
        "epochs": len(history),
        "best_valid_loss": min(valid) if valid else math.nan,
    }
    report = RunDir(run_dir).read_eval()
    if report is not None:
        net = report["likelihood"]["network"]
        overlaps = [m["network"]["overlap"] for m in report["metrics"].values()]
        kls = [m["network"]["kl"] for m in report["metrics"].values()]
        memo = report["memorisation"]["network"]
        row.update(
            test_nll=net["nll"],
            test_nll_per_step=net.get("nll_per_step", math.nan),
            test_accuracy=net["accuracy"],
            ngram_nll=report["likelihood"]["ngram"]["nll"],
            metric_overlap=_nanmean(overlaps),
            metric_kl=_nanmean(kls),
            max_copied_run=memo["max_longest_run"],
            ngram_share=memo["mean_ngram_share"],
            flagged=len(memo["flagged"]),
        )
    return row, history


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return sum(kept) / len(kept) if kept else math.nan


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def plot_validation_curves(path: Path, histories: dict[str, list[dict[str, Any]]]) -> Path:
    """Validation (solid) and training (dashed) loss per epoch of every run, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, history) in enumerate(histories.items()):
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [r["valid_loss"] for r in history], color=color, label=f"{name} (valid)")
        ax.plot(
            epochs, [r["train_loss"] for r in history], color=color, linestyle="--", alpha=0.6, label=f"{name} (train)"
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per target)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare_runs(
    run_dirs: list[str | Path],
    out_prefix: str | Path,
    evaluate: Callable[[Path], Any] | None = None,
) -> dict[str, Path]:
    """Write ``OUT.md``, ``OUT.csv`` and ``OUT.png`` for the runs; ``evaluate`` is called on runs without eval.json."""
    if len(run_dirs) < 1:
        raise TunesmithError("compare needs at least one run directory")
    rows, histories, taken = [], {}, set()
    for run in map(Path, run_dirs):
        if not run.is_dir():
            raise TunesmithError(f"not a run directory: {run}")
        if evaluate is not None and RunDir(run).read_eval() is None:
            evaluate(run)
        name = _run_name(run, taken)
        row, history = run_row(run, name)
        rows.append(row)
        histories[name] = history
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {"md": out.with_suffix(".md"), "csv": out.with_suffix(".csv"), "png": out.with_suffix(".png")}
    with paths["csv"].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _ in COLUMNS])
        writer.writerows([[row.get(key, "") for key, _ in COLUMNS] for row in rows])
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" if key in ("run", "model") else "---:" for key, _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_cell(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    lines += ["", f"![validation curves]({paths['png'].name})", ""]
    paths["md"].write_text("\n".join(lines))
    plot_validation_curves(paths["png"], histories)
    return paths
