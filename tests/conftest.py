"""Fixtures shared by the test packages: a machine without a network, the environments in
which a chapter's or a lab's online cell is run without one, a training run interrupted, and the
book built once per test run (:func:`fast_book_build`)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_network(monkeypatch):
    """Every connection fails at once, as on a machine without a route. Name lookups succeed, so
    ``connect`` is reached; returns the list of the socket timeouts of the attempts."""
    seen = []

    def refuse(self, address):
        seen.append(self.gettimeout())
        raise OSError(101, "Network is unreachable")

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("192.0.2.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return seen


@pytest.fixture
def chapter_env(tmp_path, monkeypatch, no_network):
    """A book chapter's cell as the offline tests run it: fast mode, a fresh cache in
    ``tmp_path``, not on Colab, matplotlib's Agg backend with no figure open before or after,
    and no network (yields ``no_network``'s record of the attempts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SEGEDU_FAST", "1")
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    plt.close("all")
    yield no_network
    plt.close("all")


@pytest.fixture
def online_lab(tmp_path, monkeypatch, no_network):
    """A lab's online cell as the offline tests run it: online and fast mode, the cache and the
    working directory in ``tmp_path`` (the test fills the cache or not), matplotlib's Agg
    backend, and no network (returns ``no_network``'s record of the attempts)."""
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    monkeypatch.setenv("SEGEDU_FAST", "1")
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    return no_network


# ---------------------------------------------------------------------------------------------
# warm kernels (tests/warm_kernel.py): one folder for the whole run, made by the process that
# owns it (pytest's own, or xdist's controller) and inherited by the workers; a pytest started
# inside a test reuses its parent's


def pytest_configure(config):
    from . import warm_kernel

    if os.environ.get(warm_kernel.FOLDER_VARIABLE) or sys.platform != "linux":
        return  # a parent run's folder; or a system where a fork after torch is not safe (macOS)
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="segedu-warm-kernels-"))
    warm_kernel.kernelspec(folder)
    os.environ[warm_kernel.FOLDER_VARIABLE] = str(folder)
    os.environ[warm_kernel.OWNER_VARIABLE] = str(os.getpid())
    config._segedu_warm_kernels = folder


def pytest_unconfigure(config):
    from . import warm_kernel

    folder = getattr(config, "_segedu_warm_kernels", None)
    if folder is None:
        return
    os.environ.pop(warm_kernel.FOLDER_VARIABLE, None)
    os.environ.pop(warm_kernel.OWNER_VARIABLE, None)
    shutil.rmtree(folder, ignore_errors=True)  # the zygotes end within a second of this run


@pytest.fixture
def warm_kernels(monkeypatch):
    """The ``python3`` kernels that this test starts are warm (tests/warm_kernel.py): forked from
    a process that has imported torch, torchvision and matplotlib for the same environment."""
    from .warm_kernel import warm_env

    for name, value in warm_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def interrupt_training(monkeypatch):
    """``interrupt_training(module, after=1)``: ``module.train_steps`` (the
    :func:`segedu.engine.train_steps` that ``module`` calls: :mod:`segedu.zoo.recipe`'s for the
    zoo's recipes) raises ``KeyboardInterrupt`` when the step after step ``after`` (counted from
    0 in that call) starts, so that the run has written its resume file for step ``after`` when
    it saves every step; ``undo()`` restores it, so that the test can start the run again and
    watch it resume."""

    class Interruption:
        def __call__(self, module, after: int = 1) -> Interruption:
            self.module, self.real = module, module.train_steps

            def interrupted(compute_loss, *args, **kwargs):
                calls = [0]

                def stopping(batch):
                    calls[0] += 1
                    if calls[0] > after + 1:
                        raise KeyboardInterrupt
                    return compute_loss(batch)
                return self.real(stopping, *args, **kwargs)

            monkeypatch.setattr(module, "train_steps", interrupted)
            return self

        def undo(self) -> None:
            monkeypatch.setattr(self.module, "train_steps", self.real)

    return Interruption()


# ---------------------------------------------------------------------------------------------
# the book, executed once per test run


BOOK_GROUP = "book"
# Seconds allowed to the fast-mode build (about 5 min on a quiet 2-core machine, 2026-11).
BOOK_BUILD_TIMEOUT = 1200


