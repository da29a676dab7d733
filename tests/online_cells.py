"""The online cells of the chapters and labs, read for the offline tests, and their error check.

A chapter marks the one cell that loads official weights with :data:`MARK` on its first line;
tests/test_online_chapters.py and tests/test_official_models_online.py run that cell under the
``chapter_env`` fixture (tests/conftest.py). The labs' online cells are read from the solutions
by cell id (:func:`solution_cells`) and run under the ``online_lab`` fixture. Neither reaches a
network.
"""

from __future__ import annotations

import json
from pathlib import Path

from myst_nb.core.read import read_myst_markdown_notebook

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
SOLUTIONS = ROOT / "solutions"
MARK = "# official weights, online only"


def online_cell(chapter: str) -> str:
    """The source of the one code cell of ``course/<chapter>`` that starts with :data:`MARK`."""
    text = (COURSE / chapter).read_text(encoding="utf8")
    cells = [c.source for c in read_myst_markdown_notebook(text).cells
             if c.cell_type == "code" and c.source.startswith(MARK)]
    assert len(cells) == 1, f"{chapter}: expected one cell starting with {MARK!r}"
    return cells[0]


def solution_cells(notebook: str, *ids: str) -> str:
    """The sources of the cells ``ids`` of ``solutions/<notebook>``, joined in that order."""
    cells = json.loads((SOLUTIONS / notebook).read_text(encoding="utf8"))["cells"]
    sources = {cell["id"]: "".join(cell["source"]) for cell in cells}
    return "\n".join(sources[i] for i in ids)


def one_line(error: BaseException) -> str:
    """``str(error)`` of a ``DownloadError``, checked to be one line and to be all that Jupyter
    shows of it."""
    text = str(error)
    assert "\n" not in text, text
    assert error._render_traceback_() == [f"DownloadError: {text}"]  # what Jupyter shows
    return text
