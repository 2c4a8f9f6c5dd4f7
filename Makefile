# Landmark Tagger — the two commands a developer needs: `make run` and `make test`.
# Both create (or reuse) the virtual environment .venv and install the project into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the desktop app on the default database and the shipped model.
run: $(STAMP)
	$(BIN)/landmark-tagger

## Run the test suite (GUI tests offscreen; tests needing ../shared skip when it is absent).
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

## The tests without the slow ones (training runs, GUI end to end; marker `slow`), for quick iterations.
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow"

## Lint: ruff (rules + formatting), mypy, the import contracts of pyproject.toml (import-linter), and the
## GitHub workflows (actionlint).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/actionlint

## Print benchmark figures (not part of the tests).
bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build dist .pytest_cache

## Build the one-folder app bundle with PyInstaller into dist/ (+ a tarball on Linux); see packaging/README.md.
## FLAVOUR=cuda (default): the torch of .venv, a CUDA build on Linux (~4 GB); FLAVOUR=cpu: torch's CPU build,
## installed from PyTorch's CPU index into a build venv .venv-cpu (~0.9 GB).
.PHONY: package smoke
FLAVOUR ?= cuda
$(VENV)/.package-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,package]'
	touch $@

ifeq ($(FLAVOUR),cpu)
package:
	LT_FLAVOUR=cpu bash packaging/build.sh
else
package: $(VENV)/.package-stamp
	LT_FLAVOUR=$(FLAVOUR) PYTHON=$(BIN)/python bash packaging/build.sh
endif

## Build, then run the frozen app's --self-test and its GUI for 5 s offscreen (packaging/smoke_test.sh).
smoke: $(VENV)/.package-stamp
	PYTHON=$(BIN)/python bash packaging/smoke_test.sh
