# spectralkd-lite: set up, run the demo, test. Everything lives in .venv inside the repo.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A CPU wheel of this torch is on disk on the project's machines; any torch >= 2.4 works.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,animations,laptop,hub
SYSTEM_PACKAGES := libcairo2-dev libpango1.0-dev pkg-config ffmpeg
# the browser tests drive Debian's Chromium (Playwright's own browser download is not used)
BROWSER_PACKAGES := chromium
PYTEST_ARGS ?=
PYTEST := HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -p no:cacheprovider
PHASE_TIMES := test-artifacts/phase-times.txt
# when this make started (.ci/run passes its own start): the "setup" phase of `make test` is measured from it
ifndef START_TIME
START_TIME := $(shell date +%s)
endif

.PHONY: setup system-deps browser-deps demo test test-browser test-timm rehearsal lint format notebooks animations bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# manim builds pycairo and manimpango from source: they need cairo, pango and pkg-config.
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then echo "please install: $$missing (cairo, pango, pkg-config, ffmpeg)"; exit 1; fi; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES); \
	  else echo "no /usr/bin/chromium: the browser tests will be skipped (they fail in CI)"; fi; \
	fi

comma := ,
# one stamp per set of extras: `make setup EXTRAS=dev` after a full setup installs what dev needs
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

setup: system-deps $(STAMP)

# installs once, again when pyproject.toml or EXTRAS change (a stamp, so that `make demo` after `make setup`
# starts at once)
$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

demo: setup
	$(BIN)/spectralkd-lite demo --out runs/demo

# The phases (tools/test_phases.sh): two lanes side by side on 2 cores or more, each phase timed as it
# ends, the table of them all printed at the close and kept in $(PHASE_TIMES):
#   notebooks: each notebook (nbval-lax) in order, then the browser tests (they use the notebooks' caches);
#   checks:    ruff, the unit tests, then the Colab rehearsal (tools/rehearsal.sh; skipped when
#              PYTEST_ARGS select tests).
# A failing phase does not stop the later ones; the target fails at the end if any failed. PYTEST_ARGS go
# to every pytest run (a phase where they select no test passes). TEST_LANES=1 runs the lanes in turn.
test: setup browser-deps
	BIN=$(BIN) PYTEST_ARGS="$(PYTEST_ARGS)" PHASE_TIMES=$(PHASE_TIMES) START_TIME=$(START_TIME) bash tools/test_phases.sh

# The Colab rehearsal alone (a phase of `make test`): the wheel in a fresh venv with the lowest declared
# transformers and ipywidgets, notebooks 05, 04, 06 in the full profile on local stand-ins of the hub
# (tiny shapes, notebook 05 on one seed). About 3.5 min on 2 busy cores: 65 s for the venv, 20 s for
# the stand-ins, 30 s per notebook.
rehearsal: setup
	bash tools/rehearsal.sh

# The widgets in JupyterLab, driven in Chromium; screenshots in test-artifacts/screenshots.
test-browser: setup browser-deps
	$(PYTEST) tests/browser $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check spectralkd_lite tests benchmarks animations tools

format:
	$(BIN)/ruff format spectralkd_lite tests benchmarks animations tools
	$(BIN)/ruff check --fix spectralkd_lite tests benchmarks animations tools

# Re-execute every notebook (the profile CI runs: laptop) and store it with clean metadata.
notebooks: setup
	HF_HUB_OFFLINE=1 $(BIN)/python tools/notebooks.py execute notebooks/*.ipynb

animations: setup
	$(BIN)/python animations/render.py

# The CaiT test with a real timm model. timm needs torchvision, and PyPI's torchvision does not load
# beside the CPU torch of .venv, so it runs in its own venv with a matching pair (on disk for x86_64 on
# the project's machines, a CUDA build of about 5.5 GB elsewhere); `make test` skips that test.
TIMM_VENV := .venv-timm
TIMM_SPEC ?= torch==2.14.1 torchvision==0.29.1 timm
test-timm:
	@[ -x $(TIMM_VENV)/bin/python ] || $(PYTHON) -m venv $(TIMM_VENV)
	$(TIMM_VENV)/bin/python -m pip install -q $(TIMM_SPEC) pytest
	$(TIMM_VENV)/bin/python -m pip install -q -e .
	HF_HUB_OFFLINE=1 $(TIMM_VENV)/bin/python -m pytest -p no:cacheprovider tests/test_vision.py -k timm -v

bench: setup
	$(BIN)/python benchmarks/analysis_overhead.py
	$(BIN)/python benchmarks/streaming_memory.py
	$(BIN)/python benchmarks/kd_overhead.py

clean:
	rm -rf runs .pytest_cache test-artifacts
