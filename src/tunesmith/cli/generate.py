"""``tunesmith generate`` (a checkpoint to music files) and ``tunesmith render`` (any MIDI file to WAV / PNG)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunesmith.cli.options import add_options, given
from tunesmith.errors import TunesmithError
from tunesmith.generate_options import GenerateConfig, generation_device
from tunesmith.layout import SamplesDir


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate samples from a run directory or checkpoint file."""
    from tunesmith import api

    options = {**given(args, GenerateConfig), "progress": not args.quiet}
    checked = GenerateConfig(**options)  # every option checked before the model is loaded
    device = generation_device(checked.device, checked.precision)
    run = api.load_run(args.checkpoint, checkpoint="last" if args.last else "best", device=device)
    if not run.model.can_step:
        window = run.checkpoint.config.get("seq_len") or 64
        print(
            f"note: {run.checkpoint.config.get('model')} is a window model: "
            f"it re-runs its {window}-token window for every token"
        )
    records = run.generate_into(Path(args.output), **options)
    failed = 0
    for record in records:
        if "error" in record:
            failed += 1
            print(f"{record['name']}: not written, {record['error']}", file=sys.stderr)
            continue
        programs = ",".join(map(str, record["programs"]))
        length = record["length"]
        print(
            f"{record['name']}: {length['reached']:g} {length['unit']} of new music, {record['notes']} notes, "
            f"programs {programs} -> {', '.join(record['files'])}"
        )
        if record["attempts"] > 1:
            print(f"  redrawn {record['attempts'] - 1} times: {'; '.join(record['refused'])}")
        for warning in record.get("warnings", []):
            print(f"  warning: {warning}")
    print(f"wrote {SamplesDir(args.output).summary_file}")
    if failed == len(records):
        raise TunesmithError("no sample passed its checks (see generate.json); try more --retries or another model")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Render a MIDI file to WAV and/or a piano-roll PNG."""
    from tunesmith import api

    path = Path(args.midi)
    if not path.is_file():
        raise TunesmithError(f"MIDI file not found: {path}")
    want_wav, want_png = args.wav, args.png
    if not (want_wav or want_png):
        want_wav = want_png = True
    out = Path(args.output) if args.output else path.parent
    out.mkdir(parents=True, exist_ok=True)
    targets = {
        "wav": out / f"{path.stem}.wav" if want_wav else None,
        "png": out / f"{path.stem}.png" if want_png else None,
    }
    for written in api.render(path, max_seconds=args.max_seconds, **targets).values():
        print(f"wrote {written}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``generate`` and ``render`` to the command line."""
    p = sub.add_parser(
        "generate",
        help="write new pieces from a trained model",
        description="Sample from a checkpoint (a run directory or a .pt file) and write MIDI, and on request WAV, "
        "PNG, ABC and MusicXML, into OUT_DIR.",
    )
    p.add_argument("checkpoint", metavar="RUN_DIR|CHECKPOINT")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    p.add_argument("--last", action="store_true", help="use checkpoints/last.pt instead of best.pt")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_options(p, GenerateConfig, title="generation")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("render", help="render a MIDI file to WAV (FluidSynth) and a piano-roll PNG")
    p.add_argument("midi", metavar="FILE.mid")
    p.add_argument("-o", "--output", metavar="DIR", help="where to write (default: next to the file)")
    p.add_argument("--wav", action="store_true", help="write FILE.wav")
    p.add_argument("--png", action="store_true", help="write FILE.png (both when neither is given)")
    p.add_argument("--max-seconds", type=float, default=600.0, metavar="S", help="longest WAV (default 600)")
    p.set_defaults(func=cmd_render)
