"""Sharded ``prepare``: the K-th of N slices of the source files parsed into its own data directory, then merged.

``prepare SOURCE... --shard K/N -o SHARD_DIR`` resolves the sources exactly as one prepare would (the same sorted
file list, ``--sample`` and ``--max-files`` applied first), keeps the K-th of N contiguous slices of it and ingests
those files into SHARD_DIR. Shards can run at the same time on different machines (they share nothing but the
sources; a shared parse cache is fine). ``prepare --merge SHARD_DIR... -o DATA_DIR`` lays the shards' pieces end to
end in slice order and marks files repeated across shards as duplicates, which gives the same ``pieces.bin`` and
``pieces.jsonl`` byte for byte as one prepare of all the files (the writer keeps source order, and a duplicate's
bytes stay in ``pieces.bin`` there too, unreferenced). The split and the vocabulary need the whole corpus, so
``--encoding`` goes with ``--merge``, never with ``--shard``: the merged corpus is encoded by the same code as one
prepare's, so its token files are identical too.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tunesmith.atomic import replace_directory
from tunesmith.config import PrepareConfig, dump_toml, from_dict, load_toml
from tunesmith.corpus.pieces import is_data_dir, kept_pieces, verify_corpus, write_checksums, write_manifest
from tunesmith.errors import TunesmithError
from tunesmith.layout import DataDir
from tunesmith.locks import exclusive, shared

T = TypeVar("T")


def shard_bounds(total: int, k: int, n: int) -> tuple[int, int]:
    """The [start, end) of the K-th of N contiguous slices of ``total`` items (sizes differ by one at most)."""
    return (k - 1) * total // n, k * total // n


def take_shard(items: list[T], k: int, n: int) -> list[T]:
    """The K-th of N contiguous slices of ``items``."""
    start, end = shard_bounds(len(items), k, n)
    return items[start:end]


def _read_shard(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shard's report and settings; one-line errors for anything that is not a whole shard."""
    if not path.is_dir() or not is_data_dir(path):
        raise TunesmithError(f"--merge {path}: not a data directory made by `tunesmith prepare --shard K/N`")
    verify_corpus(path, hashes=False)
    try:
        report = DataDir(path).read_report()
        settings = load_toml(DataDir(path).settings_file)
    except (OSError, ValueError, TunesmithError):
        raise TunesmithError(f"--merge {path}: its report or settings are missing or damaged: redo it") from None
    if not report.get("shard"):
        raise TunesmithError(f"--merge {path}: a whole corpus, not a shard (made without --shard K/N)")
    return report, settings


def merge_shards(
    shard_dirs: list[Path],
    out_dir: Path,
    progress: bool = True,
    finish: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Merge shard data directories into ``out_dir``; returns the report (also ``out_dir/report.json``).

    The shards must be the N slices of one prepare (same sources and settings), each given once, in any order.
    ``out_dir`` is written as one transaction under its exclusive lock while the shards are held with shared
    locks; ``finish(build_dir, report)`` adds to it before it is committed, as in ``prepare_corpus``.
    """
    from tunesmith.corpus.ingest import mark_duplicate
    from tunesmith.corpus.prepare import build_report, check_output_dir

    started = time.perf_counter()
    paths = [Path(p).absolute() for p in shard_dirs]
    if not paths:
        raise TunesmithError("--merge needs the shard directories")
    out_dir = Path(out_dir).absolute()
    if out_dir in paths:
        raise TunesmithError(f"-o {out_dir} is one of the shards: merge into another directory")
    check_output_dir(out_dir)
    with contextlib.ExitStack() as stack:
        for path in paths:
            if path.is_dir():
                stack.enter_context(shared(path, "prepare --merge"))
        shards = [(path, *_read_shard(path)) for path in paths]
        shards.sort(key=lambda s: s[1]["shard"]["index"])
        config = _check_shards(shards)
        stack.enter_context(exclusive(out_dir, "prepare --merge"))
        build = stack.enter_context(replace_directory(out_dir))
        records: list[dict[str, Any]] = []
        with open(DataDir(build).pieces_file, "wb") as out:
            for path, report, _settings in shards:
                base = out.tell()
                for record in report["files"]:
                    for piece in record.get("pieces", ()):
                        piece["offset"] += base
                    records.append(record)
                with open(DataDir(path).pieces_file, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        first: dict[str, str] = {}
        for record in records:
            mark_duplicate(record, first)  # a file repeated in two shards
        entries = kept_pieces(records)
        if not entries:
            raise TunesmithError(f"the {len(shards)} shards kept no piece: nothing to merge")
        write_manifest(build, entries)
        found = shards[0][1]["summary"]["files_found"]
        merged = build_report(config, found, records, entries, time.perf_counter() - started)
        merged["merged_from"] = [str(path) for path, _r, _s in shards]
        if finish is not None:  # it may add to the report, which is written once, after
            finish(build, merged)
        DataDir(build).write_report(merged)
        dump_toml(config, DataDir(build).settings_file)
        write_checksums(build)
    merged["committed"] = True
    return merged


def _check_shards(shards: list[tuple[Path, dict[str, Any], dict[str, Any]]]) -> PrepareConfig:
    """The settings the shards share (with the shard cleared); one line naming the first shard that differs."""
    count = shards[0][1]["shard"]["count"]
    indexes = [report["shard"]["index"] for _p, report, _s in shards]
    if sorted(indexes) != list(range(1, count + 1)) or any(r["shard"]["count"] != count for _p, r, _s in shards):
        have = ", ".join(f"{r['shard']['index']}/{r['shard']['count']}" for _p, r, _s in shards)
        raise TunesmithError(f"--merge needs each of the shards 1/{count} .. {count}/{count} once; got {have}")
    common = None
    for path, _report, settings in shards:
        settings = json.loads(json.dumps(settings))  # a deep copy
        settings.get("ingest", {}).pop("shard", None)
        if common is None:
            common = settings
        elif settings != common:
            raise TunesmithError(f"--merge {path}: prepared with other sources or settings than {shards[0][0]}")
    return from_dict(PrepareConfig, common)


def shard_record(k: int, n: int, total: int) -> dict[str, int]:
    """What a shard's report says about its slice."""
    start, end = shard_bounds(total, k, n)
    return {"index": k, "count": n, "first_file": start, "files": end - start}
