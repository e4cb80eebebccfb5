"""Token datasets: ids per split as compact arrays on disk, memory-mapped; windows and streams cut on the fly.

``DATA_DIR/tokens/SPLIT.bin`` holds the ids of every piece of a split end to end (uint16 when the vocabulary
allows, else uint32) and ``SPLIT.idx.npy`` the piece boundaries. Nothing is ever one-hot encoded and no window matrix
is built: a batch is cut from the memory map when it is drawn, so memory stays O(batch), whatever the corpus size.
Splits are by song (one tune of a source file, all its tracks), never by window or track, so no song leaks from
training into validation.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tunesmith.corpus.pieces import kept_pieces, load_pieces, read_manifest
from tunesmith.encode_options import EncodeConfig as EncodeConfig  # declared there: the CLI reads it without numpy
from tunesmith.encodings import Tokenizer, load_tokenizer
from tunesmith.errors import TunesmithError
from tunesmith.layout import SPLITS, DataDir

ENCODE_CHUNK = 256  # pieces loaded at a time while encoding


def split_entries(entries: list[dict], fractions: tuple[float, float, float], seed: int) -> dict[str, list[dict]]:
    """Assign pieces to splits by song (a tune of a source file, all its tracks).

    A piece whose source fixed its split (JSB) keeps it.
    """
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    songs: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        if entry.get("split") in SPLITS:
            out[entry["split"]].append(entry)
        else:  # a song is one tune of a source file (ids are FILEHASH-TUNE-TRACK): its tracks stay together
            songs[f"{entry['source']}#{entry['id'].rsplit('-', 1)[0]}"].append(entry)
    names = sorted(songs)
    random.Random(seed).shuffle(names)
    n = len(names)
    # With three songs or more, a split asked for gets at least one song, however small its fraction.
    n_valid = max(1, round(n * fractions[1])) if n > 2 and fractions[1] > 0 else 0
    n_test = max(1, round(n * fractions[2])) if n > 2 and fractions[2] > 0 else 0
    n_valid, n_test = min(n_valid, max(0, n - 1)), min(n_test, max(0, n - 1 - n_valid))
    cut = {"valid": names[:n_valid], "test": names[n_valid : n_valid + n_test], "train": names[n_valid + n_test :]}
    for split, chosen in cut.items():
        for name in sorted(chosen):
            out[split].extend(songs[name])
    return out


class _Loaded:
    """The pieces of manifest ``entries``, loaded ``ENCODE_CHUNK`` at a time on each pass over them.

    Fitting a tokenizer holds one chunk of the training split in memory, not the whole split.
    """

    def __init__(self, data_dir: Path, entries: list[dict]) -> None:
        self.data_dir, self.entries = data_dir, entries

    def __iter__(self) -> Iterator[Any]:
        for start in range(0, len(self.entries), ENCODE_CHUNK):
            yield from load_pieces(self.data_dir, self.entries[start : start + ENCODE_CHUNK])


def encode_dataset(
    data_dir: Path,
    tokenizer: Tokenizer,
    settings: EncodeConfig,
    progress: bool = True,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit ``tokenizer`` on the training split, write every split's ids, and add an ``encoding`` report section.

    ``report``: the report ``prepare`` is about to write (its records list the pieces): the pieces are taken from
    it and the section is added to it, not read from and written to ``report.json``.
    """
    data_dir = Path(data_dir)
    entries = kept_pieces(report["files"]) if report is not None else read_manifest(data_dir)
    splits = split_entries(entries, settings.split, settings.seed)
    if not splits["train"]:
        raise TunesmithError("the training split is empty: there are too few pieces to split")
    shifts = tuple(s for s in range(settings.transpose[0], settings.transpose[1] + 1) if s)
    tokenizer.fit(_Loaded(data_dir, splits["train"]), shifts=shifts)
    layout = DataDir(data_dir)
    layout.tokens_dir.mkdir(exist_ok=True)
    dtype = np.uint16 if len(tokenizer) < 2**16 else np.uint32
    failures: list[dict[str, str]] = []
    counts: dict[str, dict[str, int]] = {}
    tables = {s: tokenizer.transposition_table(s) for s in shifts} if settings.augment_at == "prepare" else {}
    for split, entries in splits.items():
        bounds = [0]
        with open(layout.ids_file(split), "wb") as fh:
            bar = tqdm(total=len(entries), desc=f"encode {split}", unit="piece", disable=not progress or None)
            for start in range(0, len(entries), ENCODE_CHUNK):
                chunk = entries[start : start + ENCODE_CHUNK]
                for entry, piece in zip(chunk, load_pieces(data_dir, chunk)):
                    try:
                        ids = np.asarray(tokenizer.encode(piece), dtype=np.int64)
                    except Exception as exc:  # one piece that cannot be encoded is reported, not fatal
                        failures.append({"id": entry["id"], "source": entry["source"], "reason": str(exc)})
                        continue
                    copies = [ids]
                    if split == "train":
                        copies += [t[ids] for t in tables.values() if (t[ids] >= 0).all()]
                    for copy in copies:
                        copy.astype(dtype).tofile(fh)
                        bounds.append(bounds[-1] + copy.size)
                bar.update(len(chunk))
            bar.close()
        np.save(layout.bounds_file(split), np.asarray(bounds, dtype=np.int64))
        counts[split] = {"pieces": len(bounds) - 1, "tokens": int(bounds[-1])}
    tokenizer.save(layout.tokenizer_file)
    section = {
        "encoding": tokenizer.name,
        "config": tokenizer.to_dict()["config"],
        **tokenizer.stats,
        "dtype": np.dtype(dtype).name,
        "splits": counts,
        "split_fractions": list(settings.split),
        "seed": settings.seed,
        "transpose": list(settings.transpose),
        "augment_at": settings.augment_at,
        "failed_pieces": failures,
    }
    layout.write_meta(section)
    if report is not None:
        report["encoding"] = section
    else:
        on_disk = layout.read_report() or {}
        on_disk["encoding"] = section
        layout.write_report(on_disk)
    return section


