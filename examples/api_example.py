"""The README's Python API example, whole.

It prepares a small corpus, trains a tiny model, generates in memory, looks at the scores, saves them, evaluates the
run, and renders a WAV and a piano roll.

    python examples/api_example.py [OUT_DIR]      (default: a temporary folder; about a minute on two cores)

The test suite runs this file as it is (tests/test_api.py), so the README's example cannot go stale.
"""

import sys
import tempfile
from pathlib import Path

import tunesmith as ts


def main(out: Path) -> None:
    """Every step of the example, writing into ``out``."""
    # A corpus: 12 Bach chorales from the corpus bundled with music21, tokenized as notes and chords.
    data = ts.prepare(["corpus:bach"], out / "data", encoding="notechord", max_files=12)
    print(data, data.read_report()["summary"]["pieces"], "pieces")

    # A tiny LSTM, 2 epochs of at most 10 optimizer steps (the same seed gives the same model).
    run = ts.train(
        data,
        out / "run",
        model="lstm",
        epochs=2,
        steps_per_epoch=10,
        seq_len=32,
        batch_size=8,
        model_options={"hidden": [64]},
    )
    print(run, "valid loss", round(run.metrics[-1]["valid_loss"], 3))

    # Four bars of new music per sample, in memory: each Sample holds a symusic.Score and its token ids.
    samples = run.generate(num=2, length="4bars", temperature=0.9, primer="none", seed=1)
    for sample in samples:
        print(
            sample.name, "notes:", sample.score.note_num(), "bars reached:", sample.reached, "tokens:", len(sample.ids)
        )

    # Writing files is a separate step: MIDI always, and any of wav, ogg, png, abc, musicxml.
    record = samples[0].save(out / "samples", formats=("mid", "png"))
    print("wrote", record["files"])

    # Test-set likelihood beside a Kneser-Ney n-gram, musical metrics, memorisation (writes eval.json too).
    evaluation = run.evaluate(samples=2, max_pieces=4)
    print(f"test NLL {evaluation.nll:.3f} nats/token, n-gram {evaluation.ngram_nll:.3f}")

    # Hear it and see it: FluidSynth WAV and a piano roll.
    print(ts.render(samples[0].score, wav=out / "listen.wav", png=out / "listen.png"))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="tunesmith-example-") as tmp:
            main(Path(tmp))
