"""Every model preset keeps the contract: shapes, learning a tiny batch, stepping equal to the full sequence."""

from __future__ import annotations

import pytest
import torch

from tunesmith.errors import TunesmithError
from tunesmith.models import PRESETS, build_model, model_spec
from tunesmith.models.fused_rnn import FusedStep
from tunesmith.models.scripted import compiled, scripting
from tunesmith.models.transformer import CachedStep
from tunesmith.sample import beam_search, draw, pick, sample, top_k_filter, top_p_filter

VOCAB = 24
# Small sizes of the same architectures, so the whole registry trains in seconds.
SMALL = {
    "rnn": lambda p: {
        "embed_dim": 16,
        "hidden": (32,) * len(p.model["hidden"]),
        "head": (64,) * len(p.model.get("head", ())),
    },
    "attention-lstm": lambda p: {"embed_dim": 16, "blocks": ((32, 32, 32), (32, 16, 16)), "final_lstm": 16},
    "seq2seq": lambda p: {"embed_dim": 16, "hidden": 32, "phrase_len": 8},
    "transformer": lambda p: {"d_model": 32, "heads": 2, "d_ff": 64, "layers": 2},
}


def small_model(name: str, **extra) -> torch.nn.Module:
    preset = PRESETS[name]
    torch.manual_seed(0)
    return build_model(model_spec(name, VOCAB, {**SMALL[preset.kind](preset), **extra}))


def expected_len(model, t: int) -> int:
    config = model.config
    if getattr(config, "last_only", False) or type(model).__name__ == "AttentionLSTM":
        return 1
    if hasattr(config, "phrase_len"):
        return t - config.phrase_len + 1
    return t


@pytest.mark.parametrize("name", list(PRESETS))
def test_output_shapes(name):
    model = small_model(name).eval()
    tokens = torch.randint(0, VOCAB, (3, 16))
    logits, _ = model(tokens)
    assert logits.shape == (3, expected_len(model, 16), VOCAB)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_overfits_a_tiny_batch(name):
    no_dropout = {"dropout": 0.0}
    if PRESETS[name].kind == "rnn":
        no_dropout |= {"head_l2": 0.0}
    model = small_model(name, **no_dropout)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(4, VOCAB, (4, 17), generator=g)
    inputs, targets = x[:, :-1], x[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        logits, _ = model(inputs)
        y = targets[:, -logits.shape[1] :]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], f"{name}: {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize("name", [n for n in PRESETS if build_model(model_spec(n, VOCAB)).can_step])
def test_stepping_equals_the_full_sequence(name):
    model = small_model(name).eval()
    tokens = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        full, _ = model(tokens)
        first = getattr(model.config, "phrase_len", 1)  # the encoder-decoder reads a phrase first
        logits, state = model(tokens[:, :first])
        outs = [logits]
        for t in range(first, tokens.shape[1]):
            logits, state = model(tokens[:, t : t + 1], state)
            outs.append(logits)
    stepped = torch.cat(outs, dim=1)[:, -full.shape[1] :]
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in PRESETS if build_model(model_spec(n, VOCAB)).can_step])
def test_reading_a_primer_gives_the_last_position_and_the_same_state(name):
    model = small_model(name).eval()
    tokens = torch.randint(0, VOCAB, (3, 20))
    rows = []  # the positions each call of the output layer computes
    model.out.register_forward_hook(lambda _module, args, _out: rows.append(args[0].shape[:-1].numel()))
    with torch.no_grad():
        full, state = model(tokens)
        last, read_state = model.read(tokens)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(read_state, state, atol=0, rtol=0)  # the state is forward's, bit for bit
    if PRESETS[name].kind in ("rnn", "transformer"):  # the output layer reads the last position only
        assert rows == [3 * expected_len(model, 20), 3]


FUSED = [n for n in PRESETS if isinstance(small_model(n).stepper(), FusedStep)]


