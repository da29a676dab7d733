"""The chapters' official-weights cells, read from the book's MyST sources for the offline tests.

A chapter marks the one cell that loads official weights with :data:`MARK` on its first line;
tests/test_online_chapters.py and tests/test_official_models_online.py run that cell under the
``chapter_env`` fixture (tests/conftest.py), with no network.
"""

from __future__ import annotations

from pathlib import Path

from myst_nb.core.read import read_myst_markdown_notebook

COURSE = Path(__file__).resolve().parents[1] / "course"
MARK = "# official weights, online only"


def online_cell(chapter: str) -> str:
    """The source of the one code cell of ``course/<chapter>`` that starts with :data:`MARK`."""
    text = (COURSE / chapter).read_text(encoding="utf8")
    cells = [c.source for c in read_myst_markdown_notebook(text).cells
             if c.cell_type == "code" and c.source.startswith(MARK)]
    assert len(cells) == 1, f"{chapter}: expected one cell starting with {MARK!r}"
    return cells[0]