class TokenData:
    """The ids of one split, memory-mapped, with piece boundaries."""

    def __init__(self, data_dir: Path, split: str) -> None:
        layout = DataDir(data_dir)
        self.meta = layout.read_meta()
        self.bounds = np.load(layout.bounds_file(split))
        size = int(self.bounds[-1])
        dtype = np.dtype(self.meta["dtype"])
        # np.memmap refuses empty files; an empty split is an empty array.
        self.ids = np.memmap(layout.ids_file(split), dtype=dtype, mode="r") if size else np.zeros(0, dtype)
        self.split = split

    def __len__(self) -> int:
        return int(self.bounds[-1])

    @property
    def n_pieces(self) -> int:
        return len(self.bounds) - 1

    def piece(self, i: int) -> np.ndarray:
        """The ids of piece ``i`` (a view into the memory map)."""
        return self.ids[self.bounds[i] : self.bounds[i + 1]]


def fly_transpose(meta: dict[str, Any]) -> tuple[int, int]:
    """The transposition range to apply while drawing batches (none when prepare wrote shifted copies)."""
    return tuple(meta.get("transpose", (0, 0))) if meta.get("augment_at") == "fly" else (0, 0)


def decoded_scores(tokenizer: Tokenizer, data: TokenData, limit: int) -> list:
    """The split's first ``limit`` pieces through the tokenizer's own decoder (real and generated share its grid).

    Pieces that do not decode are left out. Returns ``symusic.Score`` objects.
    """
    out = []
    for i in range(min(limit, data.n_pieces)):
        result = tokenizer.try_decode(data.piece(i))
        if result.ok:
            out.append(result.score)
    return out


def check_data_dir(data_dir: Path) -> None:
    """A one-line error unless ``data_dir`` is a prepared data directory with token data."""
    DataDir(data_dir).check_tokens()


def load_data_tokenizer(data_dir: Path) -> Tokenizer:
    """The tokenizer that ``prepare --encoding`` fitted for a data directory."""
    check_data_dir(data_dir)
    return load_tokenizer(DataDir(data_dir).tokenizer_file)


def data_fingerprint(data_dir: Path) -> dict[str, Any]:
    """What a checkpoint remembers of the data it was trained on: the tokenizer's hash, its size, the split sizes."""
    layout = DataDir(data_dir)
    layout.check_tokens()
    tokenizer = layout.tokenizer_file.read_bytes()
    meta = layout.read_meta()
    try:
        splits = {s: dict(meta["splits"][s]) for s in SPLITS}
        vocab = int(meta["vocab_size"])
    except (ValueError, KeyError, TypeError):
        raise TunesmithError(f"{layout.meta_file} is damaged: prepare the corpus again") from None
    return {"tokenizer": hashlib.sha256(tokenizer).hexdigest(), "vocab_size": vocab, "splits": splits}


