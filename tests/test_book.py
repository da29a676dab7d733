"""The course book: table of contents, configuration, Colab cells, and every chapter executed.

The book itself is built by `make book` (Jupyter Book 1). These tests check, in fast mode
(SEGEDU_FAST=1), what would make that build fail or the published site wrong:

- every page in course/ and every lab in labs/ is in the table of contents, and every entry of the
  table exists; the labs sit among the chapters, each after the chapter it practises;
- the configuration executes every chapter and makes a failing cell fail the build;
- each chapter notebook starts with the Colab install cell and a Colab badge that agree with the
  repository address of the configuration;
- each chapter notebook executes without error on the install of its first cell, in time, draws
  its figures and glues every number that its prose pastes (segedu.book.glue, myst-nb's
  {glue:text} roles). The chapters are executed once per test run, by the fast-mode book build
  that tests/test_site.py opens in Chromium too (``fast_book_build``, tests/conftest.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from . import book_config, reading_rules

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
CONFIG_DIR = ROOT / "jupyter-book-config"
CONFIG = CONFIG_DIR / "_config.yml"
TOC = CONFIG_DIR / "_toc.yml"

# CPU seconds allowed to one cell, and to a whole chapter, in fast mode.
CELL_TIMEOUT = 120
CHAPTER_BUDGET = 120


def _load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf8"))


def _toc_entries(node) -> list[str]:
    """Every `root` and `file` of the (nested) table of contents, without extension."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for value in node.values():
            if isinstance(value, list | dict):
                found.extend(_toc_entries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_toc_entries(item))
    return [str(Path(entry).with_suffix("")) if Path(entry).suffix in (".md", ".ipynb") else entry
            for entry in found]


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf8")
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.S)
    return yaml.safe_load(match.group(1)) if match else {}


def _pages() -> list[Path]:
    return sorted(p for p in COURSE.rglob("*.md") if "_build" not in p.parts)


def _chapters() -> list[Path]:
    """The executable pages: MyST Markdown notebooks (a jupytext header with a kernelspec)."""
    return [p for p in _pages() if "kernelspec" in _front_matter(p)]


def _code_cells(path: Path) -> list[str]:
    import jupytext

    notebook = jupytext.read(path)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _repository_url() -> str:
    return _load_yaml(CONFIG)["repository"]["url"].rstrip("/")


def _colab_extension():
    return book_config.load("_ext/segedu_colab.py")


# ---------------------------------------------------------------------------------------------
# (a) table of contents


def test_toc_lists_every_page_and_only_existing_pages():
    entries = _toc_entries(_load_yaml(TOC))
    # The chapters of course/ and the student labs of labs/ (copied to course/labs/ by `make book`).
    pages = {str(p.relative_to(COURSE).with_suffix("")) for p in _pages()}
    pages |= {f"labs/{p.stem}" for p in (ROOT / "labs").glob("*.ipynb")}
    assert len(entries) == len(set(entries)), f"pages listed twice in {TOC.name}: {entries}"
    missing = sorted(pages - set(entries))
    assert not missing, ("pages of course/ or labs/ missing from jupyter-book-config/_toc.yml: "
                         f"{missing}")
    dangling = sorted(set(entries) - pages)
    assert not dangling, ("_toc.yml lists pages that exist neither in course/ nor in labs/: "
                          f"{dangling}")


def _number(entry: str) -> int:
    return int(re.match(r"(?:labs/)?(\d+)_", entry).group(1))


def test_toc_alternates_chapters_and_labs_in_reading_order():
    """The labs sit among the chapters, each after the chapter it practises (placed by hand in
    _toc.yml): the book opens with a chapter, the chapters keep their number order, and no part
    holds only labs (no "Labs" appendix)."""
    entries = [e for e in _toc_entries(_load_yaml(TOC)) if re.match(r"(?:labs/)?\d+_", e)]
    labs = [e for e in entries if e.startswith("labs/")]
    chapters = [e for e in entries if not e.startswith("labs/")]
    assert labs, "no lab in the table of contents"
    assert not entries[0].startswith("labs/"), "the book starts with a lab"
    assert chapters == sorted(chapters, key=_number), f"chapters out of order: {chapters}"
    parts = _load_yaml(TOC)["parts"]
    assert not any(all(str(c.get("file", "")).startswith("labs/") for c in part["chapters"])
                   for part in parts), "a part holds only labs: place each lab after its chapter"
    # No two labs in a row: each follows its own chapter.
    pairs = [(a, b) for a, b in zip(entries, entries[1:], strict=False)
             if a.startswith("labs/") and b.startswith("labs/")]
    assert not pairs, f"labs in a row (each lab goes right after its chapter): {pairs}"


