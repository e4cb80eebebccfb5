"""The C++ steps (``tunesmith.native``) against the TorchScript steps: the same logits, states and tokens, bit for bit.

``make install`` builds the library; where it is not built these tests are skipped with the reason, and generation
runs the TorchScript steps, which these tests show compute the same bits.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tunesmith import native
from tunesmith.models import build_model, model_spec
from tunesmith.sample import RUN_TOKENS, pick, sample, softmax_draw

built = pytest.mark.skipif(native.steps() is None, reason=f"C++ steps: {native.status()}")

# Small enough for a fast test, odd sizes on purpose (a head width, vocabulary and hidden size off the SIMD width).
MODELS = {
    "lstm": ("lstm", {"hidden": [48, 40], "embed_dim": 12, "dropout": 0.0}),
    "gru": ("gru", {"hidden": [40, 36], "embed_dim": 12, "dropout": 0.0}),
    "transformer": ("transformer", {"d_model": 48, "heads": 4, "layers": 2, "d_ff": 80, "context": 24}),
}
VOCAB = 101


def _run(model, primer: torch.Tensor, steps: int, temperature: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Tokens drawn and logits of ``steps`` draws and steps after ``primer``, with the stepper and draw in effect."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        logits, state = model(primer)
        step, last, tokens, seen = model.stepper(), logits[:, -1], [], []
        for _ in range(steps):
            token = pick(last, temperature, generator=generator)
            logits, state = step(token[:, None], state)
            last = logits[:, -1]
            tokens.append(token)
            seen.append(last)
    return torch.stack(tokens, 1), seen


@built
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_the_cpp_step_is_the_torchscript_step_bit_for_bit(name, batch):
    """Past the transformer's window (24) too, so the cache slides; the steppers really differ (checked)."""
    preset, options = MODELS[name]
    torch.manual_seed(0)
    model = build_model(model_spec(preset, VOCAB, options)).eval()
    primer = torch.randint(0, VOCAB, (batch, 7))
    ours = _run(model, primer, 60, 1.0)
    with native.native(False):
        theirs = _run(model, primer, 60, 1.0)
        script_step = model.stepper()
    cpp_step = model.stepper()
    assert script_step.scripted.func is not cpp_step.scripted.func  # two real paths
    assert torch.equal(ours[0], theirs[0])
    assert all(torch.equal(a, b) for a, b in zip(ours[1], theirs[1]))


@built
def test_the_cpp_draw_is_the_torchscript_draw_bit_for_bit():
    """Rows of 1 to 17 and 40 (the draw sums rows in lanes of 8, groups of them on two threads from 32 rows), masked
    entries, peaked and flat distributions."""
    for trial in range(120):
        batch = 1 + trial % 17 if trial % 10 else 40
        logits = torch.randn(batch, 1 + 37 * (trial % 9)) * (0.1 + trial % 6)
        if trial % 3 == 0:
            logits[:, 1::2] = float("-inf")
        first, second = torch.Generator().manual_seed(trial), torch.Generator().manual_seed(trial)
        assert torch.equal(native.softmax_draw(logits, first), softmax_draw(logits, second))
        assert torch.equal(torch.rand(2, generator=first), torch.rand(2, generator=second))  # one number a row


@built
@pytest.mark.parametrize("name", list(MODELS))
def test_sample_makes_many_tokens_per_cpp_call_and_they_are_the_python_loops_tokens(name):
    """With a stop token, a length checked every 16 tokens, forbidden ids, a band per row, a bias and temperatures;
    150 tokens take the transformer's cache past its window (24) and its buffer (48) several times."""
    preset, options = MODELS[name]
    torch.manual_seed(0)
    model = build_model(model_spec(preset, VOCAB, options)).eval()
    primer = torch.randint(3, VOCAB, (3, 9))
    band = torch.zeros(3, VOCAB, dtype=torch.bool)
    band[1, 50:70] = True
    cases = [
        {"temperature": 1.0},
        {"temperature": 0.8, "stop_id": 5, "forbid": (0, 1, 2), "bias": torch.linspace(-1, 1, VOCAB)},
        # Row r is long enough after 16 + 32 r tokens: the rows finish at three different checks.
        {"temperature": 1.3, "until": lambda t: torch.arange(3) * 32 + 16 <= t.shape[1], "check_every": 16},
        {"temperature": 1.1, "stop_id": 9, "forbid_rows": band},
    ]
    for case in cases:
        made: list[int] = []
        ours = sample(model, primer, 150, generator=torch.Generator().manual_seed(4), on_step=made.append, **case)
        with native.native(False):
            theirs = sample(model, primer, 150, generator=torch.Generator().manual_seed(4), **case)
        assert torch.equal(ours, theirs)
        assert sum(made) == ours.shape[1] and 1 < max(made) <= RUN_TOKENS  # in calls of many tokens
        if "until" in case:
            assert ours.shape[1] == 80 and (ours[0, 16:] == 0).all() and (ours[1, 48:] == 0).all()


@built
def test_the_library_is_loaded_for_this_source_and_torch():
    assert native.status() == "loaded"
    assert native.STAMP.read_text().strip() == native._stamp()
    with native.native(False):
        assert native.steps() is None and native.status() == "turned off (native(False))"


def test_a_library_built_for_another_source_torch_or_cpu_is_not_loaded(monkeypatch, tmp_path):
    library, stamp = tmp_path / "tunesmith_steps.so", tmp_path / "stamp.txt"
    monkeypatch.setattr(native, "LIBRARY", library)
    monkeypatch.setattr(native, "STAMP", stamp)
    assert native._load() == (None, "not built (python -m tunesmith.native, run by make install)")
    library.write_bytes(b"not a library")
    stamp.write_text("0123456789abcdef torch 0.0 cpu 000000000000\n")
    ops, reason = native._load()
    assert ops is None and reason.startswith("built for another source, torch or CPU: rebuild")
    stamp.write_text(native._stamp() + "\n")  # stamped for this build, but no library inside: refused, not raised
    ops, reason = native._load()
    assert ops is None and reason.startswith("does not load: ")


def test_tunesmith_native_0_keeps_the_torchscript_steps():
    code = "from tunesmith import native; print(native.status(), native.steps())"
    env = {**os.environ, native.DISABLE: "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["TUNESMITH_NATIVE=0", "None"]


def test_make_install_builds_only_where_the_stamp_is_stale(monkeypatch, tmp_path):
    library, stamp, built_now = tmp_path / "tunesmith_steps.so", tmp_path / "stamp.txt", []
    monkeypatch.setattr(native, "LIBRARY", library)
    monkeypatch.setattr(native, "STAMP", stamp)
    monkeypatch.setattr(native, "build", lambda verbose=False: built_now.append(verbose) or library)
    library.write_bytes(b"built")
    stamp.write_text(native._stamp() + "\n")
    assert native.main(["--if-stale"]) == 0 and built_now == []  # current: nothing to do
    stamp.write_text("0123456789abcdef torch 0.0 cpu 000000000000\n")
    assert native.main(["--if-stale"]) == 0 and built_now == [False]  # built for something else: rebuilt
    assert native.main([]) == 0 and built_now == [False, False]  # asked outright: always built


def test_a_failed_build_is_one_line_and_not_an_error(monkeypatch, capsys):
    def fails(verbose=False):
        raise RuntimeError("Error building extension 'tunesmith_steps'\nninja: build stopped: subcommand failed.")

    monkeypatch.setattr(native, "build", fails)
    assert native.main([]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "C++ steps not built (ninja: build stopped: subcommand failed.)" in err
