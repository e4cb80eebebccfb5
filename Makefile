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

.PHONY: install system-deps demo test bench bench-jsb lint format clean

install: $(STAMP) system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# FluidSynth and a small General MIDI soundfont for WAV rendering, from the system packages.
system-deps:
	@if command -v fluidsynth >/dev/null && ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing fluidsynth and $(SOUNDFONT_PKG) (apt-get)"; \
	  (apt-get install -y -qq --no-install-recommends fluidsynth $(SOUNDFONT_PKG) >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fluidsynth $(SOUNDFONT_PKG) >/dev/null)) \
	  || echo "warning: could not install fluidsynth; WAV output needs: apt-get install fluidsynth $(SOUNDFONT_PKG)"; \
	else echo "note: WAV output needs FluidSynth and a GM soundfont: sudo apt-get install fluidsynth $(SOUNDFONT_PKG)"; fi

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

test: install
	$(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/dataset_memory.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/generate_speed.py
	$(PY) benchmarks/rare_nearest.py

# The JSB Chorales polyphonic benchmark: about 35 minutes (30 of training) on a 2-core CPU.
bench-jsb: install
	$(PY) benchmarks/jsb.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks docs
	$(VENV)/bin/ruff format --check src tests benchmarks docs

format: install
	$(VENV)/bin/ruff format src tests benchmarks docs
	$(VENV)/bin/ruff check --fix src tests benchmarks docs

clean:
	rm -rf out build dist src/*.egg-info .pytest_cache .ruff_cache
