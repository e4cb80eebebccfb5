"""Commands that run no model start without torch: the parsers are built from light config modules.

One fresh interpreter runs the commands one after another through ``tunesmith.cli.main``. An import hook put first
on ``sys.meta_path`` notes every ``torch`` module asked for, in that process and in the parse workers it forks (they
inherit the hook), so a worker that loaded torch would be caught as well as the command itself. At the end the
script asks for torch's module spec in itself and in a forked child, to show that the hook sees both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from musicgen import write_song

SCRIPT = r"""
import json, os, sys
from importlib.abc import MetaPathFinder

log, commands, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]


class NoteTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {name}\n")
        return None  # the import goes on as usual: only noted


sys.meta_path.insert(0, NoteTorch())
from tunesmith.cli import build_parser, main

build_parser()
heavy = [name for name in ("numpy", "symusic", "music21", "matplotlib", "miditok") if name in sys.modules]
results = [["build_parser", 0, "torch" in sys.modules, os.path.exists(log)]]
for argv in commands:
    try:
        code = main(argv)
    except SystemExit as exc:  # --help
        code = exc.code
    results.append([" ".join(argv[:2]), code, "torch" in sys.modules, os.path.exists(log)])

# The hook itself: asking for torch's spec (without loading it), here and in a forked child, is noted with both pids.
import importlib.util

child = os.fork()
if child == 0:
    importlib.util.find_spec("torch")
    os._exit(0)
os.waitpid(child, 0)
importlib.util.find_spec("torch")
with open(out, "w") as f:
    json.dump({"results": results, "heavy": heavy, "pids": [os.getpid(), child]}, f)
"""


def test_commands_without_a_model_never_import_torch(tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    for i in range(4):
        write_song(songs / ("folk" if i % 2 else "jazz") / f"s{i}.mid", seed=i)
    data, merged, png_dir = tmp_path / "data", tmp_path / "merged", tmp_path / "png"
    shards = [tmp_path / "shard1", tmp_path / "shard2"]
    without_torch = [
        ["--help"],
        ["prepare", "--help"],
        ["train", "--help"],
        ["generate", "--help"],
        ["evaluate", "--help"],
        ["prepare", str(songs), "-o", str(data), "--workers", "2", "-q"],  # parsed in two forked workers
        ["prepare", str(songs), "-o", str(shards[0]), "--shard", "1/2", "-q"],
        ["prepare", str(songs), "-o", str(shards[1]), "--shard", "2/2", "-q"],
        ["prepare", "--merge", *map(str, shards), "-o", str(merged), "--encoding", "notechord", "-q"],
        ["prepare", "--list-encodings"],
        ["inspect", str(data), "-q"],
        ["render", str(songs / "jazz" / "s0.mid"), "--png", "-o", str(png_dir)],
        ["run", "--list"],
        ["train", "--list-models"],
    ]
    log, out = tmp_path / "torch.log", tmp_path / "results.json"
    args = [sys.executable, "-c", SCRIPT, str(log), json.dumps(without_torch), str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())

    assert len(written["results"]) == len(without_torch) + 1  # build_parser, then each command
    for label, code, torch_loaded, noted in written["results"]:
        assert code == 0, f"{label}: exit {code}\n{done.stderr}"
        assert not torch_loaded and not noted, f"{label} imported torch: {log.read_text() if noted else ''}"
    assert written["heavy"] == []  # nor numpy and symusic: building the parsers reads only the light config modules
    assert sorted(int(line.split()[0]) for line in log.read_text().splitlines()) == sorted(written["pids"])

    report = json.loads((data / "report.json").read_text())
    assert report["summary"]["files_kept"] == 4
    assert json.loads((merged / "report.json").read_text())["encoding"]["encoding"] == "notechord"
    assert (merged / "tokenizer.json").is_file()
    assert (png_dir / "s0.png").stat().st_size > 0