def test_there_is_at_least_one_chapter_notebook():
    assert _chapters(), "course/ has no MyST notebook (a .md file with a kernelspec header)"


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda p: p.name)
def test_chapter_is_a_jupytext_myst_notebook(chapter):
    header = _front_matter(chapter)
    assert header["kernelspec"]["name"] == "python3"
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"


# ---------------------------------------------------------------------------------------------
# (c) configuration


def test_config_executes_every_chapter_and_fails_on_errors():
    config = _load_yaml(CONFIG)
    execute = config["execute"]
    assert execute["execute_notebooks"] in ("force", "cache")
    assert execute["raise_on_error"] is True
    assert not execute.get("allow_errors", False)
    assert config["only_build_toc_files"] is True
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["path_to_book"] == "course"


# The cell timeout of _config.yml over the longest cell of the last recorded full-mode build: a
# kernel beside the build's other kernel and two CPU-bound processes gets half a core of two (2x),
# and a load average of 8 on two cores, as seen while building, a quarter (4x).
TIMEOUT_MARGIN = 4


def longest_recorded_cell(results: dict) -> tuple[float, str, str]:
    """(seconds, page, label): the longest cell of the last full-mode ``make book`` recorded by
    benchmarks/book_build.py, in CPU seconds where the build recorded its cells, else its
    chapter's wall time (no cell takes longer than its chapter)."""
    runs = [(run["date"], label, run) for label, kinds in results.items()
            for kind, run in kinds.items() if kind == "make" and run.get("mode") == "full"]
    assert runs, "benchmarks/results/book_build.json holds no full-mode `make book` run"
    _, label, run = max(runs, key=lambda r: r[0])
    longest = {page: seconds for page, seconds in run.get("executed", {}).items()}
    for page, times in run.get("cells", {}).items():
        cells = [c["cpu_seconds"] for c in times["slowest_cells"] if c["cpu_seconds"] is not None]
        if cells:
            longest[page] = max(cells)
    page = max(longest, key=longest.get)
    return longest[page], page, label


def test_cell_timeout_has_the_margin_that_the_recorded_build_justifies():
    results = json.loads((ROOT / "benchmarks" / "results" / "book_build.json")
                         .read_text(encoding="utf8"))
    seconds, page, label = longest_recorded_cell(results)
    timeout = _load_yaml(CONFIG)["execute"]["timeout"]
    assert timeout >= TIMEOUT_MARGIN * seconds, (
        f"the cell timeout ({timeout} s) is less than {TIMEOUT_MARGIN} x the longest cell of the "
        f"last full-mode build ({page}: {seconds:.0f} s, run '{label}'): shorten the cell or "
        "raise the timeout")


def test_longest_recorded_cell_prefers_cell_times_to_chapter_times():
    results = {
        "old": {"make": {"mode": "full", "date": "2026-01-01 10:00", "executed": {"a.md": 900.0}}},
        "fast": {"make": {"mode": "fast", "date": "2026-03-01 10:00", "executed": {"a.md": 999.0}}},
        "new": {"make": {"mode": "full", "date": "2026-02-01 10:00",
                         "executed": {"a.md": 200.0, "b.md": 150.0},
                         "cells": {"a.md": {"slowest_cells": [{"cpu_seconds": 90.0},
                                                              {"cpu_seconds": 10.0}]}}}},
    }
    assert longest_recorded_cell(results) == (150.0, "b.md", "new")


