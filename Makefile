# segedu — every target sets up what it needs first, so each works on a fresh clone that has only
# Python 3.11+. The virtual environment lives in .venv, installed from the full lock
# constraints.txt (every distribution pinned with ==; `make lock` refreshes it). The package itself
# only asks for lower bounds, so Colab and conda keep their own torch and the rest.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install when the dependency list or the pins change.
STAMP  := $(VENV)/.installed

BOOK_OUT ?= _build/book
PYTEST_WORKERS ?= 2

.PHONY: help setup bytecode test lint book slides lab labs lock refs clean

help:
	@echo "make test   set up .venv, lint, run every test in fast mode"
	@echo "make book   set up .venv, execute the course and build the site into $(BOOK_OUT)/_build/html"
	@echo "make slides one reveal.js deck (and its PDF) per chapter into $(SLIDES_OUT), from the"
	@echo "            chapters that make book executed (make book runs first if they are out of date)"
	@echo "make lab    set up .venv and start JupyterLab on labs/"
	@echo "make labs   regenerate the student labs in labs/ from solutions/"
	@echo "make lock   re-resolve every dependency and rewrite the lock, constraints.txt"
	@echo "make refs   record the outputs of the reference packages not in the lock (omnipose)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# scripts/install_venv.py installs the lock with uv (about half of pip's time), falling back to pip.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PYTHON) scripts/install_venv.py $(PY)
	touch $(STAMP)

setup: $(STAMP)

# segedu's own bytecode, written once before the tests or the book: the install compiles every
# installed package (scripts/install_venv.py), but segedu is installed editable from this folder,
# and where PYTHONDONTWRITEBYTECODE is set (this machine sets it) every process would compile each
# segedu module it imports again (about 0.25 CPU s a kernel; a test run starts over a hundred).
# compileall only rewrites what changed.
bytecode: $(STAMP)
	$(PY) -m compileall -q segedu

lint: $(STAMP)
	$(PY) -m ruff check segedu tests benchmarks

# Fast mode (SEGEDU_FAST=1) shrinks data and epochs; Agg keeps matplotlib off any screen; one
# BLAS/OpenMP thread per pytest worker, since two workers share two cores (oversubscription was
# seen to slow the generators five-fold).
# The solutions run among the tests (tests/test_student_install.py), each in an empty folder on
# the install of its first cell: any cell that raises (a graded cell whose check fails included)
# fails the run. --durations lists where the time went.
# The tests that use the book's one fast-mode build (tests/conftest.py, fast_book_build and
# BOOK_TESTS: the chapters, the site and the slides in Chromium) form one unit that one worker runs
# first (conftest's pytest_xdist_make_scheduler), building the book while the other worker runs
# everything else.
test: $(STAMP) lint bytecode
	SEGEDU_FAST=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) \
		--timeout=900 -q --durations=30

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
# benchmarks/book_build.py times the chapters and the whole target. Each page's cells are timed
# (wall and CPU seconds) into $(BOOK_OUT)/_build/cell-times/<page>.json, the measurements that the
# cell timeout of _config.yml is checked against. BOOK_KERNEL_ENV=<file.py> runs each page's
# kernel in the environment that the file's kernel_env(notebook_path) adds (the tests give
# tests/student_install.py: each chapter on the install of its first cell).
SOLUTIONS ?=
BOOK_JOBS ?= 2
BOOK_THREADS ?= 1
BOOK_KERNEL_ENV ?=
# The settings that segedu/slides/reuse.py records with the build's inputs (see the slides target).
BOOK_INPUTS = --solutions '$(SOLUTIONS)' --kernel-env '$(BOOK_KERNEL_ENV)'
book: $(STAMP) bytecode
	$(PY) jupyter-book-config/prepare_book.py --out $(BOOK_OUT) --solutions '$(SOLUTIONS)'
	$(PY) -m segedu.slides.reuse snapshot $(BOOK_OUT) $(BOOK_INPUTS)
	OMP_NUM_THREADS=$(BOOK_THREADS) MKL_NUM_THREADS=$(BOOK_THREADS) \
	$(PY) jupyter-book-config/build_parallel.py --jobs $(BOOK_JOBS) \
		--record $(abspath $(BOOK_OUT))/_build/cell-times \
		$(if $(BOOK_KERNEL_ENV),--kernel-env $(abspath $(BOOK_KERNEL_ENV))) \
		build course --all -W --keep-going \
		--config jupyter-book-config/_config.yml \
		--toc $(abspath $(BOOK_OUT))/_toc.yml \
		--path-output $(BOOK_OUT)
	$(PY) -m segedu.slides.reuse record $(BOOK_OUT)
	@echo "The site is in $(BOOK_OUT)/_build/html/index.html"

