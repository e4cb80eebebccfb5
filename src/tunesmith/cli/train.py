"""``tunesmith train``: a model from a prepared data directory into a run directory."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from tunesmith.cli.common import check_output_dir, key_values
from tunesmith.cli.options import add_options, given
from tunesmith.config import TrainConfig
from tunesmith.errors import TunesmithError


def _model_options(model: str, options: list[str]) -> dict[str, Any]:
    """``--model-option KEY=VALUE`` values typed after the preset's settings (the registry checks the keys)."""
    from tunesmith.models.registry import model_defaults

    return key_values("--model-option", options, model_defaults(model))


def train_config(args: argparse.Namespace):
    """The run config: the TOML file if any, then the options given on the command line."""
    from tunesmith.config import from_dict, load_toml

    data = load_toml(args.config) if args.config else {}
    data.update(given(args, TrainConfig))
    if args.data_dir:
        data["data"] = args.data_dir
    if not data.get("data"):
        raise TunesmithError("train needs a DATA_DIR (made by `tunesmith prepare ... --encoding NAME`)")
    data["data"] = str(Path(data["data"]).resolve())
    options = dict(data.get("model_options", {}))
    options.update(_model_options(data.get("model", "lstm"), args.model_option))
    data["model_options"] = options
    return from_dict(TrainConfig, data)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model, or continue a run with --resume."""
    if args.list_models:
        from tunesmith.models.presets import describe_models

        print(describe_models())
        return 0
    from tunesmith import api

    def announce(trainer) -> None:
        cfg, model = trainer.cfg, trainer.model
        if trainer.dist.main:
            print(
                f"model {cfg.model} ({model.n_parameters:,} parameters, vocabulary {len(trainer.tokenizer)}), "
                f"targets {cfg.targets}, window {cfg.seq_len}, batch {cfg.batch_size}, "
                f"{trainer.steps_per_epoch} batches/epoch, {cfg.optimizer} lr {cfg.lr:g}, device {trainer.device}"
            )

    hooks = {"progress": not args.quiet, "log": print, "on_start": announce}
    if args.resume:
        run_dir = Path(args.resume)
        run = api.resume(run_dir, epochs=args.epochs, allow_data_change=args.allow_data_change, **hooks)
    else:
        if not args.output:
            raise TunesmithError("train needs -o RUN_DIR (or --resume RUN_DIR)")
        run_dir = Path(args.output)
        check_output_dir(run_dir, "-o")
        cfg = train_config(args)
        options = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("data", "model")}
        run = api.train(cfg.data, run_dir, model=cfg.model, **options, **hooks)
    if run is not None:  # the main process of a torchrun job
        layout = run.path
        print(f"wrote {layout.checkpoints}, {layout.metrics_file}, {layout.curves_file}")
        if run.metrics:
            last = run.metrics[-1]
            print(f"final: train loss {last['train_loss']:.4f}, valid loss {last['valid_loss']:.4f}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the command line."""
    p = sub.add_parser(
        "train",
        help="train a model on a prepared data directory",
        description="Train MODEL on DATA_DIR (from `prepare --encoding`) into RUN_DIR: checkpoints/last.pt and "
        "best.pt (weights, optimizer, RNG, config and tokenizer), metrics.csv and curves.png. Under "
        "`torchrun --nproc_per_node N` the same command trains data-parallel.",
    )
    p.add_argument("data_dir", nargs="?", metavar="DATA_DIR")
    p.add_argument("-o", "--output", metavar="RUN_DIR", help="where the run is written")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument(
        "--allow-data-change",
        action="store_true",
        help="with --resume: continue although the data directory changed since the checkpoint (same vocabulary)",
    )
    p.add_argument("--config", metavar="FILE.toml", help="settings file; options given here override it")
    p.add_argument("--list-models", action="store_true", help="list the model presets")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("model")
    g.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting, e.g. hidden=256,256 or dropout=0.1 (repeatable)",
    )
    add_options(p, TrainConfig, title="training")
    p.set_defaults(func=cmd_train)
