# Two entry points: `make demo` runs the bundled example task, `make test` runs the test suite.
# Each creates .venv and installs what it needs on first use. PyTorch (needed by snorkel) is
# installed first as the CPU build torch==2.13.0; a plain `torch` would pull CUDA wheels.
# `make test` also installs Debian's chromium and postgresql with apt-get when they are missing
# and apt-get can be run (as root, or through sudo without a password); the tests start their
# own throwaway PostgreSQL cluster from those binaries.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.core-installed
FULL   := $(VENV)/.full-installed
CONFIG ?= configs/youtube_spam.yaml
STAMPS := .make-stamps
SYSPKG := $(STAMPS)/system-packages
APT_PACKAGES := chromium postgresql
CHROMIUM_BIN ?= /usr/bin/chromium
PG_GLOB      ?= /usr/lib/postgresql/*/bin/initdb
APT_GET      ?= apt-get

.PHONY: demo test test-long lint bench clean-venv

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

# Present already: nothing to do. Missing: apt-get update once, then install; the stamp records
# success so it is not repeated. No apt-get or no root/passwordless sudo: say what to install and
# go on (those tests skip with the same instruction).
$(SYSPKG):
	@missing=""; \
	[ -x $(CHROMIUM_BIN) ] || missing="$$missing chromium"; \
	ls $(PG_GLOB) >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else sudo="-"; fi; \
	  if ! command -v $(APT_GET) >/dev/null || [ "$$sudo" = "-" ]; then \
	    echo "make test: missing Debian packages:$$missing; the browser/PostgreSQL tests will skip." >&2; \
	    echo "make test: install them with: sudo apt-get install -y $(APT_PACKAGES)" >&2; \
	    exit 0; \
	  fi; \
	  echo "make test: installing Debian packages $(APT_PACKAGES) (missing:$$missing)"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive $(APT_GET) update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq $(APT_PACKAGES) >/dev/null || exit 1; \
	fi; \
	mkdir -p $(STAMPS) && touch $@

demo: $(CORE)
	$(BIN)/hitl-triage demo $(CONFIG)

test: $(FULL) $(SYSPKG)
	$(BIN)/python -m pytest -q -m "not long"

# the property grid of every development set x budget (about an hour on 2 cores)
test-long: $(FULL) $(SYSPKG)
	$(BIN)/python -m pytest -q -m long

lint: $(FULL)
	$(BIN)/ruff check hitl_triage labeling_functions tests bench

clean-venv:
	rm -rf $(VENV)