def test_config_loads_no_extension_that_needs_the_network():
    sphinx = _load_yaml(CONFIG).get("sphinx") or {}
    assert not sphinx.get("extra_extensions"), ("extra Sphinx extensions must be checked for "
                                                "network use")
    # segedu_slides builds each chapter's deck from files on disk (segedu.slides: no download)
    assert set(sphinx.get("local_extensions") or {}) <= {"segedu_colab", "segedu_offline",
                                                          "segedu_slides"}
    assert (sphinx.get("config") or {}).get("intersphinx_mapping") == {}


# ---------------------------------------------------------------------------------------------
# (d) Colab install cell and badge


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda p: p.name)
def test_chapter_starts_with_the_colab_install_cell(chapter):
    first = _code_cells(chapter)[0]
    assert '"google.colab" in sys.modules' in first, (
        "the first code cell must install segedu on Colab only")
    assert "pip" in first and "install" in first
    assert f"git+{_repository_url()}" in first, ("the install cell must use the repository of "
                                                 "_config.yml")
    # Colab's preinstalled torch must be kept: never reinstall or pin it.
    assert "torch" not in first


@pytest.mark.parametrize("chapter", _chapters(), ids=lambda p: p.name)
def test_chapter_has_a_colab_badge_that_opens_its_notebook(chapter):
    config = _load_yaml(CONFIG)
    pagename = str(chapter.relative_to(COURSE).with_suffix(""))
    url = _colab_extension().colab_notebook_url(
        config["launch_buttons"]["colab_url"], _repository_url(),
        config["sphinx"]["config"]["segedu_colab_branch"], pagename,
    )
    text = chapter.read_text(encoding="utf8")
    assert "colab-badge.svg" in text
    assert f"]({url})" in text, f"the Colab badge should link to {url}"


# ---------------------------------------------------------------------------------------------
# (b) every chapter executes in fast mode


def executed_chapter(book_out: Path, chapter: Path) -> tuple[dict, dict, set[str]]:
    """The chapter's notebook as the book's build executed it, its cell times
    (jupyter-book-config/build_parallel.py's record), and the names that its cells glued
    (myst-nb moves the glued outputs out of the notebook, into ``<chapter>.glue.json``)."""
    import nbformat

    executed = book_out / "_build" / "jupyter_execute"
    notebook_file = executed / f"{chapter.stem}.ipynb"
    record_file = book_out / "_build" / "cell-times" / f"{chapter.stem}.json"
    glue_file = executed / f"{chapter.stem}.glue.json"
    assert notebook_file.is_file(), f"the book's build left no executed {notebook_file.name}"
    assert record_file.is_file(), (
        f"the book's build recorded no cell times for {chapter.name} ({record_file}): build it "
        "with `make book` (jupyter-book-config/build_parallel.py --record)")
    record = json.loads(record_file.read_text(encoding="utf8"))
    glued = set(json.loads(glue_file.read_text(encoding="utf8"))) if glue_file.is_file() else set()
    return nbformat.read(notebook_file, as_version=4), record, glued


