# The two commands (see README):
#   make main   set up, fetch MNIST, run the main job: `scratchnet compare` (report in compare-out/)
#   make test   set up, lint, and run the tests and the parity suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup browser data main test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed browser

# Headless Chromium renders the compare report in the tests. Installed only as
# root where apt-get exists (CI: a fresh Debian machine); elsewhere that test skips.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| command -v google-chrome >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (headless browser for the report test)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium: the browser test will skip"; \
	else echo "no chromium, and not root with apt-get: the browser test will skip"; fi

# MNIST for the end-to-end test, the parity suite and the main job. The tests
# skip what needs it when it cannot be had, so a failed fetch does not fail here.
data: setup
	-$(PY) -m scratchnet data fetch mnist --quiet

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -W error -m compileall -q scratchnet

test: lint data
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

main: setup
	$(PY) -m scratchnet data fetch mnist --quiet
	$(PY) -m scratchnet compare
