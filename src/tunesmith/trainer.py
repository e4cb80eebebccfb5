"""The trainer: one loop for every model, with validation, early stopping, metrics, checkpoints and exact resume.

It knows nothing about a particular network. A batch is (B, T) inputs and (B, T) targets; the model returns
(B, T', V) logits for the last T' targets. ``targets="last"`` keeps one target per window (the seeds' training),
``"stream"`` carries the model's state across contiguous batches (the char-RNN seed's stateful training).

Exact resume: the batches of epoch ``e`` depend only on ``(seed, e)``, and a checkpoint holds the torch RNG
state, the step inside the epoch and the running sums of the epoch's metrics, so a run killed at any point and
resumed from its last checkpoint computes the same numbers as one that never stopped.

Several processes (``torchrun --nproc_per_node N``) train data-parallel with DDP: every process draws the same
global batch and trains on its slice; the loss is normalised by the global number of targets, so the averaged
gradient equals the one-process gradient on the whole batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from tunesmith import devices
from tunesmith.checkpoint import BEST, FOR_RESUME, LAST, Checkpoint, load_checkpoint, require, save_checkpoint
from tunesmith.config import TrainConfig, dump_toml, to_dict
from tunesmith.data import (
    TokenData,
    WindowSampler,
    check_data_dir,
    check_same_data,
    check_window,
    data_fingerprint,
    fly_transpose,
    load_data_tokenizer,
    stream_batches,
    stream_steps,
)
from tunesmith.encodings import tokenizer_from_dict
from tunesmith.errors import TunesmithError
from tunesmith.finetune import load_init
from tunesmith.layout import RunDir
from tunesmith.locks import exclusive, shared
from tunesmith.models import SequenceModel, build_model, detach_state, get_preset, model_spec
from tunesmith.optimizers import OPTIMIZERS, SCHEDULES
from tunesmith.threads import use_threads
from tunesmith.training_log import format_row, plot_curves, write_metrics

EpochHook = Callable[[SequenceModel, Any, TrainConfig, int, Path], None]  # (model, tokenizer, cfg, epoch, run)


@dataclass
class Progress:
    """Where a run is: saved in every checkpoint and restored on resume."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches finished in the current epoch
    step: int = 0  # optimizer steps in all
    best: float = math.inf
    bad_epochs: int = 0
    stopped_early: bool = False
    cut_short: bool = False  # the --max-minutes safety cap stopped the run before its epochs were done
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # loss, correct, targets, seconds


