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

.PHONY: help setup test lint book lab labs clean

help:
	@echo "make test   set up .venv, lint, run every test in fast mode"
	@echo "make book   set up .venv, execute the course and build the site into $(BOOK_OUT)/_build/html"
	@echo "make lab    set up .venv and start JupyterLab on labs/"
	@echo "make labs   regenerate the student labs in labs/ from solutions/"

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
# The solutions run last, one notebook after the other, under nbval: any cell that raises (a
# graded cell whose check fails included) fails the run.
test: $(STAMP) lint
	SEGEDU_FAST=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --timeout=900 -q
	SEGEDU_FAST=1 OMP_NUM_THREADS=1 $(PY) -m pytest -p no:xdist --nbval-lax --timeout=900 -q solutions

# The student labs are generated from the solutions, never edited by hand.
labs: $(STAMP)
	$(PY) -m segedu.grading generate

# The book is executed for real (full mode unless SEGEDU_FAST=1 is set by the caller);
# jupyter-book's raise_on_error makes a failing chapter fail the build, and -W makes any Sphinx
# warning fail it too (--keep-going lists them all first). --all rebuilds (and so re-executes)
# every page: Sphinx alone would only redo pages whose source changed, keeping stale figures after
# a change to segedu itself. prepare_book.py first copies labs/*.ipynb
# into course/labs/ (git-ignored), checks that _toc.yml places every lab (each right after the
# chapter it practises) and writes the build's toc, $(BOOK_OUT)/_toc.yml = _toc.yml (+ the
# solutions when published); the labs are shown as students get them, not executed.
# SOLUTIONS=1 (or 0) overrides `segedu: publish_solutions` of _config.yml: publish the solutions too.
# The toc path must be absolute (jupyter-book resolves a relative one from inside course/). No
# MPLBACKEND=Agg here: kernels started with it show no figures.
# build_parallel.py is `jupyter-book build` with BOOK_JOBS processes reading, and so executing, the
# pages at once (Sphinx's -j, which jupyter-book's command line lacks); BOOK_JOBS=1 is the plain
# serial build. Each kernel gets BOOK_THREADS BLAS/OpenMP threads: with two kernels on two cores,
# more threads mostly spin against each other (as the test target's comment says too).
# benchmarks/book_build.py times the chapters and the whole target.
SOLUTIONS ?=
BOOK_JOBS ?= 2
BOOK_THREADS ?= 1
book: $(STAMP)
	$(PY) jupyter-book-config/prepare_book.py --out $(BOOK_OUT) --solutions '$(SOLUTIONS)'
	OMP_NUM_THREADS=$(BOOK_THREADS) MKL_NUM_THREADS=$(BOOK_THREADS) \
	$(PY) jupyter-book-config/build_parallel.py --jobs $(BOOK_JOBS) build course --all -W --keep-going \
		--config jupyter-book-config/_config.yml \
		--toc $(abspath $(BOOK_OUT))/_toc.yml \
		--path-output $(BOOK_OUT)
	@echo "The site is in $(BOOK_OUT)/_build/html/index.html"

# JupyterLab on the student labs; --allow-root because Colab-like containers run as root.
# JUPYTER_ARGS passes more options, e.g. JUPYTER_ARGS="--port=9999".
lab: $(STAMP)
	mkdir -p labs
	$(VENV)/bin/jupyter lab --notebook-dir=labs --allow-root --no-browser $(JUPYTER_ARGS)

clean:
	rm -rf $(BOOK_OUT) .pytest_cache