def check_same_data(
    data_dir: Path,
    now: dict[str, Any],
    trained_on: dict[str, Any] | None,
    tokenizer: Tokenizer,
    allow_change: bool = False,
    hint: str = "prepare it as it was",
) -> str:
    """Check that ``data_dir`` (fingerprint ``now``) is the data a checkpoint was trained on; returns the change.

    A change is a one-line error unless ``allow_change``; a vocabulary other than the checkpoint's ``tokenizer``
    is one whatever is allowed, since the ids would mean other tokens. A checkpoint that recorded no fingerprint
    (written before they were) is checked by vocabulary only.
    """
    change = describe_change(trained_on, now) if trained_on else ""
    if change and not allow_change:
        raise TunesmithError(f"{data_dir} changed since this run was trained on it ({change}): {hint}")
    if now["tokenizer"] != (trained_on or {}).get("tokenizer"):
        theirs = load_data_tokenizer(data_dir)
        if theirs.vocab != tokenizer.vocab:
            raise TunesmithError(
                f"{data_dir} has another vocabulary ({len(theirs)} tokens) than this run's checkpoint "
                f"({len(tokenizer)}): its ids mean other tokens, so it cannot be used with this run"
            )
    return change


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two fingerprints, in words (``""`` when nothing does)."""
    changes = []
    if old.get("tokenizer") != new.get("tokenizer"):
        size = (old.get("vocab_size"), new.get("vocab_size"))
        changes.append(
            f"tokenizer changed (vocabulary {size[0]} -> {size[1]})" if size[0] != size[1] else "tokenizer changed"
        )
    for split in SPLITS:
        a, b = old.get("splits", {}).get(split, {}), new.get("splits", {}).get(split, {})
        if a != b:
            changes.append(f"{split} split {a.get('tokens')} -> {b.get('tokens')} tokens")
    return ", ".join(changes)


class WindowSampler:
    """Random training windows cut from the memory map when drawn.

    ``many_to_many``: inputs ``ids[s:s+T]`` and a target at every position, ``ids[s+1:s+T+1]`` (the default);
    otherwise one target per window, ``ids[s+T]``, as the seeds trained. Pieces shorter than a window are padded
    with ``pad_id`` (targets equal to ``pad_id`` are to be ignored by the loss). ``tables`` maps a semitone shift to
    a transposition table; each window gets a random shift, or none when a token cannot be shifted.

    ``heads``: the ids of condition and header tokens (key, tempo, band, style). When given, every window keeps its
    piece's head (BOS and the control tokens after it) in front of its notes: a window cut from the middle of a song
    still says the song's key, tempo and band, so the model learns what they mean from every window, not from the
    one in a few hundred that starts at the beginning.
    """

    def __init__(
        self,
        data: TokenData,
        seq_len: int,
        batch_size: int,
        pad_id: int,
        seed: int = 0,
        many_to_many: bool = True,
        tables: dict[int, np.ndarray] | None = None,
        heads: set[int] | None = None,
    ) -> None:
        lengths = np.diff(data.bounds)
        usable = np.flatnonzero(lengths >= 2)
        if usable.size == 0:
            raise TunesmithError(f"the {data.split} split has no piece of two tokens or more")
        self.data, self.seq_len, self.batch_size, self.pad_id = data, seq_len, batch_size, pad_id
        self.many_to_many = many_to_many
        self.tables = tables or {}
        self.pieces = usable
        self.starts_per_piece = np.maximum(1, lengths[usable] - seq_len)
        self.cumulative = np.cumsum(self.starts_per_piece)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.head_lengths = np.asarray([head_length(data.piece(int(p)), heads) for p in usable]) if heads else None

    @property
    def windows(self) -> int:
        """How many distinct windows there are (an epoch's worth)."""
        return int(self.cumulative[-1])

    def window(self, k: int, shift: int = 0) -> np.ndarray:
        """Window number ``k`` (``seq_len + 1`` ids, padded), transposed by ``shift`` when possible."""
        j = int(np.searchsorted(self.cumulative, k, side="right"))
        offset = k - (int(self.cumulative[j - 1]) if j else 0)
        piece = self.data.piece(int(self.pieces[j]))
        ids = np.asarray(piece[offset : offset + self.seq_len + 1], dtype=np.int64)
        head = int(self.head_lengths[j]) if self.head_lengths is not None else 0
        if offset and 0 < head < self.seq_len:  # the piece's head, then the window's notes after it
            ids = np.concatenate([np.asarray(piece[:head], np.int64), ids[head:]])
        if ids.size < self.seq_len + 1:
            ids = np.concatenate([ids, np.full(self.seq_len + 1 - ids.size, self.pad_id, np.int64)])
        if shift and shift in self.tables:
            shifted = self.tables[shift][ids].astype(np.int64)
            if (shifted >= 0).all():
                ids = shifted
        return ids

    def batch(
        self, ks: np.ndarray | None = None, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One batch ``(x, y)``: x is (B, T); y is (B, T) many-to-many, else (B,)."""
        rng = rng if rng is not None else self.rng
        if ks is None:
            ks = rng.integers(0, self.windows, self.batch_size)
        shifts = list(self.tables)
        rows = [self.window(int(k), int(rng.choice(shifts)) if shifts else 0) for k in ks]
        w = np.stack(rows)  # (B, T + 1)
        return (w[:, :-1], w[:, 1:]) if self.many_to_many else (w[:, :-1], w[:, -1])

    def batches_per_epoch(self, max_batches: int | None = None) -> int:
        n = self.windows // self.batch_size or 1
        return min(n, max_batches) if max_batches else n

    def epoch(
        self, number: int = 0, start: int = 0, max_batches: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every window once in random order (or ``max_batches`` batches of them), from batch ``start`` on.

        The order and the transpositions depend only on ``(seed, number, batch)``, so an interrupted epoch resumes
        at any batch with exactly the batches it would have drawn.
        """
        order = np.random.default_rng((self.seed, number)).permutation(self.windows)
        for b in range(start, self.batches_per_epoch(max_batches)):
            rng = np.random.default_rng((self.seed, number, b))
            yield self.batch(order[b * self.batch_size : (b + 1) * self.batch_size], rng)


def head_length(ids: np.ndarray, controls: set[int], limit: int = 256) -> int:
    """How many ids a piece's head takes: BOS (its first id) and the control ids right after it."""
    n = 1
    for i in np.asarray(ids[1:limit], dtype=np.int64).tolist():
        if i not in controls:
            break
        n += 1
    return n


def stream_batches(
    data: TokenData, batch_size: int, seq_len: int, start: int = 0, max_batches: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Contiguous batches for stateful training: row ``b`` of batch ``t+1`` continues row ``b`` of batch ``t``.

    The split's ids (pieces joined, each between BOS and EOS) are cut into ``batch_size`` equal streams; batches
    ``start`` to ``stream_steps(...)`` are yielded.
    """
    per_row = (len(data) - 1) // batch_size
    for t in range(start, stream_steps(data, batch_size, seq_len, max_batches)):
        rows = [
            np.asarray(data.ids[b * per_row + t * seq_len : b * per_row + (t + 1) * seq_len + 1], dtype=np.int64)
            for b in range(batch_size)
        ]
        w = np.stack(rows)  # (B, T + 1), read from the memory map now
        yield w[:, :-1], w[:, 1:]


def stream_steps(data: TokenData, batch_size: int, seq_len: int, max_batches: int | None = None) -> int:
    """How many batches ``stream_batches`` yields."""
    steps = ((len(data) - 1) // batch_size) // seq_len
    if steps < 1:
        raise TunesmithError(f"the {data.split} split is too short for {batch_size} streams of {seq_len} tokens")
    return min(steps, max_batches) if max_batches else steps


def check_window(
    seq_len: int, batch_size: int, targets: str, vocab_size: int, data: TokenData, given: bool = True
) -> None:
    """A training window (``--seq-len``) must fit the pieces and the memory: one line, before any batch is drawn.

    A window longer than the longest piece is padding past its end (``--seq-len 100000`` on a corpus of 3,000-token
    songs ran for minutes to learn nothing more), refused when the window was ``given`` (a preset's default may
    exceed a corpus of short tunes); stream mode is checked by ``stream_steps``. The memory estimate counts only the
    logits of a batch and their gradients (batch x window x vocabulary x 3 floats), a lower bound.
    """
    if given and targets != "stream":
        longest = int(np.diff(data.bounds).max()) if data.n_pieces else 0
        if seq_len > longest:
            raise TunesmithError(
                f"--seq-len {seq_len} is longer than the longest training piece ({longest} tokens): the windows "
                f"would be padding; choose at most {longest}"
            )
    need = batch_size * seq_len * vocab_size * 3 * 4
    have = _physical_memory()
    if have and need > 0.8 * have:
        raise TunesmithError(
            f"--seq-len {seq_len} with --batch-size {batch_size} needs at least {need / 2**30:.1f} GiB for "
            f"the logits alone, more than this machine's {have / 2**30:.1f} GiB: choose a shorter window or batch"
        )


def _physical_memory() -> int:
    """Bytes of memory on this machine (0 when the system will not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
