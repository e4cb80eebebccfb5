"""``tunesmith prepare``: sources in, a prepared data directory with its report out."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.atomic import replace_directory
from tunesmith.config import PrepareConfig, dump_toml, parse_shard, to_dict
from tunesmith.corpus.ingest import ingest_files
from tunesmith.corpus.pieces import is_data_dir, kept_pieces, report_text, write_checksums
from tunesmith.corpus.shards import shard_record, take_shard
from tunesmith.corpus.sources import resolve_sources, subset
from tunesmith.errors import TunesmithError
from tunesmith.layout import DataDir
from tunesmith.locks import exclusive

SKIP_REASONS = (
    "corrupt",
    "empty",
    "no notes after selection",
    "timeout",
    "crashed",
    "unsupported format",
    "unreadable",
    "duplicate",
)


def prepare_corpus(
    config: PrepareConfig,
    out_dir: Path,
    progress: bool = True,
    finish: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Ingest ``config.sources`` into ``out_dir``; returns the report (also written to ``out_dir/report.json``).

    The corpus is a transaction: it is built in a temporary sibling under ``out_dir``'s exclusive lock and takes
    ``out_dir``'s place only once complete, so the previous corpus stays whole and readable until then and is kept
    as it was when the new one fails, is interrupted or keeps no piece (then ``report["committed"]`` is false).
    ``finish(build_dir, report)`` adds to the new corpus before it is committed (``prepare --encoding`` writes the
    tokenizer and token arrays there, and its section of the report, which is written after it); an exception in it
    abandons the new corpus.
    """
    started = time.perf_counter()
    files = resolve_sources(config.sources)
    found = len(files)
    files = subset(files, config.ingest.sample, config.ingest.max_files, config.ingest.seed)
    shard = parse_shard(config.ingest.shard)
    considered = len(files)
    if shard is not None:
        files = take_shard(files, *shard)
    out_dir = Path(out_dir).absolute()
    check_output_dir(out_dir)
    report: dict[str, Any] = {}
    try:
        with exclusive(out_dir, "prepare"), replace_directory(out_dir) as build:
            # The manifest is written as the files come in, repeated files marked on the way.
            records, written, manifest_lines = ingest_files(files, build, config.ingest, config.select, progress)
            entries = kept_pieces(records)
            report = build_report(config, found, records, entries, time.perf_counter() - started)
            if shard is not None:  # a shard that keeps nothing is still a shard: the merge needs every one
                report["shard"] = shard_record(*shard, considered)
            if report["summary"]["files_interrupted"] or not (entries or shard):
                raise _Abandon
            if finish is not None:  # it may add to the report (the encoding section), which is written once, after
                finish(build, report)
            # No indent: the C encoder is ten times faster, and the report of a large corpus is large.
            DataDir(build).write_report(report, report_text(report, manifest_lines))
            dump_toml(config, DataDir(build).settings_file)
            write_checksums(build, written)
    except _Abandon:
        report["committed"] = False
        return report
    report["committed"] = True
    return report


class _Abandon(Exception):
    """The new corpus is incomplete or empty: leave the previous one in place."""


def check_output_dir(out_dir: Path) -> None:
    """``out_dir`` must be new, empty or a prepared corpus: prepare replaces it whole, so anything else is refused."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TunesmithError(f"{out_dir} is a file, not a directory: give prepare a directory with -o")
    if out_dir.is_dir() and not is_data_dir(out_dir) and any(out_dir.iterdir()):
        raise TunesmithError(
            f"{out_dir} holds files but no prepared corpus: prepare replaces its output directory whole, "
            "so give it a new or empty directory"
        )


def build_report(
    config: PrepareConfig, found: int, records: list[dict[str, Any]], entries: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """The report: a summary, the skips grouped by reason, and every file with its kept tracks."""
    skipped = [r for r in records if r["status"] == "skipped"]
    summary = {
        "files_found": found,
        "files_considered": len(records),
        "files_kept": sum(r["status"] == "kept" for r in records),
        "files_skipped": len(skipped),
        "files_interrupted": sum(r["status"] == "interrupted" for r in records),
        "parsed": sum(r["status"] != "interrupted" and not r.get("cached", False) for r in records),
        "from_cache": sum(bool(r.get("cached")) for r in records),
        "pieces": len(entries),
        "tracks": sum(len(e["tracks"]) for e in entries),
        "notes": sum(e["notes"] for e in entries),
        "seconds": round(seconds, 3),
    }
    return {
        "summary": summary,
        "skipped_by_reason": dict(Counter(r["reason"] for r in skipped)),
        "settings": to_dict(config),
        "files": records,
    }


def format_summary(report: dict[str, Any], limit: int = 20) -> str:
    """The summary printed after ``prepare``: counts, then each skipped file with its reason."""
    s = report["summary"]
    lines = [
        f"files: {s['files_found']} found, {s['files_considered']} considered, {s['files_kept']} kept, "
        f"{s['files_skipped']} skipped ({s['parsed']} parsed, {s['from_cache']} from cache)",
        f"kept: {s['pieces']} pieces, {s['tracks']} tracks, {s['notes']} notes in {s['seconds']:.2f} s",
    ]
    if s["files_interrupted"]:
        lines.append(f"interrupted: {s['files_interrupted']} files not processed; rerun to finish (parses are cached)")
    skipped = [r for r in report["files"] if r["status"] == "skipped"]
    for record in skipped[:limit]:
        detail = f" ({record['detail']})" if record.get("detail") else ""
        lines.append(f"  skipped {record['path']}: {record['reason']}{detail}")
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more skipped files: see {DataDir.REPORT}")
    return "\n".join(lines)
