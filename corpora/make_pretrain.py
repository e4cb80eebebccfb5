"""Convert every collection that ships without a download into ``corpora/pretrain``: standard MIDI files.

The ``pretrain`` recipe reads this folder. music21 parses MusicXML, Humdrum and ABC slowly (many minutes on two
cores for the whole corpus), so the conversion is done once by this script and its output is committed: the recipe
starts in seconds. Run it again after a music21 update::

    .venv/bin/python corpora/make_pretrain.py

It converts through ``tunesmith prepare`` (parallel, a time limit per file, bad files skipped and reported), one
collection at a time, and writes ``corpora/pretrain/COLLECTION/NAME_SUFFIX.mid`` (a file with several tunes, as the
folk collections' ABC files are, gives ``NAME_SUFFIX-K.mid`` for its K-th tune), and ``corpora/pretrain/report.json``
(the collections, their files, pieces and skipped files, named as a reader finds them: ``music21/corpus/...``,
``../shared/...``). The folder is replaced only once the new one is complete.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tunesmith import api
from tunesmith.atomic import replace_directory
from tunesmith.corpus.pieces import read_manifest, read_midi_blobs
from tunesmith.corpus.sources import CORPUS_PREFIX, music21_corpus_root

ROOT = Path(__file__).resolve().parent
TARGET = ROOT / "pretrain"
JSB = ROOT.parent.parent / "shared" / "data" / "jsb" / "jsb-chorales-16th.json"
# Collection (folder name) -> sources: the music21 corpus's sets of more than a few pieces, and JSB. Left out: the
# 1,318 Palestrina masses (Humdrum) and the 1,059 tunes of Ryan's Mammoth Collection (ABC), which alone would take
# most of an hour of music21 parsing on two cores; the folk-charrnn recipe trains on Ryan's tunes as ABC text.
COLLECTIONS = {
    "bach": ["corpus:bach"],
    "monteverdi": ["corpus:monteverdi"],
    "josquin": ["corpus:josquin"],
    "trecento": ["corpus:trecento"],
    "classical": [
        "corpus:beethoven",
        "corpus:mozart",
        "corpus:haydn",
        "corpus:schumann_robert",
        "corpus:schumann_clara",
        "corpus:chopin",
        "corpus:joplin",
    ],
    "essen": ["corpus:essen"],
    "oneills": ["corpus:oneills"],
    "nottingham": ["corpus:nottingham"],
    "jsb": [str(JSB)],
}


def _name(source: str) -> str:
    """A file name from a source file's name: anything but letters, digits, ``-`` and ``_`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(source).stem)


def _shown(source: str) -> str:
    """A source as a reader finds it, never by this machine's absolute path.

    ``corpus:NAME`` stays; a file of music21's is ``music21/corpus/...``, any other is relative to the repository
    (``../shared/...``).
    """
    if not source or source.startswith(CORPUS_PREFIX):
        return source
    path, package = Path(source).resolve(), music21_corpus_root().parent
    if path.is_relative_to(package):
        return f"music21/{path.relative_to(package).as_posix()}"
    return Path(os.path.relpath(path, ROOT.parent)).as_posix()


def convert(collection: str, sources: list[str], out: Path, work: Path) -> dict:
    """Prepare ``sources`` (tracks merged, drums kept) and write each piece as a MIDI file in ``out/collection``."""
    data = api.prepare(sources, work / collection, instruments="merge", drums="keep", progress=True)
    entries = read_manifest(data.path)
    folder = out / collection
    folder.mkdir(parents=True)
    by_source: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        by_source[entry["source"]].append(entry)
    used: set[str] = set()
    for source, pieces in sorted(by_source.items()):
        stem = _name(Path(source).name)  # bwv277.krn and bwv277.mxl are two files
        if stem in used:
            stem = _name(f"{Path(source).parent.name}_{Path(source).name}")
        used.add(stem)
        for k, blob in enumerate(read_midi_blobs(data.path, pieces), start=1):
            (folder / (f"{stem}-{k}.mid" if len(pieces) > 1 else f"{stem}.mid")).write_bytes(blob)
    report = data.read_report() or {}
    skipped = [f for f in report.get("files", []) if f.get("status") != "kept"]
    return {
        "sources": [_shown(s) for s in sources],
        "files": len(report.get("files", [])),
        "pieces": len(entries),
        "skipped": [
            {"path": _shown(f.get("path", "")), "reason": f.get("reason"), "detail": f.get("detail")} for f in skipped
        ],
    }


def main() -> int:
    """Convert every collection; 1 when the JSB Chorales are missing."""
    missing = [s for sources in COLLECTIONS.values() for s in sources if not s.startswith("corpus:")]
    missing = [s for s in missing if not Path(s).is_file()]
    if missing:
        print(f"missing: {', '.join(missing)} (the JSB Chorales of ../shared/data/jsb)", file=sys.stderr)
        return 1
    summary = {}
    with tempfile.TemporaryDirectory() as tmp, replace_directory(TARGET) as build:
        for collection, sources in COLLECTIONS.items():
            summary[collection] = convert(collection, sources, build, Path(tmp))
            print(f"{collection}: {summary[collection]['pieces']} pieces", flush=True)
        (build / "report.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{sum(c['pieces'] for c in summary.values())} pieces in {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
