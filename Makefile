# spectralkd-lite: set up, run the demo, test. Everything lives in .venv inside the repo.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A CPU wheel of this torch is on disk on the project's machines; any torch >= 2.4 works.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,animations,laptop
SYSTEM_PACKAGES := libcairo2-dev libpango1.0-dev pkg-config ffmpeg
# the browser tests drive Debian's Chromium (Playwright's own browser download is not used)
BROWSER_PACKAGES := chromium
PYTEST_ARGS ?=

.PHONY: setup system-deps browser-deps demo test test-browser lint format notebooks animations bench clean

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

setup: system-deps $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"

demo: setup
	$(BIN)/spectralkd-lite demo --out runs/demo

test: setup browser-deps
	$(BIN)/ruff check spectralkd_lite tests benchmarks animations tools
	$(BIN)/ruff format --check spectralkd_lite tests benchmarks animations tools
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider tests notebooks $(PYTEST_ARGS)

# The widgets in JupyterLab, driven in Chromium; screenshots in test-artifacts/screenshots.
test-browser: setup browser-deps
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -p no:cacheprovider tests/browser $(PYTEST_ARGS)

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

bench: setup
	$(BIN)/python benchmarks/analysis_overhead.py
	$(BIN)/python benchmarks/streaming_memory.py
	$(BIN)/python benchmarks/kd_overhead.py

clean:
	rm -rf runs .pytest_cache test-artifacts
