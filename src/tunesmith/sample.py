"""Sampling: pure logit filters and the generation loops.

Models that step (recurrent, transformer with its KV cache) read the primer once and then run one step per new
token, carrying their state; window models re-run their window for every token (``window_rerun`` says so).
Several samples are one batch. Randomness comes only from the ``torch.Generator`` handed in, so a seed gives the
same tokens every time and sampling never disturbs the global RNG (which a training run owns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional, Protocol  # TorchScript reads Optional, not "X | None"

import torch

from tunesmith import native
from tunesmith.layout import RunDir
from tunesmith.models import SequenceModel
from tunesmith.models.base import Stepper
from tunesmith.models.scripted import cpp_on, script


class Follower(Protocol):
    """What ``sample`` asks a structure to follow at every step (``tunesmith.form.FormFollower``)."""

    def forced(self, device: torch.device) -> torch.Tensor | None:
        """(B,) the token each row must take next, -1 where the model draws; None when no row is forced."""

    def see(self, tokens: torch.Tensor) -> torch.Tensor:
        """Take one step's (B,) tokens; (B,) True for the rows that are complete."""


class Keeper(Protocol):
    """A per-row pull that ``sample`` adds to the logits and updates from the tokens drawn.

    ``--key auto``'s ``tunesmith.key_keeper.KeyKeeper``, ``--density``'s ``tunesmith.density_keeper.DensityKeeper``,
    ``--no-copy``'s ``tunesmith.copy_guard.CopyGuard``.
    """

    bias: torch.Tensor | None  # (B, V), or None while no row has one

    def see(self, tokens: torch.Tensor) -> None:
        """Take one step's (B,) tokens."""


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / T``: T < 1 sharpens the distribution, T > 1 flattens it (T = 0 is handled as greedy)."""
    if temperature < 0:
        raise ValueError(f"temperature must be 0 or positive, got {temperature}")
    return logits / temperature if temperature > 0 and temperature != 1 else logits  # x / 1 is x: skip the copy


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row, the rest ``-inf`` (k = 0: keep all)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the smallest set of tokens whose probability reaches ``p``."""
    if p >= 1.0:
        return logits
    if p <= 0:
        raise ValueError(f"top-p must be in (0, 1], got {p}")
    ordered, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = torch.softmax(ordered, dim=-1).cumsum(dim=-1)
    drop = cumulative - torch.softmax(ordered, dim=-1) >= p  # tokens after the nucleus is complete
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def pick(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row of (B, V) logits: greedy at temperature 0, else sampled from the filtered softmax."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    filtered = top_p_filter(top_k_filter(apply_temperature(logits.float(), temperature), top_k), top_p)
    if filtered.device.type == "cpu" and cpp_on():  # the same draw in C++
        return native.softmax_draw(filtered, generator)
    return (script(softmax_draw) or softmax_draw)(filtered, generator)


def softmax_draw(logits: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:  # noqa: UP045
    """``draw(torch.softmax(logits, dim=-1), generator)``, which TorchScript runs as one call (``draw`` with it).

    ``pick`` calls it compiled (``models/scripted.py``): the same kernels in the same order, so the same tokens,
    without a return to Python between its nine operations (0.13 against 0.05 ms a token at batch 1).
    """
    return draw(torch.softmax(logits, dim=-1), generator)


def draw(probs: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:  # noqa: UP045
    """One index per row of (B, V) probabilities, by inverting the cumulative distribution at a uniform draw.

    Needs one random number per row where ``torch.multinomial`` draws one per vocabulary entry (20x slower for 16
    rows of 5,000 tokens). The first index whose cumulative sum exceeds ``u * total`` never has probability 0.
    """
    cumulative = probs.cumsum(dim=-1)
    total = cumulative[:, -1:]
    u = torch.rand(total.shape, generator=generator, device=probs.device, dtype=probs.dtype) * total
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))  # u * total may round up to total
    return torch.searchsorted(cumulative, u, right=True).squeeze(-1)


def window_rerun(model: SequenceModel) -> bool:
    """True for window models, which must re-run their whole window for every new token."""
    return not model.can_step


@torch.no_grad()
def sample(
    model: SequenceModel,
    primer: torch.Tensor,
    steps: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    window: int = 64,
    forbid: Sequence[int] = (),
    stop_id: int | None = None,
    pad_id: int = 0,
    until: Callable[[torch.Tensor], torch.Tensor] | None = None,
    check_every: int = 64,
    stepper: Stepper | None = None,
    on_step: Callable[[int], Any] | None = None,
    forbid_rows: torch.Tensor | None = None,
    head: int = 0,
    bias: torch.Tensor | None = None,
    follow: Follower | None = None,
    keep: Sequence[Keeper] = (),
) -> torch.Tensor:
    """``steps`` new tokens after ``primer`` (B, P) for each row: (B, steps).

    Stepping models read the primer with the model and take each new token through ``stepper`` (default
    ``model.stepper()``; ``model.stepper(precision)`` for bfloat16 or int8 weights, built once by the caller);
    window models re-run their window through it.

    ``forbid`` ids are never drawn (padding, BOS, UNK), nor in row ``b`` the ids where ``forbid_rows[b]`` (B, V)
    is True (the programs outside a sample's band: one masked fill per token); a row that draws ``stop_id`` (EOS)
    is finished and continues with ``pad_id``; so is a row for which ``until(tokens so far)`` says True (asked every
    ``check_every`` tokens; a length in notes or bars). Stops early when every row is finished. ``on_step(1)`` is
    called after each token (a progress bar's ``update``). Window models keep the primer's first ``head`` ids
    (BOS and its conditions and band) in front of every window they re-run, as they were trained. ``bias`` (V,), when
    given, is added to every step's logits (``--key``'s pull on pitch tokens). ``follow`` (``--form``'s
    ``tunesmith.form.FormFollower``) may force a row's next token in place of the drawn one (a repeated section) and
    finishes the rows whose form is complete; the draw is made all the same, so the random stream does not depend on it.
    Each of ``keep`` (``--key auto``, ``--density``, ``--no-copy``) adds its (B, V) ``bias`` once it has one, and sees
    every step's tokens; a row whose keepers hold back every token it could draw draws as if they did not.

    Where the stepper has a C++ loop (``tunesmith.native``) and nothing needs Python at each token, the tokens are
    made up to ``RUN_TOKENS`` per call (``_sample_natively``): the same tokens, ``on_step`` told how many per call.
    """
    model.eval()
    batch = primer.shape[0]
    out = torch.full((batch, steps), pad_id, dtype=torch.long, device=primer.device)
    done = torch.zeros(batch, dtype=torch.bool, device=primer.device)
    rerun = window_rerun(model)
    step = stepper or model.stepper()
    context = primer
    logits, state = step(_window(primer, window, head, primer, primer.shape[1])) if rerun else model.read(primer)
    vocab = logits.shape[-1]
    blocked = _blocked(forbid, forbid_rows, vocab, primer.device)  # built once: one masked fill per token
    run = None if rerun or follow is not None or keep else _native_run(step, logits, temperature, top_k, top_p)
    if run is not None:
        return _sample_natively(
            run, logits, state, out, done, temperature, bias, blocked, stop_id, pad_id, until, check_every, on_step,
            generator,
        )  # fmt: skip
    for t in range(steps):
        last = logits[:, -1].float()
        if bias is not None:
            last = last + bias  # the asked key's pull on pitch tokens (a new tensor: the fill below stays local)
        free = last
        for keeper in keep:
            if keeper.bias is not None:
                last = last + keeper.bias  # each row's own key, its density, what it must not copy
        if blocked is not None:
            last.masked_fill_(blocked, float("-inf"))  # the logits are not read again
        if last is not free:
            last = _never_stuck(last, free, blocked)
        token = pick(last, temperature, top_k, top_p, generator)
        if follow is not None and (forced := follow.forced(token.device)) is not None:
            token = torch.where(forced >= 0, forced, token)
        token.masked_fill_(done, pad_id)  # finished rows continue with padding
        out[:, t] = token
        if on_step is not None:
            on_step(1)
        if stop_id is not None:
            done |= token == stop_id
        if until is not None and (t + 1) % check_every == 0:
            done |= until(out[:, : t + 1])
        if follow is not None:
            done |= follow.see(token)
        for keeper in keep:
            keeper.see(token)
        if (stop_id is not None or until is not None or follow is not None) and bool(
            done.all()
        ):  # nothing else finishes a row
            return out[:, : t + 1]
        if t == steps - 1:
            break
        if rerun:
            context = torch.cat([context, token[:, None]], dim=1)[:, -window:]
            logits, _ = step(_window(context, window, head, primer, primer.shape[1] + t + 1))
        else:
            logits, state = step(token[:, None], state)
    return out


RUN_TOKENS = 64  # the most tokens one C++ run makes before sample's Python sees them (the progress bar)


def _native_run(step: Stepper, logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> Callable | None:
    """The stepper's C++ loop (``FusedStep.run``, ``CachedStep.run``) where it can make ``sample``'s tokens, else None.

    It draws as ``pick`` does on the CPU, with the bias, blocked ids and temperature; a greedy draw, top-k, top-p,
    forms, keepers and a stepper wrapped to watch every token (the studio's) stay in the Python loop.
    """
    run = getattr(step, "run", None)
    if run is None or temperature <= 0 or 0 < top_k < logits.shape[-1] or top_p < 1.0:
        return None
    if logits.device.type != "cpu" or logits.dtype != torch.float32 or not cpp_on():
        return None
    return run


def _sample_natively(
    run: Callable,
    logits: torch.Tensor,
    state: Any,
    out: torch.Tensor,
    done: torch.Tensor,
    temperature: float,
    bias: torch.Tensor | None,
    blocked: torch.Tensor | None,
    stop_id: int | None,
    pad_id: int,
    until: Callable[[torch.Tensor], torch.Tensor] | None,
    check_every: int,
    on_step: Callable[[int], Any] | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``sample``'s loop, up to ``RUN_TOKENS`` tokens per C++ call: the same tokens, without Python between them.

    Each call stops where ``until`` is due (every ``check_every`` tokens) and once every row has drawn ``stop_id``;
    ``on_step`` hears how many tokens each call made.
    """
    steps, t = out.shape[1], 0
    stops = stop_id is not None or until is not None
    stop = -1 if stop_id is None else stop_id  # C++ takes -1 for no stop token
    while t < steps:
        n = min(steps - t, RUN_TOKENS)
        if until is not None:
            n = min(n, check_every - t % check_every)
        logits, state, made = run(
            logits, state, t, n, t + n < steps, temperature, bias, blocked, stop, pad_id, done, out, generator
        )
        t += made
        if on_step is not None:
            on_step(made)
        if until is not None and t % check_every == 0:
            done |= until(out[:, :t])
        if stops and bool(done.all()):
            return out[:, :t]
    return out


def _never_stuck(last: torch.Tensor, free: torch.Tensor, blocked: torch.Tensor | None) -> torch.Tensor:
    """``last`` (B, V), except that a row the keepers left nothing to draw from draws as the model would without them.

    ``free``: the logits before the keepers' biases (``--no-copy`` may hold back every candidate of a row).
    """
    stuck = torch.isneginf(last).all(dim=-1)
    if not bool(stuck.any()):
        return last
    fallback = free if blocked is None else free.masked_fill(blocked, float("-inf"))
    return torch.where(stuck[:, None], fallback, last)


def _blocked(
    forbid: Sequence[int], forbid_rows: torch.Tensor | None, vocab: int, device: torch.device
) -> torch.Tensor | None:
    """The ids never drawn, as a (1, V) mask (``forbid``) or (B, V) (with ``forbid_rows``); None when there are none."""
    if not len(forbid) and forbid_rows is None:
        return None
    blocked = torch.zeros(1, vocab, dtype=torch.bool, device=device)
    blocked[0, torch.as_tensor(list(forbid), dtype=torch.long, device=device)] = True
    return blocked if forbid_rows is None else blocked | forbid_rows


def _window(context: torch.Tensor, window: int, head: int, primer: torch.Tensor, length: int) -> torch.Tensor:
    """What a window model reads of a sequence of ``length`` ids whose last ones (at most ``window``) are ``context``.

    The last ``window`` ids, or, once the sequence is longer than a window, the primer's first ``head`` ids and the
    last ids after them. ``context`` never holds the whole sequence, so a long sample costs what a short one does.
    """
    if length <= window or not 0 < head < window:
        return context[:, -window:]
    return torch.cat([primer[:, :head], context[:, -(window - head) :]], dim=1)


@torch.no_grad()
def beam_search(
    model: SequenceModel,
    primer: torch.Tensor,
    steps: int,
    beam: int,
    window: int = 64,
    forbid: Sequence[int] = (),
    stop_id: int | None = None,
    stepper: Stepper | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """The most likely continuation of a (1, P) primer found with ``beam`` hypotheses: (1, steps).

    ``bias`` (V,) is added to the logits before each step's log-softmax, as in ``sample``.
    """
    model.eval()
    rerun = window_rerun(model)
    step = stepper or model.stepper()
    context = primer.expand(beam, -1).contiguous()
    logits, state = step(context[:, -window:]) if rerun else model.read(context)
    scores = torch.zeros(beam, device=primer.device)
    scores[1:] = float("-inf")  # all hypotheses start identical: expand only the first
    seqs = torch.zeros(beam, 0, dtype=torch.long, device=primer.device)
    finished = torch.zeros(beam, dtype=torch.bool, device=primer.device)
    for _ in range(steps):
        last = logits[:, -1].float()
        logp = torch.log_softmax(last + bias if bias is not None else last, dim=-1)
        if forbid:
            logp[:, list(forbid)] = float("-inf")
        if stop_id is not None:  # a finished hypothesis only extends with EOS, at no cost
            logp[finished] = float("-inf")
            logp[finished, stop_id] = 0.0
        total = (scores[:, None] + logp).reshape(-1)
        scores, flat = torch.topk(total, beam)
        rows, tokens = flat // logp.shape[-1], flat % logp.shape[-1]
        seqs = torch.cat([seqs[rows], tokens[:, None]], dim=1)
        finished = finished[rows] | (tokens == stop_id if stop_id is not None else False)
        if stop_id is not None and bool(finished.all()):
            break
        if rerun:
            context = torch.cat([context[rows], tokens[:, None]], dim=1)[:, -window:]
            logits, _ = step(context)
        else:
            state = model.reorder_state(state, rows)
            logits, state = step(tokens[:, None], state)
    return seqs[:1]


def write_epoch_sample(model: SequenceModel, tokenizer: Any, cfg: Any, epoch: int, run_dir: Path) -> None:
    """Trainer hook: ``RUN_DIR/samples/epoch-N.mid``, ``cfg.sample_length`` tokens from BOS, seeded by the epoch."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch)
    primer = torch.tensor([[tokenizer.bos_id]], device=device)
    ids = sample(
        model,
        primer,
        cfg.sample_length,
        generator=generator,
        window=cfg.seq_len,
        forbid=(tokenizer.pad_id, tokenizer.bos_id, tokenizer.unk_id),
        stop_id=tokenizer.eos_id,
        pad_id=tokenizer.pad_id,
    )
    model.train()
    result = tokenizer.try_decode(ids[0].tolist())
    folder = RunDir(run_dir).samples
    folder.path.mkdir(exist_ok=True)
    if result.score is not None:
        result.score.dump_midi(str(folder.epoch_sample(epoch)))
