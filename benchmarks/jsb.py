"""The classic polyphonic benchmark: JSB Chorales at quarter-note resolution, NLL per time step on the test split.

Run: ``make bench-jsb`` (or ``.venv/bin/python benchmarks/jsb.py``). Writes ``benchmarks/results/jsb.json``.
It runs ``recipes/jsb-polyphonic.toml`` (``tunesmith run``): the standard train split of ../shared/data/jsb
(Boulanger-Lewandowski et al. 2012) in the poly piano-roll encoding (each frame's pitches in ascending order, then a
frame-end token; no onset marks, since the data has none), random transposition by -6..+5 semitones, 1,200
optimizer steps (300 epochs of 4; about 25 minutes of training on the 2-core CPU, with a 90-minute safety cap that
the result reports if it fires). The checkpoint is chosen on the valid split (best validation loss) and scored on
valid, then once on test. ``--reuse`` continues an interrupted benchmark instead of starting again.

Published figures (nats per time step, test): RNN-RBM 7.27 and RNN-NADE 5.56 (Boulanger-Lewandowski et al. 2012);
LSTM 8.67 and GRU 8.54 (Chung et al. 2014).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, SHARED, machine, write_result
from tunesmith.cli import main as cli

DATA = SHARED / "data" / "jsb" / "jsb-chorales-quarter.json"
RECIPE = ROOT / "recipes" / "jsb-polyphonic.toml"
OUT = ROOT / "out" / "bench-jsb"
PUBLISHED = {"RNN-RBM": 7.27, "RNN-NADE": 5.56, "LSTM (Chung 2014)": 8.67, "GRU (Chung 2014)": 8.54}


def run(args: list[str]) -> None:
    print("$ tunesmith " + shlex.join(args), flush=True)
    code = cli(args)
    if code:
        raise SystemExit(f"tunesmith {args[0]} failed with exit code {code}")


def main(reuse: bool = False) -> None:
    """Run the recipe from scratch (or, with ``reuse``, continue the one in out/bench-jsb) and write the result."""
    if not DATA.is_file():
        raise SystemExit(f"JSB data not found at {DATA}")
    if not reuse:
        shutil.rmtree(OUT, ignore_errors=True)
    run(["run", str(RECIPE), "-o", str(OUT)])  # prepare, train (best on valid), generate, evaluate on test
    run_dir = OUT / "model"
    run(["evaluate", str(run_dir), "--split", "valid", "-q"])
    valid = json.loads((run_dir / "eval-valid.json").read_text())
    test = json.loads((run_dir / "eval.json").read_text())  # the test split, read once by the recipe's evaluate step
    metrics = (run_dir / "metrics.csv").read_text().splitlines()
    history = [dict(zip(metrics[0].split(","), line.split(","))) for line in metrics[1:]]
    summary = json.loads((OUT / "summary.json").read_text())
    result = {
        "benchmark": "JSB Chorales, quarter-note resolution, NLL per time step (nats), standard split",
        "valid_nll_per_step": round(valid["likelihood"]["network"]["nll_per_step"], 4),
        "test_nll_per_step": round(test["likelihood"]["network"]["nll_per_step"], 4),
        "test_nll_per_token": round(test["likelihood"]["network"]["nll"], 4),
        "test_accuracy": round(test["likelihood"]["network"]["accuracy"], 4),
        "ngram_valid_nll_per_step": round(valid["likelihood"]["ngram"]["nll_per_step"], 4),
        "ngram_test_nll_per_step": round(test["likelihood"]["ngram"]["nll_per_step"], 4),
        "ngram_order": test["likelihood"]["ngram"]["order"],
        "test_steps": test["likelihood"]["network"]["steps"],
        "training_minutes": round(sum(float(r["seconds"]) for r in history) / 60, 2),
        "recipe_minutes": summary["minutes"],
        "epochs": len(history),
        "optimizer_steps": int(history[-1]["step"]) if history else 0,
        "cut_short_by_safety_cap": bool((summary["runs"]["model"].get("training") or {}).get("cut_short")),
        "best_epoch": test["checkpoint_epoch"],
        "parameters": test["model"]["parameters"],
        "published": PUBLISHED,
        "target": "below 5.56 (RNN-NADE) with 1,200 optimizer steps (about 25 minutes of training on 2 cores)",
        "commands": [
            f"tunesmith run {RECIPE.relative_to(ROOT)} -o {OUT.relative_to(ROOT)}",
            *summary_commands(summary),
            f"tunesmith evaluate {run_dir.relative_to(ROOT)} --split valid",
        ],
        "machine": machine(),
    }
    path = write_result("jsb", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "commands")}, indent=1))
    print(f"wrote {path}")


def summary_commands(summary: dict) -> list[str]:
    """The recipe's commands with paths relative to the repository, as a reader types them (``out/bench-jsb``)."""
    return [step["command"].replace(f"{ROOT}/", "") for step in summary["steps"]]


if __name__ == "__main__":
    main(reuse="--reuse" in sys.argv[1:])