@dataclass
class Distributed:
    """The place of this process in a ``torchrun`` job (world 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(values)
        return values


def pick_device(name: str, dist: Distributed) -> torch.device:
    """``auto``: CUDA, then Apple MPS, then the CPU (``tunesmith.devices.pick_device``, this process's GPU)."""
    return devices.pick_device(name, dist.local_rank)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """The optimizer named in the (resolved) config, from the registry ``OPTIMIZERS``."""
    return OPTIMIZERS[cfg.optimizer](cfg, params)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    """The schedule named in the config, from the registry ``SCHEDULES``.

    Per step (linear warm-up, then constant, cosine or step decay), or per epoch (``plateau``).
    """
    return SCHEDULES[cfg.schedule](cfg, optimizer, total_steps)


class Batches:
    """The batches of the training or validation split in the configured target mode."""

    def __init__(self, data: TokenData, cfg: TrainConfig, pad_id: int, seed: int, tables=None, heads=None):
        self.data, self.cfg = data, cfg
        self.stream = cfg.targets == "stream"
        if not self.stream:
            self.sampler = WindowSampler(data, cfg.seq_len, cfg.batch_size, pad_id, seed, tables=tables, heads=heads)

    def per_epoch(self, limit: int | None) -> int:
        if self.stream:
            return stream_steps(self.data, self.cfg.batch_size, self.cfg.seq_len, limit)
        return self.sampler.batches_per_epoch(self._limit(limit))

    def _limit(self, limit: int | None) -> int | None:
        """Batches per epoch: every window in ``last`` mode (as the seeds counted); otherwise one per ``seq_len``.

        With a target at every position, one window per ``seq_len`` starts makes each token a target about once.
        """
        if self.cfg.targets == "last":
            return limit
        natural = max(1, self.sampler.batches_per_epoch() // self.cfg.seq_len)
        return min(natural, limit) if limit else natural

    def epoch(self, number: int, start: int, limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.stream:
            return stream_batches(self.data, self.cfg.batch_size, self.cfg.seq_len, start, limit)
        return self.sampler.epoch(number, start, self._limit(limit))


class Trainer:
    """Trains one model on one prepared data directory into ``run_dir``.

    With ``resume`` the run's own config comes from its last checkpoint (``cfg`` is ignored) and ``epochs``, when
    given, extends or shortens it.
    """

    def __init__(
        self,
        cfg: TrainConfig | None,
        run_dir: Path,
        resume: bool = False,
        epochs: int | None = None,
        progress: bool = True,
        on_epoch_end: EpochHook | None = None,
        log: Callable[[str], None] = print,
        allow_data_change: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.layout = RunDir(run_dir)
        self.dist = Distributed.from_env()
        self.progress_bars = progress and self.dist.main
        self.on_epoch_end = on_epoch_end
        self.log = log if self.dist.main else (lambda _msg: None)
        self._locks = contextlib.ExitStack()  # released by close()
        try:
            cfg, ckpt = self._open(cfg, resume, epochs, allow_data_change)
            self._setup(cfg, ckpt)
        except BaseException:
            self._locks.close()
            raise

    def _open(
        self, cfg: TrainConfig | None, resume: bool, epochs: int | None, allow_data_change: bool
    ) -> tuple[TrainConfig, dict | None]:
        """Lock the run directory (and its data for reading), check them, and pick the config and tokenizer.

        A resumed run takes its config and tokenizer from its checkpoint, never from the data directory, which is
        only checked to be the data it was trained on (``allow_data_change`` lets a changed one through when its
        vocabulary is the same).
        """
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise TunesmithError(f"{self.run_dir} is a file, not a run directory: give a directory")
        if resume and not self.run_dir.is_dir():
            raise TunesmithError(f"nothing to resume: {self.run_dir} does not exist")
        if self.dist.main:  # the other processes of a torchrun job write nothing
            self._locks.enter_context(exclusive(self.run_dir, "resume" if resume else "train"))
        ckpt = self._resume_checkpoint() if resume else None
        if self.dist.main and ckpt is None and self.layout.holds_run():
            raise TunesmithError(f"{self.run_dir} already holds a run: continue it with --resume {self.run_dir}")
        if ckpt is not None:
            cfg = self._checked_config(ckpt)
            cfg = dataclasses.replace(cfg, epochs=epochs) if epochs else cfg
        if cfg is None:
            raise TunesmithError("no training config given")
        data_dir = Path(cfg.data)
        check_data_dir(data_dir)
        self._locks.enter_context(shared(data_dir, "train"))  # no prepare may replace it while it is read
        self.fingerprint = data_fingerprint(data_dir)
        if ckpt is None:
            self.tokenizer = load_data_tokenizer(data_dir)
            return cfg, None
        try:
            self.tokenizer = tokenizer_from_dict(ckpt.tokenizer)
        except (KeyError, TypeError, ValueError) as exc:
            raise TunesmithError(f"{ckpt.path} holds a damaged tokenizer ({type(exc).__name__}: {exc})") from None
        trained_on = ckpt.fingerprint
        hint = "prepare it as it was, or pass --allow-data-change to continue on the new data"
        change = check_same_data(data_dir, self.fingerprint, trained_on, self.tokenizer, allow_data_change, hint)
        if change:
            self.log(f"continuing on changed data ({change}), as --allow-data-change asked")
        return cfg, ckpt

    def _checked_config(self, ckpt: Checkpoint) -> TrainConfig:
        require(ckpt, FOR_RESUME, "resume training")
        return ckpt.train_config()

    def _setup(self, cfg: TrainConfig, ckpt: Checkpoint | None) -> None:
        window_given = ckpt is None and cfg.seq_len is not None  # a preset's default window is never refused
        init = load_init(cfg.init, self.tokenizer.vocab) if ckpt is None and cfg.init else None
        if init is not None:  # fine-tuning: the model is the checkpoint's, whatever --model said
            if cfg.model_options:
                raise TunesmithError("--init takes the model from its checkpoint: leave out --model-option")
            cfg = dataclasses.replace(cfg, model=init.spec["preset"], init=init.path)
        preset = get_preset(cfg.model)
        cfg = cfg.resolved(preset.train)
        threads, why = use_threads(cfg.threads, int(os.environ.get("LOCAL_WORLD_SIZE", self.dist.world)))
        self.log(f"threads: {threads} ({why})")
        self.cfg = cfg = dataclasses.replace(cfg, threads=threads)  # recorded: a resume computes with the same
        if self.dist.world > 1 and cfg.batch_size % self.dist.world:
            raise TunesmithError(f"--batch-size {cfg.batch_size} does not split over {self.dist.world} processes")
        self.device = pick_device(cfg.device, self.dist)
        self._init_distributed()
        torch.manual_seed(cfg.seed)
        self.spec = (
            ckpt.model if ckpt else init.spec if init else model_spec(cfg.model, len(self.tokenizer), cfg.model_options)
        )
        source = ckpt.path if ckpt else init.path if init else None
        try:
            self.model = build_model(self.spec).to(self.device)
            if init is not None:
                self.model.load_state_dict(init.weights)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TunesmithError(f"{source or 'the model'} describes no model this tunesmith builds: {first}") from None
        if cfg.targets == "stream" and not self.model.can_step:
            raise TunesmithError(f"model {cfg.model!r} is a window model: it cannot train on streams")
        self.pad_id = self.tokenizer.pad_id
        train_data = TokenData(Path(cfg.data), "train")
        check_window(cfg.seq_len, cfg.batch_size, cfg.targets, len(self.tokenizer), train_data, window_given)
        lo, hi = fly_transpose(train_data.meta)
        tables = {s: self.tokenizer.transposition_table(s) for s in range(lo, hi + 1) if s}
        # Key, tempo and band conditions head every window (see WindowSampler); style-only data keeps its windows.
        self.heads = set(self.tokenizer.control_ids) if self.tokenizer.window_head else None
        self.train_batches = Batches(train_data, cfg, self.pad_id, cfg.seed, tables, self.heads)
        self.valid_batches = self._valid_batches()
        self.steps_per_epoch = self.train_batches.per_epoch(cfg.steps_per_epoch)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.scheduler = make_scheduler(cfg, self.optimizer, self.steps_per_epoch * cfg.epochs)
        self.state = Progress()
        self.history: list[dict[str, Any]] = []
        self.epochs_before = 0  # epochs of earlier commands (a resume): the safety cap counts this command's only
        self.stream_state = None
        self.init = None  # fine-tuning: where the weights came from and the validation loss they started at
        if init is not None:
            self.init = {**init.record(), "valid_loss_at_start": self.evaluate()[0]}
            self.log(f"fine-tuning from {init.path}: validation loss {self.init['valid_loss_at_start']:.4f} at start")
        if ckpt is not None:
            self._restore(ckpt)
            self.epochs_before = len(self.history)
        self.net = self._wrap_ddp()

    # -- setup ------------------------------------------------------------------------------------------------

    def _resume_checkpoint(self) -> dict:
        if not self.layout.checkpoint(LAST).is_file():
            raise TunesmithError(f"nothing to resume: {self.layout.checkpoint(LAST)} does not exist")
        return load_checkpoint(self.run_dir, prefer=LAST)

    def _init_distributed(self) -> None:
        if self.dist.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)

    def close(self) -> None:
        """Leave the process group, if this run joined one.

        Its threads must stop before the interpreter exits, and no process may leave while another still writes
        (``fit`` ends on a barrier): otherwise gloo aborted one process in four or five ("terminate called without
        an active exception").
        """
        if self.dist.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        self._locks.close()

    def _wrap_ddp(self) -> torch.nn.Module:
        if self.dist.world == 1:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _valid_batches(self) -> Batches | None:
        if not self.cfg.valid_batches:
            return None
        valid = TokenData(Path(self.cfg.data), "valid")
        try:
            batches = Batches(valid, self.cfg, self.pad_id, self.cfg.seed + 1, heads=self.heads)
            batches.per_epoch(self.cfg.valid_batches)
        except TunesmithError as exc:
            self.log(f"no validation: {exc}")
            return None
        return batches

    def _restore(self, ckpt: Checkpoint) -> None:
        try:
            self.model.load_state_dict(ckpt.weights)
            self.optimizer.load_state_dict(ckpt.optimizer)
            self.scheduler.load_state_dict(ckpt.scheduler)
            self.state = Progress(**ckpt.progress)
            torch.set_rng_state(ckpt.rng["torch"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TunesmithError(
                f"{ckpt.path} does not fit the model it describes ({ckpt.model.get('preset')}): {first}"
            ) from None
        self.history = ckpt.history
        if torch.cuda.is_available() and ckpt.rng.get("cuda"):
            torch.cuda.set_rng_state_all(ckpt.rng["cuda"])
        self.stream_state = ckpt.stream_state
        self.init = ckpt.init
        if self.state.cut_short:  # the cap limits one command's training: a resume goes on with the budget
            self.state.cut_short = self.state.stopped_early = False
            self.log(f"{self.run_dir} was cut short by the --max-minutes safety cap: going on with its budget")
        self.log(f"resuming {self.run_dir} at epoch {self.state.epoch + 1}, batch {self.state.batch}")

    # -- the loop ---------------------------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train until the configured epochs are done or early stopping fires; returns the last history row."""
        cfg, st = self.cfg, self.state
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_toml(cfg, self.layout.config_file)
        writer = self._tensorboard()
        while st.epoch < cfg.epochs and not st.stopped_early:
            self._train_epoch()
            row = self._end_epoch()
            if writer is not None:
                for key, value in row.items():
                    if key not in ("epoch", "step") and value == value:  # NaN-free
                        writer.add_scalar(key, value, row["epoch"])
        if writer is not None:
            writer.close()
        if self.dist.world > 1:
            torch.distributed.barrier()  # the main process may still be writing the last checkpoint
        return self.history[-1] if self.history else {}

    def _train_epoch(self) -> None:
        cfg, st = self.cfg, self.state
        self.model.train()
        batches = self.train_batches.epoch(st.epoch, st.batch, cfg.steps_per_epoch)
        bar = tqdm(
            batches,
            total=self.steps_per_epoch,
            initial=st.batch,
            desc=f"epoch {st.epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=not self.progress_bars or None,
            leave=False,
        )
        tick = time.perf_counter()
        for x, y in bar:  # the seconds counted include drawing the batch, not the checkpoints
            loss, correct, count = self._step(x, y)
            now = time.perf_counter()
            st.sums = [a + b for a, b in zip(st.sums, (loss, correct, count, now - tick))]
            st.batch += 1
            st.step += 1
            bar.set_postfix(loss=f"{st.sums[0] / max(st.sums[2], 1):.3f}")
            if cfg.checkpoint_every and st.step % cfg.checkpoint_every == 0 and st.batch < self.steps_per_epoch:
                self._save(LAST)
            tick = time.perf_counter()
        bar.close()

    def _slice(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The share of the global batch this process trains on, on the device."""
        share = len(x) // self.dist.world
        lo = self.dist.rank * share
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a[lo : lo + share])).to(self.device)  # noqa: E731
        return as_tensor(x), as_tensor(y)

    def _forward(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state=None):
        """``(logits, targets, state)``; the targets are the last T' of y (only the last one in ``last`` mode)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            logits, state = net(x, state)
        if self.cfg.targets == "last":
            logits = logits[:, -1:]
        return logits.float(), y[:, -logits.shape[1] :], state

    def _score(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Summed cross-entropy, correct predictions and targets, padding left out."""
        mask = y != self.pad_id
        flat = logits.reshape(-1, logits.shape[-1])
        loss_sum = F.cross_entropy(flat, y.reshape(-1), ignore_index=self.pad_id, reduction="sum")
        return loss_sum, ((logits.argmax(-1) == y) & mask).sum(), mask.sum()

    def _step(self, x_np: np.ndarray, y_np: np.ndarray) -> tuple[float, float, float]:
        x, y = self._slice(x_np, y_np)
        stream = self.cfg.targets == "stream"
        logits, y, state = self._forward(self.net, x, y, self.stream_state if stream else None)
        if stream:
            self.stream_state = detach_state(state)
        loss_sum, correct, targets = self._score(logits, y)
        count = self.dist.all_sum(targets.to(torch.float64)).item()  # targets in the whole global batch
        loss = loss_sum * self.dist.world / max(count, 1.0)  # DDP averages over processes: this is the global mean
        penalty = self.model.penalty()
        if penalty is not None:
            loss = loss + penalty
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        if not isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step()
        totals = self.dist.all_sum(torch.stack([loss_sum.detach().double(), correct.double()]))
        return float(totals[0]), float(totals[1]), count

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Mean loss and accuracy over the first ``valid_batches`` validation batches (the same ones each time)."""
        if self.valid_batches is None:
            return math.nan, math.nan
        self.model.eval()
        sums = torch.zeros(3, dtype=torch.float64)
        state = None
        for x, y in self.valid_batches.epoch(0, 0, self.cfg.valid_batches):
            x_t, y_t = (torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in (x, y))
            # Every process evaluates the whole batch with its own copy: no DDP synchronisation needed.
            logits, y_t, state = self._forward(self.model, x_t, y_t, state if self.cfg.targets == "stream" else None)
            sums += torch.stack([v.double().cpu() for v in self._score(logits, y_t)])
        loss_sum, correct, count = sums.tolist()
        return loss_sum / max(count, 1.0), correct / max(count, 1.0)

    def _end_epoch(self) -> dict[str, Any]:
        cfg, st = self.cfg, self.state
        loss_sum, correct, count, seconds = st.sums
        train_loss = loss_sum / max(count, 1.0)
        valid_loss, valid_acc = self.evaluate()
        row = {
            "epoch": st.epoch + 1,
            "step": st.step,
            "train_loss": train_loss,
            "train_accuracy": correct / max(count, 1.0),
            "train_perplexity": math.exp(min(train_loss, 50.0)),
            "valid_loss": valid_loss,
            "valid_accuracy": valid_acc,
            "valid_perplexity": math.exp(min(valid_loss, 50.0)) if valid_loss == valid_loss else math.nan,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "targets_per_second": count / seconds if seconds else 0.0,
        }
        self.history.append(row)
        monitored = valid_loss if valid_loss == valid_loss else train_loss
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        improved = monitored < st.best
        st.best, st.bad_epochs = (monitored, 0) if improved else (st.best, st.bad_epochs + 1)
        patience_stop = bool(cfg.patience and st.bad_epochs >= cfg.patience)
        minutes = sum(r["seconds"] for r in self.history) / 60.0
        session = sum(r["seconds"] for r in self.history[self.epochs_before :]) / 60.0
        late = torch.tensor([float(bool(cfg.max_minutes) and session >= cfg.max_minutes)], dtype=torch.float64)
        out_of_time = bool(self.dist.all_sum(late).item() > 0)  # every process stops after the same epoch
        st.stopped_early = patience_stop or out_of_time
        st.cut_short = st.cut_short or (out_of_time and not patience_stop and st.epoch + 1 < cfg.epochs)
        st.epoch, st.batch, st.sums = st.epoch + 1, 0, [0.0, 0.0, 0.0, 0.0]
        self.stream_state = None
        if self.dist.main:
            write_metrics(self.run_dir, self.history)
            self._write_training(minutes)
            plot_curves(self.layout.curves_file, self.history)
            self.log(format_row(row) + (" *" if improved else ""))
            if st.cut_short:
                self.log(
                    f"warning: cut short by the safety cap: {session:.1f} minutes of training passed --max-minutes "
                    f"{cfg.max_minutes:g} after {st.epoch} of {cfg.epochs} epochs ({st.step} of "
                    f"{self.planned_steps} steps); this model is not the one its config describes "
                    f"(--resume {self.run_dir} goes on)"
                )
            elif patience_stop and st.epoch < cfg.epochs:
                self.log(f"early stop: no better validation loss for {cfg.patience} epochs")
            if self.on_epoch_end and cfg.sample_every and st.epoch % cfg.sample_every == 0:
                self.on_epoch_end(self.model, self.tokenizer, cfg, st.epoch, self.run_dir)
        if improved:
            self._save(BEST)
        self._save(LAST)
        return row

    @property
    def planned_steps(self) -> int:
        """The run's budget in optimizer steps: its epochs times the batches of an epoch."""
        return self.steps_per_epoch * self.cfg.epochs

    def _write_training(self, minutes: float) -> None:
        """``train.json``: steps and epochs done against the budget, minutes, threads, and any cut by the cap."""
        st = self.state
        record = {
            "steps": st.step,
            "steps_planned": self.planned_steps,
            "epochs": st.epoch,
            "epochs_planned": self.cfg.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "minutes": round(minutes, 3),
            "threads": self.cfg.threads,
            "max_minutes": self.cfg.max_minutes,
            "cut_short": st.cut_short,
            "stopped_early": st.stopped_early and not st.cut_short and st.epoch < self.cfg.epochs,
        }
        if self.init is not None:
            record["init"] = self.init
        self.layout.write_training(record)

    def _save(self, name: str) -> None:
        if not self.dist.main:
            return
        payload = {
            "model": self.spec,
            "config": to_dict(self.cfg),
            "tokenizer": self.tokenizer.to_dict(),
            "data": {"path": self.cfg.data, "fingerprint": self.fingerprint},
            "history": self.history,
            "progress": dataclasses.asdict(self.state),
            "weights": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }
        if self.stream_state is not None:
            payload["stream_state"] = self.stream_state
        if self.init is not None:
            payload["init"] = self.init
        save_checkpoint(self.layout.checkpoint(name), payload)

    def _tensorboard(self):
        if not self.dist.main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # TensorBoard is optional
            return None
        return SummaryWriter(str(self.layout.tensorboard_dir))


def train(cfg: TrainConfig | None, run_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """Train (or with ``resume=True`` continue) a run; returns the last epoch's metrics."""
    trainer = Trainer(cfg, run_dir, **kwargs)
    try:
        return trainer.fit()
    finally:
        trainer.close()