def test_recurrent_stacks_step_through_the_fused_stepper():
    assert {"lstm", "lstm-seed", "charrnn", "gru", "gru-piano", "lstm-piano"} <= set(FUSED)
    assert "bilstm-seed" not in FUSED  # a window model re-runs its window


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("bfloat16", 0.05), ("int8", 0.05)])
def test_fused_stepping_continues_the_model(name, precision, tolerance):
    """From the state of the model's own pass over a primer, the stepper gives the model's next log-probabilities."""
    model = small_model(name).eval()
    tokens = torch.randint(0, VOCAB, (3, 12))
    with torch.no_grad():
        full, _ = model(tokens)
        step = model.stepper(precision)
        logits, state = model(tokens[:, :4])
        outs = [logits]
        for t in range(4, tokens.shape[1]):
            logits, state = step(tokens[:, t : t + 1], state)
            outs.append(logits)
    stepped = torch.log_softmax(torch.cat(outs, dim=1)[:, -full.shape[1] :], dim=-1)
    torch.testing.assert_close(stepped, torch.log_softmax(full, dim=-1), atol=tolerance, rtol=0)


SCRIPTED = [n for n in FUSED if small_model(n).eval().stepper().scripted is not None]


@pytest.mark.parametrize("name", SCRIPTED)
def test_scripted_step_is_the_python_step_bit_for_bit(name):
    """The one-call TorchScript step gives the Python step's logits and states exactly, from a primer or from zeros."""
    assert {"lstm", "gru"} <= set(SCRIPTED)  # the plain float32 stacks take the scripted path
    model = small_model(name).eval()
    scripted, python = model.stepper(), FusedStep(model, scripted=False)
    assert python.scripted is None
    tokens = torch.randint(0, VOCAB, (3, 12))
    with torch.no_grad():
        _, primed = model(tokens[:, :4])
        for state in (primed, None):
            one, two = state, state
            for t in range(4, tokens.shape[1]):
                a, one = scripted(tokens[:, t : t + 1], one)
                b, two = python(tokens[:, t : t + 1], two)
                assert torch.equal(a, b)
                flat = [torch.stack(s) if isinstance(s, tuple) else s for s in (*one, *two)]
                assert all(torch.equal(x, y) for x, y in zip(flat[: len(one)], flat[len(one) :]))


@pytest.mark.parametrize("context", [1024, 6])
def test_transformer_scripted_step_is_the_python_step_bit_for_bit(context):
    """The blocks as one TorchScript call give the Python loop's logits and caches exactly, sliding window included."""
    model = small_model("transformer", context=context).eval()
    scripted, python = model.stepper(), CachedStep(model, scripted=False)
    assert scripted.scripted is not None and python.scripted is None
    tokens = torch.randint(0, VOCAB, (3, 40))
    with torch.no_grad():
        _, state = model(tokens[:, :4])
        one, two = state, {"kv": [(k.clone(), v.clone()) for k, v in state["kv"]], "pos": state["pos"]}
        for t in range(4, tokens.shape[1]):
            a, one = scripted(tokens[:, t : t + 1], one)
            b, two = python(tokens[:, t : t + 1], two)
            assert torch.equal(a, b)
            assert all(torch.equal(x, y) for p, q in zip(one["kv"], two["kv"]) for x, y in zip(p, q))


@pytest.mark.parametrize("context", [1024, 6])
def test_transformer_cached_step_continues_the_model(context):
    """The in-place cache gives the logits of the model's own cache, sliding window included (context 6)."""
    model = small_model("transformer", context=context).eval()
    step = model.stepper()
    assert isinstance(step, CachedStep)
    tokens = torch.randint(0, VOCAB, (3, 4 * context if context < 20 else 30))
    with torch.no_grad():
        full, _ = model(tokens)
        logits, state = model(tokens[:, :4])
        own_state, stepped, own = state, [logits], [logits]
        for t in range(4, tokens.shape[1]):
            logits, state = step(tokens[:, t : t + 1], state)
            own_logits, own_state = model(tokens[:, t : t + 1], own_state)
            stepped.append(logits)
            own.append(own_logits)
    torch.testing.assert_close(torch.cat(stepped, dim=1), torch.cat(own, dim=1), atol=1e-5, rtol=0)
    if context >= tokens.shape[1]:  # no window slid: the same as reading everything at once
        torch.testing.assert_close(torch.cat(stepped, dim=1), full, atol=1e-5, rtol=0)
    assert state["kv"][0][0].shape[2] == min(context, tokens.shape[1])  # the keys the model's cache would hold


