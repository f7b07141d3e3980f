# The two commands (see README):
#   make main   set up, fetch MNIST, run the main job
#   make test   set up, lint, and run the tests and the parity suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup data main test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

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
	$(PY) examples/mnist_cnn.py