# The lecture slides: one reveal.js deck per chapter, made by segedu.slides from the chapters that
# `make book` executed ($(BOOK_OUT)/_build/jupyter_execute, so the decks' figures are the book's),
# each with a PDF of its print view (headless Chromium: Debian's /usr/bin/chromium or
# SEGEDU_CHROMIUM, never a browser that Playwright downloads). reveal.js and MathJax are served from
# each deck's own folder. The book build itself writes the same decks, without PDFs, into the site
# (slides/<chapter>/) and links each chapter to its deck. What a slide shows is chosen by marks in
# the chapter (course/instructor.md says how).
# The executed chapters are reused when neither the chapters, segedu, the book's configuration nor
# the build's settings (SEGEDU_FAST, SOLUTIONS, BOOK_KERNEL_ENV) have changed since `make book`
# recorded them (segedu/slides/reuse.py, which says which way it went); otherwise `make book` runs
# first. So `make book && make slides` executes each chapter once. SLIDES_PDF= leaves the PDFs out.
SLIDES_OUT ?= _build/slides
SLIDES_PDF ?= --pdf
slides: $(STAMP) bytecode
	@$(PY) -m segedu.slides.reuse check $(BOOK_OUT) $(BOOK_INPUTS) || $(MAKE) --no-print-directory book
	$(PY) -m segedu.slides $(BOOK_OUT)/_build/jupyter_execute --out $(SLIDES_OUT) $(SLIDES_PDF)
	@echo "The decks are in $(SLIDES_OUT)/index.html"

# JupyterLab on the student labs; --allow-root because Colab-like containers run as root.
# JUPYTER_ARGS passes more options, e.g. JUPYTER_ARGS="--port=9999".
lab: $(STAMP)
	mkdir -p labs
	$(VENV)/bin/jupyter lab --notebook-dir=labs --allow-root --no-browser $(JUPYTER_ARGS)

# The lock: a new virtual environment gets the project with only torch and torchvision pinned
# (the releases this machine's disk holds; every other distribution resolves to the newest release
# that pyproject.toml allows), and its `pip freeze` becomes constraints.txt. Run `make test` after
# it: tests/test_packaging.py checks .venv against the new lock.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# jsonschema 4.24+ imports rfc3987-syntax, which compiles an Earley grammar at import: about 1 CPU s
# in every process that reads a notebook (each nbval run of the grader, each nbclient, jupyter-book),
# for validating IRIs, which no notebook schema uses. 4.23 checks the same notebook schema.
LOCK_PINS  := $(TORCH_PINS) 'jsonschema<4.24'
LOCK_VENV  := _build/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --disable-pip-version-check -q $(LOCK_PINS) -e '.[dev,book]'
	sed -n '/^#/p' constraints.txt > $(LOCK_VENV)/lock.txt
	$(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | grep -v '^pip==' \
		| LC_ALL=C sort -f >> $(LOCK_VENV)/lock.txt
	mv $(LOCK_VENV)/lock.txt constraints.txt
	rm -rf $(LOCK_VENV)
	@echo "constraints.txt rewritten: review 'git diff constraints.txt', then run make test"

# The reference packages that the lock leaves out (omnipose: 33 more distributions, and it needs an
# older ncolor than pip picks): their outputs on the reference tests' cases are recorded once as
# fixtures, which the tests compare with where the package is missing (CI), and with the package
# itself where it is installed. scripts/record_refs.py installs each pinned reference package into
# _build/ref-venv (which sees .venv's packages; .venv is not changed) and runs its recorder there.
refs: $(STAMP)
	$(PY) scripts/record_refs.py

clean:
	rm -rf $(BOOK_OUT) .pytest_cache