@pytest.mark.parametrize("name", ["lstm", "gru", "gru-piano", "transformer"])
def test_seeded_sampling_draws_what_a_plain_loop_draws(name):
    """``sample`` (primer read once, then the stepper) draws the tokens of a loop that re-reads everything each time.

    Same seed, same filters and masks: the fast paths change how the logits are computed, not which tokens come out.
    """
    model = small_model(name).eval()
    primer = torch.randint(0, VOCAB, (3, 6), generator=torch.Generator().manual_seed(4))
    rows = torch.zeros(3, VOCAB, dtype=torch.bool)
    rows[0, 5:9], rows[2, ::3] = True, True
    options = {"temperature": 0.9, "top_k": 12, "forbid": (0, 1), "forbid_rows": rows}
    fast = sample(model, primer, 40, generator=torch.Generator().manual_seed(9), **options)
    g, seq = torch.Generator().manual_seed(9), primer
    with torch.no_grad():
        for _ in range(40):
            last = model(seq)[0][:, -1].clone()
            last[:, [0, 1]] = float("-inf")
            last[rows] = float("-inf")
            token = pick(last, 0.9, 12, 1.0, g)
            seq = torch.cat([seq, token[:, None]], dim=1)
    assert torch.equal(fast, seq[:, primer.shape[1] :])
    assert not rows.gather(1, fast).any() and not (fast <= 1).any()


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer"])
def test_scripting_changes_no_sampled_token(name):
    """``sample`` with the TorchScript steps and draw gives the tokens of the Python code they replaced."""
    model = small_model(name).eval()
    primer = torch.randint(0, VOCAB, (4, 5), generator=torch.Generator().manual_seed(2))
    options = {"temperature": 1.1, "top_p": 0.95, "forbid": (0,), "stop_id": 3, "pad_id": 0}
    with scripting(False):
        assert model.stepper().scripted is None
        python = sample(model, primer, 60, generator=torch.Generator().manual_seed(5), **options)
    assert model.stepper().scripted is not None
    assert torch.equal(sample(model, primer, 60, generator=torch.Generator().manual_seed(5), **options), python)


def test_a_function_torchscript_cannot_compile_falls_back_with_its_reason():
    def unscriptable(x: torch.Tensor) -> torch.Tensor:
        return x.no_such_method()

    with pytest.warns(RuntimeWarning, match="TorchScript step unavailable .*stepping in Python"):
        assert compiled(unscriptable) is None


def test_beam_search_steps_the_transformer_cache():
    model = small_model("transformer", context=5).eval()
    primer = torch.randint(0, VOCAB, (1, 4))
    assert torch.equal(beam_search(model, primer, 12, beam=3), beam_search(model, primer, 12, beam=3, stepper=model))


def test_fused_stepper_skips_only_layers_that_do_nothing_in_eval():
    plain = small_model("lstm").eval().stepper()  # dropout only after each layer, no head
    assert plain.posts == [None] * len(plain.posts) and plain.head is None
    piano = small_model("gru-piano").eval().stepper()  # batch norm after each layer, a dense head
    assert all(post is not None for post in piano.posts) and piano.head is not None


def test_precisions_elsewhere():
    model = small_model("transformer").eval()
    primer = torch.randint(0, VOCAB, (2, 5))
    int8 = model.stepper("int8")
    runs = [sample(model, primer, 20, generator=torch.Generator().manual_seed(1), stepper=int8) for _ in range(2)]
    assert runs[0].shape == (2, 20) and torch.equal(*runs)  # the transformer in int8: PyTorch dynamic quantisation
    with pytest.raises(ValueError, match="float32 or int8"):
        model.stepper("bfloat16")
    with pytest.raises(ValueError, match="unknown precision"):
        small_model("lstm").stepper("float16")