def check_executed_chapter(notebook, chapter: Path, record: dict, glued: set[str]) -> None:
    """Every executed chapter notebook passes here: what must hold of a chapter executed in fast
    mode on its students' install (the build of tests/conftest.py's ``fast_book_build``)."""
    from segedu.book import pasted_names

    # executed in fast mode, each kernel seeing only what the chapter's install cell installs
    # (tests/student_install.py's finder, set by `make book BOOK_KERNEL_ENV=...`)
    assert record["segedu_fast"] == "1", f"{chapter.name} was not executed in fast mode"
    assert str(record["kernel_env"]).endswith("tests/student_install.py"), (
        f"{chapter.name} was not executed on the install of its first cell "
        "(make book BOOK_KERNEL_ENV=tests/student_install.py)")
    # The finder lets the build reach myst-nb's glue function only; a chapter must not use it.
    code = "\n".join(_code_cells(chapter))
    assert "myst_nb" not in code, f"{chapter.name} imports myst_nb: use segedu.book.glue"
    # in time: the whole chapter and each cell, in CPU seconds of the kernel (wall time where the
    # CPU time cannot be read), which a busy machine changes much less than wall time
    seconds = [cell["cpu_seconds"] if cell["cpu_seconds"] is not None else cell["wall_seconds"]
               for cell in record["cells"]]
    assert sum(seconds) < CHAPTER_BUDGET, f"{chapter.name} took {sum(seconds):.0f} s in fast mode"
    slow = [(cell["index"], cell["first_line"], s) for cell, s in zip(record["cells"], seconds,
                                                                      strict=True)
            if s >= CELL_TIMEOUT]
    assert not slow, f"cells of {chapter.name} that took {CELL_TIMEOUT} s or more: {slow}"

    outputs = [out for cell in notebook.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])]
    errors = [out for out in outputs if out.get("output_type") == "error"]
    assert not errors
    if "plt." in chapter.read_text(encoding="utf8"):
        images = [out for out in outputs if "image/png" in out.get("data", {})]
        assert images, (
            f"{chapter.name} draws with matplotlib but produced no figure: start it with "
            "`%matplotlib inline` (MPLBACKEND=Agg, set by the Makefile, hides figures otherwise)"
        )
    # every number the prose pastes was glued by this run (make book fails on a missing one)
    missing = sorted(set(pasted_names(chapter.read_text(encoding="utf8"))) - glued)
    assert not missing, f"{chapter.name} pastes {missing}, which no cell glued in this run"
    # the reading path: captions, no visible check-only cell, no stray value
    assert not (found := reading_rules.problems(notebook, chapter)), "\n".join(found)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", _chapters(), ids=lambda p: p.name)
def test_chapter_executes_in_fast_mode(chapter, fast_book_build):
    """Each chapter, as the one fast-mode build of the test run executed it (tests/conftest.py;
    tests/test_site.py opens the same build's pages in Chromium)."""
    notebook, record, glued = executed_chapter(fast_book_build, chapter)
    check_executed_chapter(notebook, chapter, record, glued)


# ---------------------------------------------------------------------------------------------
# (e) the parallel build (jupyter-book-config/build_parallel.py)


def _build_parallel():
    return book_config.load("build_parallel.py")


def test_parallel_build_starts_the_slowest_pages_first():
    """Sphinx's ParallelTasks starts the first ``nproc`` tasks at once, then pops the waiting ones
    from the end of its queue; the chunks are listed so that this starts them by decreasing cost.

    The start order is derived from Sphinx's rule, not timed with real processes: with real
    processes it depends on whether a task ends before the next is queued, which a loaded machine
    changes (seen in CI). The rule itself is pinned on Sphinx's source.
    """
    import inspect

    from sphinx.util.parallel import ParallelTasks

    assert "self._precvsWaiting.popitem()" in inspect.getsource(ParallelTasks._join_one)
    costs = {"03_a": 50.0, "04_b": 200.0, "09_c": 70.0, "11_d": 100.0, "14_e": 150.0}
    pages = ["01_x", "03_a", "04_b", "09_c", "11_d", "14_e", "intro", "labs/01_y"]
    chunks = _build_parallel().slowest_first_chunks(pages, 2, costs)
    assert sorted(c[0] for c in chunks) == sorted(pages) and all(len(c) == 1 for c in chunks)
    names = [c[0] for c in chunks]
    started = names[:2] + names[2:][::-1]  # the first two at once, then popitem() from the end
    # the two slowest start at once, then the others by decreasing cost, the unrecorded ones last
    assert set(started[:2]) == {"04_b", "14_e"}, started
    assert started[2:5] == ["11_d", "09_c", "03_a"], started
    assert set(started[5:]) == {"01_x", "intro", "labs/01_y"}


def _fail_in_a_cell():
    raise ValueError("boom in cell 7 of a chapter")


def test_parallel_build_prints_the_traceback_of_a_failing_page(capfd):
    from sphinx.errors import SphinxParallelError
    from sphinx.util.parallel import ParallelTasks

    add_task = _build_parallel().printing_errors(ParallelTasks.add_task)
    tasks = ParallelTasks(2)
    add_task(tasks, _fail_in_a_cell)
    with pytest.raises(SphinxParallelError):
        tasks.join()
    err = capfd.readouterr().err
    assert "Traceback" in err and "boom in cell 7 of a chapter" in err and "_fail_in_a_cell" in err


