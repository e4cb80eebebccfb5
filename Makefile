# tunesmith — every command a user or CI needs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TS := $(VENV)/bin/tunesmith
STAMP := $(VENV)/.installed
# The CPU build of PyTorch, installed before the package so that pip never pulls CUDA wheels.
TORCH_SPEC ?= torch==2.13.0
SOUNDFONT_PKG ?= timgm6mb-soundfont
BROWSER_PKG ?= chromium

.PHONY: install native system-deps demo studio test test-fast bench bench-jsb bench-composer bench-structure lint format clean

install: $(STAMP) native system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The generation steps in C++ (about 15 s with g++), rebuilt whenever the source, torch or the CPU is not the one
# they were built for (a quick check otherwise); without a compiler a one-line note, and the TorchScript steps,
# which compute the same bits, run instead.
native: $(STAMP)
	@$(PY) -m tunesmith.native --if-stale

# FluidSynth and a small General MIDI soundfont for WAV rendering, abcmidi (abc2midi) to check the ABC files written,
# vorbis-tools (oggenc) for OGG audio, and Debian's Chromium for the studio's browser tests (Playwright drives the
# system browser; it never downloads one), from the system packages.
SYSTEM_PKGS := fluidsynth $(SOUNDFONT_PKG) abcmidi vorbis-tools $(BROWSER_PKG)
system-deps:
	@if command -v fluidsynth >/dev/null && command -v abc2midi >/dev/null && command -v oggenc >/dev/null && \
	  { command -v chromium >/dev/null || command -v chromium-headless-shell >/dev/null; } && \
	  ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(SYSTEM_PKGS) (apt-get)"; \
	  (apt-get install -y -qq --no-install-recommends $(SYSTEM_PKGS) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PKGS) >/dev/null)) \
	  || echo "warning: could not install them; WAV, OGG, ABC checks and the browser tests need: apt-get install $(SYSTEM_PKGS)"; \
	else echo "note: WAV, OGG, ABC checks and the browser tests need: sudo apt-get install $(SYSTEM_PKGS)"; fi

demo: install
	rm -rf out/demo
	$(TS) prepare corpus:bach -o out/demo/data --instruments merge --sample 120 --seed 0 -q \
	    --encoding pianoroll --encoding-option grid=0.5
	$(TS) inspect out/demo/data --plot out/demo/corpus.png > out/demo/corpus.txt
	$(TS) train out/demo/data -o out/demo/run --model lstm --model-option hidden=256,256 \
	    --model-option embed_dim=64 --model-option dropout=0.2 --epochs 30 --seq-len 128 --batch-size 32 --lr 3e-3 -q
	$(TS) generate out/demo/run -o out/demo --num 2 --length 16bars --temperature 0.9 --instruments strings \
	    --format mid,wav,png --seed 0
	@echo "demo outputs: out/demo/sample-01.mid out/demo/sample-01.wav out/demo/sample-01.png" \
	    "(and sample-02.*, run/curves.png, corpus.png)"

# The studio in the browser: http://127.0.0.1:8765/ with the runs under out/ and runs/ (the demo's among them).
studio: install
	$(TS) studio

# One pytest worker per core (pytest-xdist); the recipe smoke runs stay together on one worker (--dist loadgroup).
test: install
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist loadgroup

# The tests not marked slow (recipe smoke runs, browser tests, long trainings): under a minute on 2 cores.
test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist loadgroup -m "not slow"

bench: install
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/dataset_memory.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/threads.py
	$(PY) benchmarks/generate_speed.py
	$(PY) benchmarks/piano_roll.py
	$(PY) benchmarks/studio_latency.py
	$(PY) benchmarks/rare_nearest.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/startup.py

# The JSB Chorales polyphonic benchmark: about 35 minutes (30 of training) on a 2-core CPU.
bench-jsb: install
	$(PY) benchmarks/jsb.py

# The composer's controls (--key kept, --band kept) on a smoke-sized Bollywood model: a few minutes of training.
bench-composer: install
	$(PY) benchmarks/composer.py

# Structure over 16 and 32 bars, with and without --form, and --key, against a run's held-out songs (no training;
# about 40 minutes on the recipe's model with ARGS="--no-plain --key-form AABA/4", longer with the sets without a form):
# make bench-structure RUN=runs/bollywood-multitrack/finetune ARGS="--forms 16:AABA/4,32:AABA/8 --no-plain"
bench-structure: install
	@test -n "$(RUN)" || { echo "make bench-structure RUN=RUN_DIR (a trained event model with band headers)"; exit 2; }
	$(PY) benchmarks/structure.py $(RUN) $(ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks docs examples corpora
	$(VENV)/bin/ruff format --check src tests benchmarks docs examples corpora

format: install
	$(VENV)/bin/ruff format src tests benchmarks docs examples corpora
	$(VENV)/bin/ruff check --fix src tests benchmarks docs examples corpora

clean:
	rm -rf out build dist src/*.egg-info src/tunesmith/native/build .pytest_cache .ruff_cache
