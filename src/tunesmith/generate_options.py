"""What ``tunesmith generate`` is asked for: ``GenerateConfig``, each option declared once, and its checks.

The options are checked here, before a model is loaded, so a bad one is one line and costs nothing. The command line
(its flags made by ``tunesmith.cli.options``) and the API (``tunesmith.api.generate_config``, which the studio calls)
build this one dataclass; ``tunesmith.generate`` turns it into music. It imports no torch, numpy or symusic (the
checks that read music import theirs when they run), so every ``tunesmith`` command can build its parser cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config import DEVICES, MAX_SECONDS, PRECISIONS, option
from tunesmith.errors import TunesmithError
from tunesmith.form import SECTION_BARS, check_form, form_length, parse_form
from tunesmith.instruments import PRESETS, load_instrument_map
from tunesmith.key_steering import KEY_AUTO, KEY_AUTO_STRENGTH, KEY_OUTSIDE, KEY_STRENGTH
from tunesmith.layout import RunDir
from tunesmith.length import DEFAULT_LENGTH, parse_length

FORMATS = ("mid", "wav", "ogg", "png", "abc", "musicxml")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"mid,WAV,.png"`` -> ``("mid", "wav", "png")``."""
    return tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())


@dataclass
class GenerateConfig:
    """What ``tunesmith generate`` was asked for."""

    num: int = option(1, "samples per temperature (one batch)", metavar="N")
    length: str = option(DEFAULT_LENGTH, "512 (tokens), 200notes, 32bars or 60s: new music after the primer")
    temperatures: tuple[float, ...] = option(
        (1.0,), "one or several: a file set each", flag="--temperature", metavar="T", nargs="+", parse=float
    )
    form: str | None = option(
        None,
        "a musical form in section letters, e.g. AABA: a later section with an earlier one's letter repeats it bar for "
        "bar (models with bar tokens: event REMI); sets the length to sections x --section-bars bars",
        metavar="LETTERS",
    )
    section_bars: int = option(SECTION_BARS, "bars in each section of --form", metavar="N")
    top_k: int = option(0, "sample among the K likeliest tokens (0: all)", metavar="K")
    top_p: float = option(1.0, "nucleus sampling", metavar="P")
    beam: int = option(1, "beam search with W hypotheses (no sampling)", metavar="W")
    primer: str = option("random", "random (a training window), none, or a MIDI/ABC FILE")
    seed: int = option(0, "random seed: the same seed gives the same files")
    style: str | None = option(None, "condition on a style (models trained with --style-tokens)", metavar="LABEL")
    key: str | None = option(
        None,
        "the key of the samples, e.g. 'D minor' or 'Eb': pitch tokens are pulled toward it, and a model trained with "
        "--condition key also gets its key token; auto: each sample keeps the key of its first bar, the pitch "
        "classes outside it held back",
        metavar="KEY",
    )
    key_strength: float | None = option(
        None,
        f"how strongly --key pulls each pitch token toward the key (its Krumhansl-Kessler weight's log, times S; "
        f"default {KEY_STRENGTH:g}, with {KEY_OUTSIDE:g} off the classes outside the key's scale; 0: the key token "
        f"alone); with --key auto, how strongly the classes outside the kept key are held back (default "
        f"{KEY_AUTO_STRENGTH:g})",
        metavar="S",
    )
    density: str | None = option(
        None,
        "about N pitched notes a bar, all tracks together, drums not counted (event models): at each bar line the "
        "notes that start together are thinned toward it, never added; auto: the training corpus's own; default: "
        "the model's",
        metavar="N",
    )
    band: str | None = option(
        None,
        "the instruments an event model may play, e.g. sitar,shehnai,flute,bass,drums (General MIDI names or numbers, "
        "or a preset such as bollywood-band); default: the primer's band, else a training song's",
        metavar="LIST",
    )
    tempo: float | None = option(
        None,
        "tempo of the output (default 120); also its bin as a condition (data prepared with --condition tempo)",
        metavar="BPM",
    )
    time_signature: str | None = option(None, "time signature of the output (default 4/4)", metavar="N/D")
    instruments: str | None = option(
        None,
        f"instruments by pitch range: a preset ({', '.join(PRESETS)}) or a TOML file of [[part]] tables "
        "(default: the tracks as decoded)",
        metavar="PRESET|FILE.toml",
    )
    formats: tuple[str, ...] = option(
        ("mid",), "any of mid,wav,ogg,png,abc,musicxml", flag="--format", metavar="LIST", parse=parse_formats
    )
    checkpoint: str = option(RunDir.BEST, "the checkpoint of a run directory to use", cli=False)
    precision: str = option(
        "float32",
        "weights used for each new token on the CPU: float32, bfloat16 (LSTM and GRU models) or int8; int8 steps "
        "several times faster, with slightly different samples",
        metavar="P",
    )
    device: str = option(
        "auto", "where to generate: auto (CUDA, then Apple MPS, then the CPU), cpu, cuda or mps", choices=DEVICES
    )
    threads: int = option(0, "torch threads (0: the cores of this process's CPU affinity, as train)", metavar="N")
    retries: int = option(
        3, "redraw a sample that is empty, a rest or one-pitch loop, broken or short up to N times", metavar="N"
    )
    allow_early_end: bool = option(
        False, "let the model end a piece before --length (then only a cap); by default the end is held back"
    )
    primer_in_output: bool = option(
        True, "write only the new music after a --primer FILE", flag="--no-primer-in-output"
    )
    no_copy: bool = option(
        False,
        "hold back each pitch token that would complete an 8-note pitch n-gram of its track found in the run's "
        "training split (at the transpositions it trained with); needs the run's training data",
    )
    max_seconds: float = option(MAX_SECONDS, "longest WAV/OGG", metavar="S")
    overwrite: bool = option(False, "replace the samples in OUT_DIR (default: number new ones after them)")
    check: bool = option(True, "refuse empty, degenerate, broken and short samples", cli=False)
    progress: bool = option(True, "a bar over tokens, on a terminal", cli=False)

    def __post_init__(self) -> None:
        self.temperatures = tuple(float(t) for t in self.temperatures)
        self.formats = tuple(dict.fromkeys(("mid", *self.formats)))
        checks = [
            (self.num >= 1, "--num must be at least 1"),
            (all(t >= 0 for t in self.temperatures), "--temperature must be 0 (greedy) or positive"),
            (self.top_k >= 0, "--top-k must be 0 (off) or positive"),
            (0 < self.top_p <= 1, "--top-p must be in (0, 1]"),
            (self.beam >= 1, "--beam must be at least 1"),
            (self.tempo is None or 10 <= self.tempo <= 400, "--tempo must be between 10 and 400 BPM"),
            (set(self.formats) <= set(FORMATS), f"--format takes {', '.join(FORMATS)}"),
            (self.precision in PRECISIONS, f"--precision takes {', '.join(PRECISIONS)}"),
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.threads >= 0, "--threads must be 0 (the cores) or positive"),
            (self.retries >= 0, "--retries must be 0 or more"),
            (self.key_strength is None or 0 <= self.key_strength <= 20, "--key-strength must be between 0 and 20"),
            (self.key_strength is None or self.key is not None, "--key-strength needs --key"),
            (self.max_seconds > 0, "--max-seconds must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise TunesmithError(message)
        parse_length(self.length)
        if self.form is not None or self.section_bars != SECTION_BARS:
            check_form(self.form, self.section_bars, self.length, self.beam)
        if self.time_signature:
            from tunesmith.postprocess import parse_time_signature  # symusic: not loaded to build the parser

            parse_time_signature(self.time_signature)
        if self.instruments:
            load_instrument_map(self.instruments)
        if self.band is not None:
            if self.instruments is not None:
                raise TunesmithError("--band keeps the model's own tracks: leave out --instruments (or --band)")
            from tunesmith.band import parse_band

            parse_band(self.band)
        if self.density is not None:
            from tunesmith.density import parse_density

            parse_density(self.density)
            if self.beam > 1:
                raise TunesmithError("--density follows the samples as they are drawn: leave out --beam")
        if self.no_copy and self.beam > 1:
            raise TunesmithError("--no-copy follows the samples as they are drawn: leave out --beam")
        if self.key == KEY_AUTO and self.beam > 1:
            raise TunesmithError("--key auto follows the samples as they are drawn: leave out --beam")
        if self.key is not None and self.key != KEY_AUTO:
            from tunesmith.keys import parse_key

            try:
                parse_key(self.key)
            except ValueError as exc:
                raise TunesmithError(f"unknown key: {exc}") from None

    @property
    def target_length(self) -> str:
        """``--length``, or with ``--form`` the form's: sections x section bars."""
        return form_length(parse_form(self.form, self.section_bars), self.length) if self.form else self.length


def generation_device(name: str, precision: str) -> str:
    """The device to generate on: ``auto`` stays on the CPU for int8 weights (dynamic quantisation runs there only)."""
    return "cpu" if name == "auto" and precision == "int8" else name