def test_parallel_build_records_cell_times_and_gives_each_page_its_kernel_env(tmp_path):
    """build_parallel.py's --record and --kernel-env, around a stand-in for myst-nb's client: the
    page's environment is set while it executes and restored after, and each code cell's wall
    and CPU seconds land in <record>/<page>.json (the CPU seconds of a busy cell, read from
    /proc, at least most of its wall time)."""
    import asyncio
    import os
    import time
    import types

    build_parallel = _build_parallel()
    env_file = tmp_path / "env.py"
    env_file.write_text("def kernel_env(path):\n    return {'SEGEDU_TEST_PAGE': path.name}\n",
                        encoding="utf8")
    times = build_parallel.CellTimes()

    async def execute_cell(client, cell, index):
        if cell["cell_type"] == "code":
            end = time.process_time() + 0.3
            while time.process_time() < end:  # CPU-bound, in this process (the "kernel")
                pass
        return cell

    timed = times.timing(execute_cell)
    client = types.SimpleNamespace(km=types.SimpleNamespace(provisioner=types.SimpleNamespace(
        process=types.SimpleNamespace(pid=os.getpid()))))
    seen = {}

    def start_client(self):
        seen["env"] = os.environ.get("SEGEDU_TEST_PAGE")
        for index, kind in enumerate(["markdown", "code", "code"]):
            asyncio.run(timed(client, {"cell_type": kind, "source": f"x = {index}"}, index))

    page = types.SimpleNamespace(path=tmp_path / "07_page.md",
                                 nb_config=types.SimpleNamespace(execution_timeout=900))
    record = tmp_path / "cell-times"
    build_parallel.executing_with(start_client, record, env_file, times)(page)
    assert seen["env"] == "07_page.md" and "SEGEDU_TEST_PAGE" not in os.environ
    written = json.loads((record / "07_page.json").read_text(encoding="utf8"))
    assert written["page"] == "07_page.md" and written["timeout"] == 900
    assert written["kernel_env"] == str(env_file)
    assert [cell["index"] for cell in written["cells"]] == [1, 2]
    for cell in written["cells"]:
        assert cell["first_line"].startswith("x = ")
        if cell["cpu_seconds"] is not None:  # a machine with /proc
            assert 0.25 <= cell["cpu_seconds"] <= cell["wall_seconds"] + 0.05, cell
    with pytest.raises(SystemExit, match="is not a Python file"):
        build_parallel.load_kernel_env(record / "07_page.json")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n", encoding="utf8")
    with pytest.raises(SystemExit, match="defines no function kernel_env"):
        build_parallel.load_kernel_env(bad)


# ---------------------------------------------------------------------------------------------
# (f) the site works offline (jupyter-book-config/_ext/segedu_offline.py)


def _offline_extension():
    return book_config.load("_ext/segedu_offline.py")


def test_the_site_serves_its_own_mathjax_and_colab_badge():
    offline = _offline_extension()
    mathjax = offline.mathjax_static_dir() / offline.MATHJAX_COMPONENT
    assert mathjax.is_file() and mathjax.stat().st_size > 100_000
    # the CommonHTML output's fonts ship beside it (MathJax loads them relative to its own address)
    assert list((mathjax.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    badge = offline.STATIC / Path(offline.LOCAL_BADGE).name
    assert badge.read_text(encoding="utf8").lstrip().startswith("<svg")


def test_colab_badges_point_at_the_local_copy_and_other_images_stay():
    from docutils import nodes
    from docutils.utils import new_document

    offline = _offline_extension()
    for docname, expected in (("04_losses", "_static/colab-badge.svg"),
                              ("labs/01_losses", "../_static/colab-badge.svg")):
        document = new_document("test")
        badge = nodes.image(uri=offline.COLAB_BADGE_URL, candidates={"?": offline.COLAB_BADGE_URL})
        other = nodes.image(uri="https://example.org/figure.png",
                            candidates={"?": "https://example.org/figure.png"})
        document += [badge, other]
        offline._local_badges(None, document, docname)
        assert badge["uri"] == expected and badge["candidates"] == {"?": expected}
        assert other["uri"] == "https://example.org/figure.png"