def test_draw_follows_the_probabilities_and_never_picks_a_zero():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    drawn = draw(probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(drawn, minlength=6).float() / len(drawn)
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts, probs[0], atol=0.015, rtol=0)
    unnormalised = torch.tensor([[0.0, 0.0, 3.0]])  # only the total's scale matters
    assert draw(unnormalised, torch.Generator().manual_seed(5)).item() == 2


@pytest.mark.parametrize("rows", [1, 16])
def test_pick_draws_what_draw_draws_from_the_softmax(rows):
    """``pick``'s one-call ``softmax_draw`` (TorchScript) draws the tokens of ``draw(softmax(...))``, seed for seed."""
    logits = torch.randn(rows, 300, generator=torch.Generator().manual_seed(1)) * 4
    fast, plain = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    tokens = [pick(logits, 1.0, generator=fast) for _ in range(50)]
    assert all(torch.equal(t, draw(torch.softmax(logits, dim=-1), plain)) for t in tokens)
    assert len({tuple(t.tolist()) for t in tokens}) > 1  # it draws, not argmax


def test_window_models_say_so():
    assert not small_model("bilstm-seed").can_step
    assert not small_model("bollywood-v4").can_step
    assert small_model("lstm-seed").can_step


def test_seed_presets_keep_the_seed_sizes():
    bi = build_model(model_spec("bilstm-seed", 100))
    assert [r.hidden_size for r in bi.rnns] == [64, 128, 64] and bi.config.dropout == 0.7
    assert bi.config.head_l2 == 0.004 and bi.config.slope == 0.2
    piano = build_model(model_spec("gru-piano", 100))
    assert [r.hidden_size for r in piano.rnns] == [256, 256, 128] and piano.config.norm == "batch"
    char = build_model(model_spec("charrnn", 87))
    assert char.embed.embedding_dim == 512 and [r.hidden_size for r in char.rnns] == [256] * 3
    s2s = build_model(model_spec("seq2seq", 100))
    assert s2s.encoder.hidden_size == 1024 and s2s.encoder.num_layers == 2 and s2s.decoder.num_layers == 2
    v4 = build_model(model_spec("bollywood-v4", 128))
    assert v4.blocks[0].lstm.hidden_size == 512 and v4.final.hidden_size == 128


def test_unknown_model_and_options_are_one_line():
    with pytest.raises(TunesmithError, match="unknown model 'nope'"):
        model_spec("nope", 10)
    with pytest.raises(TunesmithError, match="has no option colour"):
        model_spec("lstm", 10, {"colour": 1})


def test_filters_are_pure_and_correct():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    kept = top_k_filter(logits, 2)
    assert torch.isinf(kept[0, [0, 3]]).all() and kept[0, 1] == 3.0
    assert logits[0, 0] == 1.0  # the input is untouched
    nucleus = top_p_filter(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 0.7)
    assert torch.isfinite(nucleus[0, :2]).all() and torch.isinf(nucleus[0, 2:]).all()
    assert pick(logits, temperature=0).item() == 1


def test_sampling_is_seeded_and_batched():
    model = small_model("lstm").eval()
    primer = torch.randint(0, VOCAB, (4, 5))
    a = sample(model, primer, 30, generator=torch.Generator().manual_seed(3))
    b = sample(model, primer, 30, generator=torch.Generator().manual_seed(3))
    assert a.shape == (4, 30) and torch.equal(a, b)
    window = sample(small_model("bilstm-seed").eval(), primer, 10, window=8, generator=torch.Generator())
    assert window.shape == (4, 10)
    best = beam_search(model, primer[:1], 12, beam=4)
    assert best.shape == (1, 12)
