"""Turning SOURCE arguments (files, folders, globs, ``corpus:NAME``) into a sorted list of source files."""

from __future__ import annotations

import glob
import os
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from tunesmith.errors import TunesmithError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".xml", ".mxl", ".musicxml")
HUMDRUM_SUFFIXES = (".krn",)
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES + HUMDRUM_SUFFIXES

CORPUS_PREFIX = "corpus:"
# Short names for the folders of the music21 corpus whose own names are long.
CORPUS_ALIASES = {
    "essen": "essenFolksong",
    "oneills": "oneills1850",
    "ryans": "ryansMammoth",
    "nottingham": "nottingham-dataset",
    "airds": "airdsAirs",
}


@dataclass(frozen=True)
class SourceFile:
    """One file to ingest, with the style label its pieces will carry."""

    path: Path
    style: str

    @cached_property  # asked for several times per file on the way through ingest
    def format(self) -> str | None:
        """``midi``, ``abc``, ``musicxml`` or ``humdrum``; ``None`` for an unsupported suffix."""
        return source_format(self.path)


def source_format(path: Path | str) -> str | None:
    """The format a file is read as, from its suffix in any letter case; ``None`` when unsupported."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()  # Path(path).suffix, without building a Path
    if suffix in MIDI_SUFFIXES:
        return "midi"
    if suffix in ABC_SUFFIXES:
        return "abc"
    if suffix in MUSICXML_SUFFIXES:
        return "musicxml"
    if suffix in HUMDRUM_SUFFIXES:
        return "humdrum"
    if suffix == ".json":  # only when named directly: the JSB Chorales benchmark files
        return "jsb"
    return None


def music21_corpus_root() -> Path:
    """The folder of the corpus that ships inside the music21 package."""
    import music21.corpus

    return Path(music21.corpus.__file__).parent


@cache
def list_corpora() -> dict[str, tuple[Path, int]]:
    """Named sets of the bundled music21 corpus: name -> (folder, number of supported files)."""
    root = music21_corpus_root()
    found: dict[str, tuple[Path, int]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        count = sum(1 for _found in _scan_entries(folder))
        if count:
            found[folder.name] = (folder, count)
    for alias, name in CORPUS_ALIASES.items():
        if name in found:
            found[alias] = found[name]
    return found


def _scan_folder(folder: Path) -> list[tuple[Path, bool]]:
    """``(path, is_link)`` of the supported files under ``folder`` at any depth, in ``Path`` order.

    Linked folders are not entered (as ``Path.rglob``). ``os.scandir`` gives each entry's type with its name, so only
    a link costs a ``stat`` (``rglob`` and ``is_file`` cost one or two a file, which a corpus of 100,000 files
    notices), and the paths are sorted as strings split at ``/``: ``Path``'s own order, without its comparisons.
    """
    found = sorted(_scan_entries(folder), key=lambda item: item[0].split(os.sep))
    return [(Path(name), link) for name, link in found]


def _scan_entries(folder: Path) -> Iterator[tuple[str, bool]]:
    """``(path, is_link)`` of the supported files under ``folder``, in no particular order."""
    stack = [os.fspath(folder)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() in SUPPORTED_SUFFIXES and entry.is_file():
                    yield entry.path, entry.is_symlink()


def _corpus_files(name: str) -> list[Path]:
    corpora = list_corpora()
    if name not in corpora:
        raise TunesmithError(
            f"unknown corpus {CORPUS_PREFIX}{name}: see `tunesmith prepare --list-corpora` for the named sets"
        )
    return [path for path, _link in _scan_folder(corpora[name][0])]


def resolve_sources(sources: list[str]) -> list[SourceFile]:
    """Expand SOURCE arguments into unique source files, sorted by path within each argument.

    A folder is searched recursively for supported suffixes in any letter case; a file named directly is kept
    whatever its suffix (an unsupported one is reported later, not dropped silently). A file's style label is its
    folder's name, or for ``corpus:NAME`` the name (so ``corpus:mozart`` pieces are labelled ``mozart``).
    """
    if not sources:
        raise TunesmithError("no SOURCE given: name files, folders, globs or corpus:NAME")
    files: list[SourceFile] = []
    seen: set[str] = set()
    folders: dict[str, str] = {}  # a folder -> its resolved path

    def add(path: Path, style: str | None = None, link: bool | None = None) -> None:
        # The file's resolved path, resolving each folder once (a corpus is many files in a few folders) and in
        # strings (pathlib costs more than the stat). ``link``: whether the file is a symbolic link, where known.
        name = os.fspath(path)
        folder, base = os.path.split(name)
        if os.path.islink(name) if link is None else link:
            key = os.path.realpath(name)
        else:
            real = folders.get(folder)
            if real is None:
                real = folders[folder] = os.path.realpath(folder or ".")
            key = os.path.join(real, base)
        if key not in seen:
            seen.add(key)
            files.append(SourceFile(path=path, style=style or os.path.basename(folder) or "default"))

    for source in sources:
        if source.startswith(CORPUS_PREFIX):
            name = source[len(CORPUS_PREFIX) :]
            for path in _corpus_files(name):
                add(path, style=name.split("/")[0])  # the corpus name (a composer, a collection) is the label
            continue
        path = Path(source)
        try:  # one lstat for is_dir(), exists() and islink(); a link is followed
            mode = os.lstat(source).st_mode
            link = stat.S_ISLNK(mode)
            if link:
                mode = os.stat(source).st_mode
        except (OSError, ValueError):
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            for found, found_link in _scan_folder(path):
                add(found, link=found_link)
        elif mode is not None:
            add(path, link=link)
        elif glob.has_magic(source):
            matches = sorted(Path(m) for m in glob.glob(source, recursive=True))
            if not matches:
                raise TunesmithError(f"no file matches {source!r}")
            for match in matches:
                if match.is_dir():
                    for found, found_link in _scan_folder(match):
                        add(found, link=found_link)
                else:
                    add(match)
        else:
            raise TunesmithError(f"no such file, folder or corpus: {source}")
    return files


def subset(files: list[SourceFile], sample: int | None, max_files: int | None, seed: int) -> list[SourceFile]:
    """A random sample of ``sample`` files (seeded, kept in path order), then at most ``max_files``."""
    if sample is not None and sample < len(files):
        chosen = sorted(random.Random(seed).sample(range(len(files)), sample))
        files = [files[i] for i in chosen]
    if max_files is not None:
        files = files[:max_files]
    return files
