"""``tunesmith generate`` (a checkpoint to music files) and ``tunesmith render`` (any MIDI file to WAV / PNG)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunesmith.errors import TunesmithError


def _formats(text: str) -> tuple[str, ...]:
    return tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate samples from a run directory or checkpoint file."""
    from tunesmith.generate import GenerateOptions, Generator

    options = GenerateOptions(
        num=args.num,
        length=args.length,
        temperatures=tuple(args.temperature),
        top_k=args.top_k,
        top_p=args.top_p,
        beam=args.beam,
        primer=args.primer,
        seed=args.seed,
        style=args.style,
        tempo=args.tempo,
        time_signature=args.time_signature,
        instruments=args.instruments,
        formats=_formats(args.format),
        checkpoint="last.pt" if args.last else "best.pt",
        precision=args.precision,
        device=args.device,
        retries=args.retries,
        allow_early_end=args.allow_early_end,
        primer_in_output=not args.no_primer_in_output,
        max_seconds=args.max_seconds,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    generator = Generator(args.checkpoint, options)
    if not generator.model.can_step:
        print(
            f"note: {generator.cfg['model']} is a window model: "
            f"it re-runs its {generator.window}-token window for every token"
        )
    records = generator.run(Path(args.output))
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
    print(f"wrote {Path(args.output) / 'generate.json'}")
    if failed == len(records):
        raise TunesmithError("no sample passed its checks (see generate.json); try more --retries or another model")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Render a MIDI file to WAV and/or a piano-roll PNG."""
    from symusic import Score

    from tunesmith.render import plot_piano_roll, render_wav

    path = Path(args.midi)
    if not path.is_file():
        raise TunesmithError(f"MIDI file not found: {path}")
    try:
        score = Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeErrors for damaged files
        raise TunesmithError(f"cannot read {path} as MIDI: {str(exc).splitlines()[0]}") from None
    want_wav, want_png = args.wav, args.png
    if not (want_wav or want_png):
        want_wav = want_png = True
    out = Path(args.output) if args.output else path.parent
    out.mkdir(parents=True, exist_ok=True)
    if want_wav:
        print(f"wrote {render_wav(path, out / (path.stem + '.wav'), max_seconds=args.max_seconds)}")
    if want_png:
        print(f"wrote {plot_piano_roll(score, out / (path.stem + '.png'))}")
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
    p.add_argument("--num", type=int, default=1, metavar="N", help="samples per temperature (one batch)")
    p.add_argument("--length", default="512", help="512 (tokens), 200notes, 32bars or 60s (default 512)")
    p.add_argument(
        "--temperature", type=float, nargs="+", default=[1.0], metavar="T", help="one or several: a file set each"
    )
    p.add_argument("--top-k", type=int, default=0, metavar="K", help="sample among the K likeliest tokens")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="nucleus sampling")
    p.add_argument("--beam", type=int, default=1, metavar="W", help="beam search with W hypotheses (no sampling)")
    p.add_argument("--primer", default="random", help="random (a training window), none, or a MIDI/ABC FILE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--style", metavar="LABEL", help="condition on a style (models trained with --style-tokens)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo of the output (default 120)")
    p.add_argument("--time-signature", metavar="N/D", help="time signature of the output (default 4/4)")
    p.add_argument(
        "--instruments",
        metavar="PRESET|FILE.toml",
        help="instruments by pitch range: bollywood, bollywood-band, piano, strings, band, random-indian, or a "
        "TOML file (default: the tracks as decoded)",
    )
    p.add_argument("--format", default="mid", metavar="LIST", help="any of mid,wav,ogg,png,abc,musicxml (default mid)")
    p.add_argument("--last", action="store_true", help="use checkpoints/last.pt instead of best.pt")
    p.add_argument(
        "--precision",
        default="float32",
        metavar="P",
        help="weights used for each new token on the CPU: float32 (default), bfloat16 (LSTM and GRU models) or int8; "
        "int8 steps several times faster, with slightly different samples",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda", "mps"],
        help="where to generate: auto (CUDA, then Apple MPS, then the CPU; the default), cpu, cuda or mps",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="redraw a sample that is empty, a rest or one-pitch loop, broken or short up to N times (default 3)",
    )
    p.add_argument(
        "--allow-early-end",
        action="store_true",
        help="let the model end a piece before --length (then only a cap); by default the end is held back",
    )
    p.add_argument("--no-primer-in-output", action="store_true", help="write only the new music after a --primer FILE")
    p.add_argument("--max-seconds", type=float, default=600.0, metavar="S", help="longest WAV/OGG (default 600)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the samples in OUT_DIR (default: number new ones after them)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("render", help="render a MIDI file to WAV (FluidSynth) and a piano-roll PNG")
    p.add_argument("midi", metavar="FILE.mid")
    p.add_argument("-o", "--output", metavar="DIR", help="where to write (default: next to the file)")
    p.add_argument("--wav", action="store_true", help="write FILE.wav")
    p.add_argument("--png", action="store_true", help="write FILE.png (both when neither is given)")
    p.add_argument("--max-seconds", type=float, default=600.0, metavar="S", help="longest WAV (default 600)")
    p.set_defaults(func=cmd_render)
