# Two entry points: `make demo` runs the bundled example task, `make test` runs the test suite.
# Each creates .venv and installs what it needs on first use. PyTorch (needed by snorkel) is
# installed first as the CPU build torch==2.13.0; a plain `torch` would pull CUDA wheels.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.core-installed
FULL   := $(VENV)/.full-installed
CONFIG ?= configs/youtube_spam.yaml

.PHONY: demo test lint bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

$(FULL): pyproject.toml $(CORE)
	$(BIN)/pip install -q -e '.[dev,judge-local,postgres]'
	touch $@

demo: $(CORE)
	$(BIN)/hitl-triage demo $(CONFIG)

test: $(FULL)
	$(BIN)/python -m pytest -q

lint: $(FULL)
	$(BIN)/ruff check hitl_triage labeling_functions tests bench

clean-venv:
	rm -rf $(VENV)