def _book_build_folder(tmp_path_factory) -> Path:
    """A folder shared by every pytest-xdist worker of this run (and by this run only)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fast-book"


@pytest.fixture(scope="session")
def fast_book_build(tmp_path_factory) -> Path:
    """The BOOK_OUT folder of the one fast-mode ``make book`` of this test run: executed chapter
    notebooks in ``<out>/_build/jupyter_execute/``, the site in ``<out>/_build/html/``, each page's
    cell times in ``<out>/_build/cell-times/`` (jupyter-book-config/build_parallel.py).

    Each chapter's kernel sees only what its install cell installs (``BOOK_KERNEL_ENV=
    tests/student_install.py``). Built once per run, also under pytest-xdist: the first worker
    that asks builds it under a file lock, the others (if any asks) wait and reuse it; a failed
    build is recorded and fails every test that uses it with the build's log, without building
    again. The tests that use this fixture are sent to one worker, first (``--dist loadgroup``,
    :func:`pytest_collection_modifyitems`), so the other worker goes on with the rest meanwhile.
    ``SEGEDU_SITE_BUILD=<BOOK_OUT folder>`` reuses a finished build instead (made with
    ``SEGEDU_FAST=1 make book BOOK_OUT=<folder> BOOK_KERNEL_ENV=tests/student_install.py``).
    """
    reuse = os.environ.get("SEGEDU_SITE_BUILD")
    if reuse:
        return Path(reuse).resolve()
    from filelock import FileLock

    out = _book_build_folder(tmp_path_factory)
    outcome = out.parent / "fast-book-outcome.json"
    with FileLock(str(out.parent / "fast-book.lock")):
        if not outcome.exists():
            # MPLBACKEND=Agg, as the Makefile's test target exports it: a kernel started with it
            # draws nothing on plt.show(), so the chapters select the inline backend themselves
            # (`%matplotlib inline`), and tests/test_book.py checks that their figures are there.
            # Its kernels are warm (tests/warm_kernel.py).
            from .warm_kernel import warm_env

            env = dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg", **warm_env())
            # Build what the configuration says (no SOLUTIONS override from the caller's
            # environment).
            env.pop("SOLUTIONS", None)
            command = [shutil.which("make") or "make", "book", f"BOOK_OUT={out}",
                       "BOOK_KERNEL_ENV=tests/student_install.py"]
            try:
                result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                                        text=True, timeout=BOOK_BUILD_TIMEOUT)
                returncode = result.returncode
                log = result.stdout[-6000:] + "\n" + result.stderr[-6000:]
            except subprocess.TimeoutExpired as error:
                returncode = -1
                log = f"stopped after {BOOK_BUILD_TIMEOUT} s:\n{str(error.stdout)[-6000:]}"
            outcome.write_text(json.dumps({"returncode": returncode, "log": log}),
                               encoding="utf8")
        built = json.loads(outcome.read_text(encoding="utf8"))
    assert built["returncode"] == 0, f"make book (fast mode) failed:\n{built['log']}"
    return out


# The tests that use fast_book_build, by node id. pytest-xdist's own `--dist loadgroup` cannot
# group them under pytest 9: it marks a group by renaming `item._nodeid`, which pytest 9 no longer
# reads (seen: both workers built the book, one waiting 195 s on the other's lock). So segedu's
# scheduler (pytest_xdist_make_scheduler) groups by this rule, and collection refuses a test that
# uses the fixture without matching it.
BOOK_TESTS = (
    "tests/test_book.py::test_chapter_executes_in_fast_mode",
    "tests/test_site.py::test_every_page_of_the_book_loads_cleanly_in_chromium",
    "tests/test_slides.py::",
)


# the mutant tests of one lab: test_a_slip_costs_only_its_own_points[05-...] and
# test_skipping_changes_no_outcome[05_detection.ipynb]
MUTANTS_OF_LAB = re.compile(r"tests/grading/test_lab_mutants\.py::test_\w+\[(\d\d)[-_]")


def in_book_group(nodeid: str) -> bool:
    return nodeid.startswith(BOOK_TESTS)


def pytest_collection_modifyitems(config, items):
    """The tests of the shared book build run first, on one worker (see BOOK_TESTS): the build
    takes a while, and the other worker takes the other tests meanwhile."""
    uses_book = [item for item in items if "fast_book_build" in getattr(item, "fixturenames", ())]
    strays = [item.nodeid for item in uses_book if not in_book_group(item.nodeid)]
    if strays:
        raise pytest.UsageError(f"{strays} use fast_book_build: add them to BOOK_TESTS in "
                                "tests/conftest.py, so that one worker runs every such test")
    first = [item for item in items if in_book_group(item.nodeid)]
    items[:] = first + [item for item in items if not in_book_group(item.nodeid)]


@pytest.hookimpl(optionalhook=True)  # a run without xdist (-p no:xdist) has no such hook
def pytest_xdist_make_scheduler(config, log):
    """``-n N``: pytest-xdist's load scheduling, except that the book's tests are one unit, and
    the mutant tests of one lab are one unit (each worker would otherwise run that lab's solution
    and its traced graded cells again, ``tests/grading/test_lab_mutants.py``)."""
    from xdist.scheduler import LoadScopeScheduling

    class BookGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    return BookGroupScheduling(config, log)


def scheduling_unit(nodeid: str) -> str:
    """The unit of tests that one worker runs together (pytest_xdist_make_scheduler): the book's
    tests, a lab's mutants, a file with module fixtures; else the test alone."""
    if in_book_group(nodeid):
        return BOOK_GROUP
    lab = MUTANTS_OF_LAB.match(nodeid)
    if lab:
        return f"mutants of lab {lab.group(1)}"
    module = nodeid.split("::", 1)[0]
    return module if has_module_fixtures(module) else nodeid


MODULE_SCOPE = re.compile(r"""scope\s*=\s*["'](module|package)["']""")


@functools.cache
def has_module_fixtures(module: str) -> bool:
    """Whether the test file ``module`` (a path from the repository root), or a conftest.py of
    its folders, defines a fixture of module (or package) scope. Such a file is one unit of
    the scheduler: split between the workers, each would build its fixtures again (seen: the
    Gradescope matrix, 150-230 s, graded on both workers of one CI run)."""
    folders = [ROOT / folder for folder in Path(module).parents if folder != Path(".")]
    files = [ROOT / module, *(folder / "conftest.py" for folder in folders)]
    return any(MODULE_SCOPE.search(file.read_text(encoding="utf8")) for file in files
               if file.is_file())

