# segedu — every target sets up what it needs first, so each works on a fresh clone that has only
# Python 3.11+. The virtual environment lives in .venv; torch and torchvision are pinned by
# constraints.txt there (the package itself only asks for lower bounds, so Colab keeps its torch).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when the dependency list or the pins change.
STAMP  := $(VENV)/.installed

BOOK_OUT ?= _build/book
PYTEST_WORKERS ?= 2

.PHONY: help setup test lint book lab clean

help:
	@echo "make test   set up .venv, lint, run every test in fast mode"
	@echo "make book   set up .venv, execute the course and build the site into $(BOOK_OUT)/_build/html"
	@echo "make lab    set up .venv and start JupyterLab on labs/"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install --disable-pip-version-check -c constraints.txt -e '.[dev,book]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check segedu tests benchmarks

# Fast mode (SEGEDU_FAST=1) shrinks data and epochs; Agg keeps matplotlib off any screen; one
# BLAS/OpenMP thread per pytest worker, since two workers share two cores (oversubscription was
# seen to slow the generators five-fold).
test: $(STAMP) lint
	SEGEDU_FAST=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --timeout=900 -q

# The book is executed for real (full mode unless SEGEDU_FAST=1 is set by the caller);
# jupyter-book's raise_on_error makes a failing chapter fail the build. The toc path must be
# absolute (jupyter-book resolves a relative one from inside course/). No MPLBACKEND=Agg here:
# kernels started with it show no figures.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build course \
		--config jupyter-book-config/_config.yml \
		--toc $(CURDIR)/jupyter-book-config/_toc.yml \
		--path-output $(BOOK_OUT)
	@echo "The site is in $(BOOK_OUT)/_build/html/index.html"

# JupyterLab on the student labs; --allow-root because Colab-like containers run as root.
# JUPYTER_ARGS passes more options, e.g. JUPYTER_ARGS="--port=9999".
lab: $(STAMP)
	mkdir -p labs
	$(VENV)/bin/jupyter lab --notebook-dir=labs --allow-root --no-browser $(JUPYTER_ARGS)

clean:
	rm -rf $(BOOK_OUT) .pytest_cache
