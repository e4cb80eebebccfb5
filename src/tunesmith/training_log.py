"""What training writes as it goes: one log line per epoch, ``metrics.csv`` and ``curves.png``."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from tunesmith.layout import RunDir

COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "train_accuracy",
    "train_perplexity",
    "valid_loss",
    "valid_accuracy",
    "valid_perplexity",
    "lr",
    "seconds",
    "targets_per_second",
)


def format_row(row: dict[str, Any]) -> str:
    """One line per epoch for the log."""
    valid = (
        f"valid {row['valid_loss']:.4f} ({row['valid_accuracy']:.1%})"
        if row["valid_loss"] == row["valid_loss"]
        else "no valid"
    )
    return (
        f"epoch {row['epoch']}: train {row['train_loss']:.4f} ({row['train_accuracy']:.1%}), {valid}, "
        f"{row['targets_per_second']:.0f} targets/s"
    )


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.csv``: one row per epoch (rewritten whole, so a resumed run never repeats a row)."""
    path = RunDir(run_dir).metrics_file
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)


def plot_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Train and validation loss and accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for split, style in (("train", "-o"), ("valid", "-s")):
            values = [r[f"{split}_{metric}"] for r in history]
            if any(v == v for v in values):
                ax.plot(epochs, values, style, label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(path.parent.name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
