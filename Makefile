# seq2seq-course: two entry points.
#   make book   -> set up .venv and build the HTML book into _build/html (strict)
#   make test   -> set up .venv (+ Chromium) and run every test:
#                  workflow check, unit tests, nbval over book/, strict book build, browser tests
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On machines without torch a bare "torch" pulls a multi-GB CUDA build; install a fixed
# version first (here the local CPU wheel). Override e.g. TORCH_SPEC="torch" on Colab-like hosts.
# TORCH_SPEC is split into words, so it may carry pip options: the GitHub workflows pass
# TORCH_SPEC="torch==2.13.0 --index-url <PyTorch's CPU-only index>".
TORCH_SPEC ?= torch==2.13.0
export TORCH_SPEC  # the Colab rehearsal (tests/test_colab.py) installs the same torch
STAMP := $(VENV)/.installed
# Idle OpenMP threads sleep instead of spinning: same results, and a notebook does not slow
# down 10x when another process shares the 2 cores.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: book test workflows unit nbval book-strict browser browser-deps setup clean bench zoo

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || \
	    { read -ra spec <<< "$(TORCH_SPEC)"; $(BIN)/python -m pip install -q "$${spec[@]}"; }
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# Retrain the shipped zoo models (deterministic, CPU, 2 threads) into s2s_lib/weights/; commit the result.
zoo: $(STAMP)
	$(BIN)/python scripts/train_zoo.py

test: $(STAMP) browser-deps
	$(MAKE) workflows
	$(MAKE) unit
	$(MAKE) nbval
	$(MAKE) book-strict
	$(MAKE) browser

# The GitHub workflows against the JSON schema that check-jsonschema ships (no network).
workflows: $(STAMP)
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not browser" -q

nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval book --nbval-current-env --nbval-cell-timeout=600 \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q

book-strict: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser -m browser -q

# Debian's Chromium (never "playwright install") and a font that renders Hangul.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "NOTE: cannot install Debian's chromium here (no apt/root); browser tests will be skipped."; fi

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf _build
