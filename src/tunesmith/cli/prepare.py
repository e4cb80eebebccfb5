"""``tunesmith prepare`` and ``tunesmith inspect``: sources in, a data directory and statistics out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tunesmith.cli.common import check_output_dir, check_output_file, key_values
from tunesmith.cli.options import add_options, flag_of, given
from tunesmith.config import IngestConfig, SelectConfig
from tunesmith.encode_options import EncodeConfig
from tunesmith.encodings.options import EncodingConfig
from tunesmith.errors import TunesmithError


def _add_encoding_options(p: argparse.ArgumentParser) -> None:
    title = "encoding (writes the tokenizer and token arrays into DATA_DIR)"
    g = p.add_argument_group(title)
    g.add_argument("--encoding", metavar="NAME", help="tokenize with this encoding (see --list-encodings)")
    g.add_argument("--list-encodings", action="store_true", help="list the encodings")
    g.add_argument(
        "--encoding-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an encoding setting, e.g. grid=0.5 or mode=mono (repeatable)",
    )
    add_options(p, EncodingConfig, title=title)
    add_options(p, EncodeConfig, title=title)


def _encoding_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings for the tokenizer: ``--encoding-option`` values typed after its config's fields, then the flags."""
    import dataclasses

    from tunesmith.encodings import get_encoding

    defaults = {f.name: f.default for f in dataclasses.fields(get_encoding(args.encoding).config_class)}
    return {**key_values("--encoding-option", args.encoding_option, defaults), **given(args, EncodingConfig)}


def _settings(args: argparse.Namespace, defaults: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any]]:
    """The sources and the ingestion and selection settings: the TOML file, then ``defaults``, then the options."""
    from tunesmith.config import load_toml

    data = load_toml(args.config) if getattr(args, "config", None) else {}
    for section, values in (defaults or {}).items():
        data[section] = {**data.get(section, {}), **values}
    settings = {**data.get("ingest", {}), **data.get("select", {}), **given(args, IngestConfig)}
    settings.update(given(args, SelectConfig))
    return list(args.sources) or list(data.get("sources", [])), settings


def cmd_prepare(args: argparse.Namespace) -> int:
    """Ingest sources into a data directory."""
    from tunesmith import api
    from tunesmith.corpus.sources import list_corpora

    if args.list_corpora:
        for name, (folder, count) in list_corpora().items():
            print(f"corpus:{name:<20} {count:>6} files  {folder.name}")
        return 0
    if args.list_encodings:
        from tunesmith.encodings import ENCODINGS

        for name, cls in ENCODINGS.items():
            print(f"{name:<12} {cls.description}")
        return 0
    if args.output is None:
        raise TunesmithError("prepare needs -o DATA_DIR")
    out = Path(args.output)
    check_output_dir(out, "-o")
    encoding = None
    if args.encoding:
        encoding = EncodeConfig(args.encoding, _encoding_settings(args), **given(args, EncodeConfig))
    try:
        if args.merge:
            _check_merge_args(args)
            data = api.merge(args.merge, out, encoding=encoding, progress=not args.quiet, log=print)
        else:
            sources, settings = _settings(args)
            data = api.prepare(sources, out, encoding=encoding, progress=not args.quiet, log=print, **settings)
    except KeyboardInterrupt as exc:
        if not str(exc):
            raise
        print(exc)
        return 130
    section = (data.read_report() or {}).get("encoding")
    if section:
        splits = ", ".join(f"{k} {v['tokens']} tokens / {v['pieces']} pieces" for k, v in section["splits"].items())
        print(
            f"encoding {section['encoding']}: vocabulary {section['vocab_size']}, "
            f"coverage {section['coverage']:.2%} ({section['rare_tokens']} rare token types); {splits}"
        )
        if section["failed_pieces"]:
            print(f"  {len(section['failed_pieces'])} piece(s) could not be encoded: see {data.report_file.name}")
    print(f"wrote {data.report_file}")
    return 0


def _check_merge_args(args: argparse.Namespace) -> None:
    """``--merge`` takes its sources and settings from the shards: giving them again is a one-line error."""
    if args.sources:
        raise TunesmithError("--merge takes shard directories, not sources: the shards already name their sources")
    extra = [flag_of(cls, name) for cls in (IngestConfig, SelectConfig) for name in given(args, cls)]
    extra += ["--config"] * bool(args.config)
    if extra:
        raise TunesmithError(f"--merge uses the shards' settings: drop {', '.join(extra)}")


# --------------------------------------------------------------------------------------------------- inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    """Print statistics of a corpus, from a data directory or straight from sources."""
    from tunesmith import api
    from tunesmith.corpus.stats import format_stats, plot_stats

    if args.plot:
        check_output_file(Path(args.plot), "--plot")
    sources, settings = _settings(args)
    stats, report = api.inspect(sources, progress=not args.quiet, **settings)
    print(format_stats(stats, report, top=args.top))
    if args.plot:
        plot_stats(stats, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prepare`` and ``inspect`` to the command line."""
    p = sub.add_parser(
        "prepare",
        help="ingest MIDI, ABC, MusicXML, Humdrum or corpus:NAME into a data directory",
        description="Parse sources in parallel worker processes (a per-file time limit; bad files are skipped "
        "and reported, never fatal), choose tracks, and write DATA_DIR/pieces, pieces.jsonl and report.json.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="file, folder (recursive), glob, or corpus:NAME")
    p.add_argument("-o", "--output", metavar="DATA_DIR", help="where to write the prepared corpus")
    p.add_argument("--config", metavar="FILE.toml", help="settings file; options given here override it")
    p.add_argument("--list-corpora", action="store_true", help="list the named sets of the bundled music21 corpus")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="SHARD_DIR",
        help="join the data directories of prepare --shard 1/N .. N/N into DATA_DIR (the same corpus as one prepare; "
        "--encoding here)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_options(p, IngestConfig, title="ingestion")
    add_options(p, SelectConfig, title="instrument selection")
    _add_encoding_options(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "inspect",
        help="corpus statistics: instruments, ranges, distributions, frequent notes/chords",
        description="Print statistics of a prepared DATA_DIR, or of SOURCEs read on the fly (all tracks).",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE|DATA_DIR")
    p.add_argument("--plot", metavar="FILE.png", help="draw the histograms into FILE.png")
    p.add_argument("--top", type=int, default=15, metavar="N", help="how many frequent notes/chords to list")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(config=None)
    add_options(p, IngestConfig, title="ingestion")
    p.set_defaults(func=cmd_inspect)
