"""Exact negative log-likelihood of a split under a network and under the n-gram baseline, on the same targets.

A model that steps (recurrent, transformer, encoder-decoder) reads each piece from its start in chunks of its
training window, carrying its state, and every token after BOS is a target (the encoder-decoder's first phrase
aside). A window model (bidirectional, attention, or any model trained on ``last`` targets) predicts only from a
full window, as it was trained: the targets are the tokens that have ``seq_len`` tokens before them. The n-gram
model scores exactly the targets the network scored, so the two figures are comparable.

For the poly piano-roll encoding the NLL per time step is the sum over the frame's tokens (its pitches and the
frame end) divided by the number of frames, the quantity of the published JSB Chorales tables; the EOS target is
left out of it, since those models are told the length of the piece.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from tunesmith.data import TokenData
from tunesmith.encodings import Tokenizer
from tunesmith.evaluate.ngram import KneserNey
from tunesmith.models import SequenceModel

WINDOW_BATCH = 256


@dataclass
class Likelihood:
    """Summed NLL (nats) over ``targets`` targets, with correct argmax predictions and piano-roll frames."""

    nll: float = 0.0
    targets: int = 0
    correct: int = 0
    frames: int = 0  # frame-end targets (poly piano roll), else 0
    frame_nll: float = 0.0  # NLL summed over non-EOS targets, for the per-time-step figure

    def add(self, nll: np.ndarray, correct: np.ndarray, ids: np.ndarray, frame_end: int | None, eos: int) -> None:
        """Add the per-target losses and hits of one piece's targets ``ids``."""
        self.nll += float(nll.sum())
        self.targets += int(nll.size)
        self.correct += int(correct.sum())
        if frame_end is not None:
            self.frames += int((ids == frame_end).sum())
            self.frame_nll += float(nll[ids != eos].sum())

    def summary(self) -> dict[str, float]:
        """Per-token nats and bits, perplexity, accuracy and (piano roll) nats per time step."""
        per = self.nll / max(self.targets, 1)
        out = {
            "nll": per,
            "bits": per / math.log(2),
            "perplexity": math.exp(min(per, 50.0)),
            "accuracy": self.correct / max(self.targets, 1),
            "targets": self.targets,
        }
        if self.frames:
            out["nll_per_step"] = self.frame_nll / self.frames
            out["steps"] = self.frames
        return out


def uses_windows(model: SequenceModel, targets_mode: str) -> bool:
    """Whether the model is scored from full windows only (see the module docstring)."""
    return not model.can_step or targets_mode == "last"


def _device(model: SequenceModel) -> torch.device:
    """Where the model's weights are (the tokens go there; the log-probabilities come back to the CPU)."""
    return next(model.parameters()).device


def _piece_logprobs_stream(model: SequenceModel, ids: np.ndarray, chunk: int) -> tuple[np.ndarray, torch.Tensor]:
    """(positions, log-probabilities (n, V)) of every target the stepping model predicts in one piece."""
    x = torch.as_tensor(np.asarray(ids[:-1], dtype=np.int64), device=_device(model))[None]  # (1, L-1)
    state, positions, rows = None, [], []
    for start in range(0, x.shape[1], chunk):
        logits, state = model(x[:, start : start + chunk], state)  # (1, T', V): the last T' targets of the chunk
        end = min(start + chunk, x.shape[1])
        positions.append(np.arange(end - logits.shape[1], end) + 1)
        rows.append(F.log_softmax(logits[0].float(), dim=-1).cpu())
    return np.concatenate(positions), torch.cat(rows)


def _piece_logprobs_windows(model: SequenceModel, ids: np.ndarray, window: int) -> tuple[np.ndarray, torch.Tensor]:
    """(positions, log-probabilities) of the targets with a full window before them."""
    ids = np.asarray(ids, dtype=np.int64)
    positions = np.arange(window, len(ids))
    if not positions.size:
        return positions, torch.zeros(0, 1)
    windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], window)  # (n, window): row i ends before i+window
    rows = []
    for lo in range(0, len(windows), WINDOW_BATCH):
        batch = torch.from_numpy(np.ascontiguousarray(windows[lo : lo + WINDOW_BATCH])).to(_device(model))
        logits, _ = model(batch)
        rows.append(F.log_softmax(logits[:, -1].float(), dim=-1).cpu())
    return positions, torch.cat(rows)


@torch.no_grad()
def score_split(
    model: SequenceModel,
    tokenizer: Tokenizer,
    data: TokenData,
    window: int,
    windows_only: bool,
    ngram: KneserNey | None = None,
    max_pieces: int | None = None,
    progress: bool = True,
) -> tuple[Likelihood, Likelihood | None]:
    """The network's and (when given) the n-gram model's likelihood of a split, over the same targets."""
    model.eval()
    frame_end, eos = tokenizer.frame_end_id, tokenizer.eos_id
    net, base = Likelihood(), Likelihood() if ngram is not None else None
    n = data.n_pieces if max_pieces is None else min(max_pieces, data.n_pieces)
    for i in tqdm(range(n), desc=f"scoring {data.split}", unit="piece", disable=not progress or None, leave=False):
        ids = np.asarray(data.piece(i), dtype=np.int64)
        if len(ids) < 2:
            continue
        if windows_only:
            positions, logp = _piece_logprobs_windows(model, ids, window)
        else:
            positions, logp = _piece_logprobs_stream(model, ids, window)
        if not positions.size:
            continue
        targets = ids[positions]
        nll = -logp[torch.arange(len(positions)), torch.from_numpy(targets)].numpy()
        correct = (logp.argmax(-1).numpy() == targets).astype(np.int64)
        net.add(nll, correct, targets, frame_end, eos)
        if base is not None:
            ngram_nll, ngram_correct = ngram.losses(ids, positions.tolist())
            base.add(ngram_nll, ngram_correct, targets, frame_end, eos)
    return net, base


def fit_ngram(
    tokenizer: Tokenizer, train: TokenData, valid: TokenData | None, max_order: int = 5, valid_targets: int = 20_000
) -> tuple[KneserNey, dict[int, float]]:
    """Kneser-Ney models of orders 1 to ``max_order`` on the training split and the one to report.

    The order is chosen on (the first ``valid_targets`` targets of) the validation split, never on the split being
    evaluated; without validation data the highest order is used. Returns the model and each order's validation
    NLL per token.
    """
    pieces = [np.asarray(train.piece(i)) for i in range(train.n_pieces)]
    exclude = (tokenizer.pad_id, tokenizer.bos_id)
    models = {
        k: KneserNey(k, len(tokenizer), exclude=exclude, bos_id=tokenizer.bos_id).fit(pieces)
        for k in range(1, max_order + 1)
    }
    if valid is None or not len(valid):
        return models[max_order], {}
    scores = {}
    for k, m in models.items():
        nll, count = 0.0, 0
        for i in range(valid.n_pieces):
            if count >= valid_targets:
                break
            ids = np.asarray(valid.piece(i), dtype=np.int64)
            positions = np.arange(1, len(ids))
            nll += m.score(ids, positions.tolist())[0]
            count += len(positions)
        scores[k] = nll / max(count, 1)
    best = min(scores, key=lambda k: scores[k])
    return models[best], scores
