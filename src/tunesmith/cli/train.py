"""``tunesmith train``: a model from a prepared data directory into a run directory."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from tunesmith.cli.common import check_output_dir, coerce, given
from tunesmith.errors import TunesmithError

_TRAIN_OPTIONS = [
    "model",
    "init",
    "targets",
    "epochs",
    "batch_size",
    "seq_len",
    "steps_per_epoch",
    "valid_batches",
    "optimizer",
    "lr",
    "betas",
    "weight_decay",
    "momentum",
    "clip",
    "schedule",
    "warmup",
    "patience",
    "max_minutes",
    "checkpoint_every",
    "sample_every",
    "sample_length",
    "seed",
    "device",
    "threads",
]


def _betas(text: str) -> tuple[float, float]:
    try:
        b1, b2 = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers like 0.9,0.999, got {text!r}") from None
    return b1, b2


def _model_options(model: str, options: list[str]) -> dict[str, Any]:
    """``--model-option KEY=VALUE`` values typed after the model's config fields."""
    from tunesmith.models.registry import KINDS, get_preset

    preset = get_preset(model)
    config_cls, _ = KINDS[preset.kind]
    fields = {f.name: f for f in dataclasses.fields(config_cls) if f.name != "vocab_size"}
    out: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in fields:
            raise TunesmithError(f"bad --model-option {option!r}: KEY=VALUE with KEY one of {', '.join(fields)}")
        default = preset.model.get(key, fields[key].default)
        out[key] = coerce("--model-option", key, value, default)
    return out


def train_config(args: argparse.Namespace):
    """The run config: the TOML file if any, then the options given on the command line."""
    from tunesmith.config import TrainConfig, from_dict, load_toml

    data = load_toml(args.config) if args.config else {}
    data.update(given(args, _TRAIN_OPTIONS))
    if args.data_dir:
        data["data"] = args.data_dir
    if not data.get("data"):
        raise TunesmithError("train needs a DATA_DIR (made by `tunesmith prepare ... --encoding NAME`)")
    data["data"] = str(Path(data["data"]).resolve())
    options = dict(data.get("model_options", {}))
    options.update(_model_options(data.get("model", "lstm"), args.model_option))
    data["model_options"] = options
    if args.bf16:
        data["bf16"] = True
    return from_dict(TrainConfig, data)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model, or continue a run with --resume."""
    if args.list_models:
        from tunesmith.models import describe_models

        print(describe_models())
        return 0
    from tunesmith.sample import write_epoch_sample
    from tunesmith.train import Trainer

    hooks = {"progress": not args.quiet, "on_epoch_end": write_epoch_sample}  # called every cfg.sample_every epochs
    if args.resume:
        hooks["allow_data_change"] = args.allow_data_change
        trainer = Trainer(None, Path(args.resume), resume=True, epochs=args.epochs, **hooks)
    else:
        if not args.output:
            raise TunesmithError("train needs -o RUN_DIR (or --resume RUN_DIR)")
        check_output_dir(Path(args.output), "-o")
        trainer = Trainer(train_config(args), Path(args.output), **hooks)
    cfg, model = trainer.cfg, trainer.model
    if trainer.dist.main:
        print(
            f"model {cfg.model} ({model.n_parameters:,} parameters, vocabulary {len(trainer.tokenizer)}), "
            f"targets {cfg.targets}, window {cfg.seq_len}, batch {cfg.batch_size}, "
            f"{trainer.steps_per_epoch} batches/epoch, {cfg.optimizer} lr {cfg.lr:g}, device {trainer.device}"
        )
    try:
        last = trainer.fit()
    finally:
        trainer.close()
    if trainer.dist.main:
        run = trainer.run_dir
        print(f"wrote {run / 'checkpoints'}, {run / 'metrics.csv'}, {run / 'curves.png'}")
        if last:
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
    g.add_argument("--model", metavar="NAME", help="a preset from --list-models (default lstm)")
    g.add_argument(
        "--init",
        metavar="RUN_DIR|CHECKPOINT",
        help="fine-tune: start from this trained model (its best.pt for a run directory; the same vocabulary as "
        "DATA_DIR), with a fresh optimizer",
    )
    g.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting, e.g. hidden=256,256 or dropout=0.1 (repeatable)",
    )
    g.add_argument(
        "--targets",
        choices=["all", "last", "stream"],
        help="all: a target at every position; last: one per window (the seeds); stream: stateful streams",
    )
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, help="epochs (default 10; with --resume: the new total)")
    g.add_argument("--batch-size", type=int, metavar="B")
    g.add_argument("--seq-len", type=int, metavar="T", help="window length in tokens")
    g.add_argument("--steps-per-epoch", type=int, metavar="N", help="at most N batches per epoch")
    g.add_argument("--valid-batches", type=int, metavar="N", help="validation batches per epoch (default 50)")
    g.add_argument("--optimizer", choices=["adam", "adamw", "adamax", "rmsprop", "sgd"])
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--betas", type=_betas, metavar="B1,B2", help="Adam-family betas, e.g. 0.3,0.999")
    g.add_argument("--weight-decay", type=float, metavar="W")
    g.add_argument("--momentum", type=float, help="SGD / RMSprop momentum")
    g.add_argument("--clip", type=float, metavar="NORM", help="gradient norm clipping (default 1; 0: off)")
    g.add_argument("--schedule", choices=["none", "cosine", "plateau", "step"], help="learning-rate schedule")
    g.add_argument("--warmup", type=int, metavar="STEPS", help="linear warm-up steps")
    g.add_argument("--patience", type=int, metavar="E", help="early stopping after E epochs without improvement")
    g.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="safety cap: stop after the epoch that reaches M minutes, and say the run was cut short",
    )
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="mid-epoch checkpoints (default 100)")
    g.add_argument("--sample-every", type=int, metavar="E", help="write RUN_DIR/samples/epoch-N.mid every E epochs")
    g.add_argument("--sample-length", type=int, metavar="TOKENS", help="length of those samples (default 256)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="default auto")
    g.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads (default: the cores of this process's CPU affinity, whatever the load)",
    )
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on recent CPUs and GPUs)")
    p.set_defaults(func=cmd_train)
