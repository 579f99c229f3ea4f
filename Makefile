# reidwatch: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
PYTEST_ARGS ?=

.PHONY: install system-deps ui-deps demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash scripts/system-deps.sh

ui-deps:
	bash scripts/system-deps.sh ui

demo: install ui-deps
	bash scripts/demo.sh $(DEMO_DIR)

test: install system-deps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not gpu" --timeout=900 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check app reid_core trackers ui tests bench devkit
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/bench_encoder.py --max-seconds 5
	$(PY) bench/bench_pipeline.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache build *.egg-info
