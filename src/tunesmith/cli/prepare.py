"""``tunesmith prepare`` and ``tunesmith inspect``: sources in, a data directory and statistics out."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from tunesmith.cli.common import check_output_dir, check_output_file, coerce, given
from tunesmith.errors import TunesmithError

_INGEST_OPTIONS = ["workers", "file_timeout", "max_files", "sample", "seed", "cache_dir", "shard"]
_SELECT_OPTIONS = ["instruments", "min_notes", "programs", "drums"]


def _add_ingest_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ingestion")
    g.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    g.add_argument("--file-timeout", type=float, metavar="S", help="abandon a file after S seconds (default 30)")
    g.add_argument("--max-files", type=int, metavar="N", help="take at most N files")
    g.add_argument("--sample", type=int, metavar="N", help="a random subset of N files (see --seed)")
    g.add_argument("--seed", type=int, help="seed for --sample (default 0)")
    g.add_argument("--cache-dir", metavar="DIR", help="parse cache (default $TUNESMITH_CACHE or ~/.cache/tunesmith)")
    g.add_argument("--no-cache", action="store_true", help="parse every file, read and write no cache")
    g.add_argument(
        "--shard",
        metavar="K/N",
        help="only the K-th of N slices of the sorted file list, into its own DATA_DIR (join them with --merge)",
    )


def _add_select_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("instrument selection")
    g.add_argument(
        "--instruments",
        choices=["dominant", "all", "merge"],
        help="dominant: the pitched track with most notes; all: each track with --min-notes as its own example; "
        "merge: all kept tracks in one example (default dominant)",
    )
    g.add_argument("--min-notes", type=int, metavar="N", help="least notes for a track to count (default 5)")
    g.add_argument("--programs", metavar="LIST", help="keep only these General MIDI programs, e.g. 0-7,73")
    g.add_argument("--drums", choices=["drop", "keep"], help="drum tracks (default drop)")


def _add_encoding_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoding (writes the tokenizer and token arrays into DATA_DIR)")
    g.add_argument("--encoding", metavar="NAME", help="tokenize with this encoding (see --list-encodings)")
    g.add_argument("--list-encodings", action="store_true", help="list the encodings")
    g.add_argument(
        "--encoding-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an encoding setting, e.g. grid=0.5 or mode=mono (repeatable)",
    )
    g.add_argument("--min-token-count", type=int, metavar="K", help="tokens seen fewer times are rare (default 1)")
    g.add_argument("--rare", choices=["unk", "nearest"], help="map rare tokens to UNK or the nearest frequent one")
    g.add_argument("--style-tokens", action="store_true", help="one token per style label (folder) as a condition")
    g.add_argument("--split", default="0.8,0.1,0.1", metavar="F,F,F", help="train,valid,test fractions by song")
    g.add_argument("--transpose", metavar="LO..HI", help="transposition augmentation range, e.g. -5..6")
    g.add_argument("--augment-at", choices=["fly", "prepare"], default="fly", help="transpose while training or now")


def _encoding_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings for the tokenizer: ``--encoding-option`` values coerced to the config field's type."""
    import dataclasses

    from tunesmith.encodings import get_encoding

    cls = get_encoding(args.encoding).config_class
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settings: dict[str, Any] = {}
    for option in args.encoding_option:
        key, sep, value = option.partition("=")
        if not sep or key not in fields:
            known = ", ".join(sorted(fields))
            raise TunesmithError(f"bad --encoding-option {option!r}: KEY=VALUE with KEY one of {known}")
        settings[key] = coerce("--encoding-option", key, value, fields[key].default)
    for key in ("min_token_count", "rare"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.style_tokens:
        settings["style_tokens"] = True
    return settings


def _prepare_config(args: argparse.Namespace, defaults: dict[str, Any] | None = None):
    from tunesmith.config import IngestConfig, PrepareConfig, SelectConfig, from_dict, load_toml

    data = load_toml(args.config) if getattr(args, "config", None) else {}
    data.update(defaults or {})
    ingest = {**data.get("ingest", {}), **given(args, _INGEST_OPTIONS)}
    if args.no_cache:
        ingest["use_cache"] = False
    select = {**data.get("select", {}), **given(args, _SELECT_OPTIONS)}
    sources = list(args.sources) or list(data.get("sources", []))
    return PrepareConfig(sources, from_dict(IngestConfig, ingest), from_dict(SelectConfig, select))


def cmd_prepare(args: argparse.Namespace) -> int:
    """Ingest sources into a data directory."""
    from tunesmith.corpus.pieces import is_data_dir
    from tunesmith.corpus.prepare import format_summary, prepare_corpus
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
    if args.merge:
        _check_merge_args(args)
    else:
        config = _prepare_config(args)
        if config.ingest.shard and args.encoding:
            raise TunesmithError(
                "--encoding goes with --merge, not --shard: the split and vocabulary are fitted on the whole corpus"
            )
    out = Path(args.output)
    check_output_dir(out, "-o")
    finish = None
    if args.encoding:  # check every encoding option before the corpus is read
        from tunesmith.data import EncodeSettings, encode_dataset, parse_split, parse_transpose
        from tunesmith.encodings import make_tokenizer

        tokenizer = make_tokenizer(args.encoding, **_encoding_settings(args))
        split, transpose = parse_split(args.split), parse_transpose(args.transpose)

        def finish(build: Path, report: dict[str, Any]) -> None:  # runs before the new corpus replaces the old
            print(format_summary(report))
            seed = report["settings"]["ingest"]["seed"]  # --seed (a merge: the shards')
            encode = EncodeSettings(split, seed, transpose, args.augment_at)
            report["encoding"] = encode_dataset(build, tokenizer, encode, progress=not args.quiet)

    if args.merge:
        from tunesmith.corpus.shards import merge_shards

        report = merge_shards([Path(p) for p in args.merge], out, progress=not args.quiet, finish=finish)
    else:
        report = prepare_corpus(config, out, progress=not args.quiet, finish=finish)
    if finish is None or not report["committed"]:
        print(format_summary(report))
    kept = "the previous corpus there is unchanged" if is_data_dir(out) else "nothing was written"
    if report["summary"]["files_interrupted"]:
        print(f"interrupted: {out} not written ({kept})")
        return 130
    if not report["committed"]:
        raise TunesmithError(f"no piece was kept from {report['summary']['files_considered']} file(s); {kept}")
    section = report.get("encoding")
    if section:
        splits = ", ".join(f"{k} {v['tokens']} tokens / {v['pieces']} pieces" for k, v in section["splits"].items())
        print(
            f"encoding {section['encoding']}: vocabulary {section['vocab_size']}, "
            f"coverage {section['coverage']:.2%} ({section['rare_tokens']} rare token types); {splits}"
        )
        if section["failed_pieces"]:
            print(f"  {len(section['failed_pieces'])} piece(s) could not be encoded: see report.json")
    print(f"wrote {out / 'report.json'}")
    return 0


def _check_merge_args(args: argparse.Namespace) -> None:
    """``--merge`` takes its sources and settings from the shards: giving them again is a one-line error."""
    if args.sources:
        raise TunesmithError("--merge takes shard directories, not sources: the shards already name their sources")
    extra = [f"--{name.replace('_', '-')}" for name in [*_INGEST_OPTIONS, *_SELECT_OPTIONS] if given(args, [name])]
    extra += ["--config"] * bool(args.config) + ["--no-cache"] * args.no_cache
    if extra:
        raise TunesmithError(f"--merge uses the shards' settings: drop {', '.join(extra)}")


# --------------------------------------------------------------------------------------------------- inspect
def cmd_inspect(args: argparse.Namespace) -> int:
    """Print statistics of a corpus, from a data directory or straight from sources."""
    import json

    from tunesmith.corpus.pieces import REPORT, is_data_dir, load_pieces, verify_corpus
    from tunesmith.corpus.prepare import prepare_corpus
    from tunesmith.corpus.stats import corpus_stats, format_stats, plot_stats
    from tunesmith.locks import shared

    if args.plot:
        check_output_file(Path(args.plot), "--plot")
    if len(args.sources) == 1 and Path(args.sources[0]).is_dir() and is_data_dir(Path(args.sources[0])):
        data_dir = Path(args.sources[0])
        with shared(data_dir, "inspect"):
            verify_corpus(data_dir, hashes=False)
            report = json.loads((data_dir / REPORT).read_text()) if (data_dir / REPORT).is_file() else None
            pieces = load_pieces(data_dir)
    else:
        # Describe everything in the sources: all tracks of a song, drums included.
        config = _prepare_config(args, {"select": {"instruments": "merge", "drums": "keep", "min_notes": 1}})
        with tempfile.TemporaryDirectory(prefix="tunesmith-inspect-") as tmp:
            report = prepare_corpus(config, Path(tmp) / "data", progress=not args.quiet)
            pieces = load_pieces(Path(tmp) / "data") if report["committed"] else []
    if not pieces:
        raise TunesmithError("no piece to inspect: every file was skipped (run prepare to see why)")
    stats = corpus_stats(pieces)
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
    _add_ingest_options(p)
    _add_select_options(p)
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
    p.set_defaults(config=None, no_cache=False, **dict.fromkeys(_SELECT_OPTIONS))
    _add_ingest_options(p)
    p.set_defaults(func=cmd_inspect)
