"""Numbers that the chapters' prose quotes from their own cells (myst-nb glue, segedu.book).

- ``segedu.book.glue`` records a plain Python number, and works without myst-nb (a student's
  install);
- ``segedu.book.pasted_names`` finds every name that a page pastes;
- every name a chapter pastes is glued by a cell of that chapter, read statically here (the
  chapter's execution in tests/test_book.py checks the names its run actually glued, and
  ``make book``, run with -W, fails on a pasted name that no cell glued: myst-nb warns
  "No key ... found in glue data");
- the chapters quote at least 40 computed numbers this way.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segedu import book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "course").glob("[0-9][0-9]_*.md"))

# glue("name", ...) or glue(f"name_{key}", ...) in a code cell
GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)(["'])(.+?)\2""")


def glued_patterns(text: str) -> list[re.Pattern]:
    """What the glue calls of a chapter can name: a literal name, or an f-string name whose
    ``{...}`` fields stand for any identifier characters."""
    patterns = []
    for is_f, _, name in GLUE_CALL.findall(text):
        parts = re.split(r"\{[^{}]*\}", name) if is_f else [name]
        patterns.append(re.compile(r"\w+".join(re.escape(part) for part in parts)))
    return patterns


def unglued(text: str) -> list[str]:
    """The names that ``text`` pastes but none of its glue calls can name."""
    patterns = glued_patterns(text)
    return [name for name in book.pasted_names(text)
            if not any(p.fullmatch(name) for p in patterns)]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_pasted_name_is_glued_in_its_chapter(chapter):
    missing = unglued(chapter.read_text(encoding="utf8"))
    assert not missing, (f"{chapter.name} pastes {missing}, but no glue(...) call of the chapter "
                         "names them (myst-nb would fail the book build)")


def test_the_static_check_finds_a_pasted_name_that_no_cell_glues():
    page = ("```{code-cell} ipython3\nglue('zoo_miou', miou)\n"
            "for key in keys:\n    glue(f'loss_{key}', 1.0)\n```\n\n"
            "mIoU {glue:text}`zoo_miou:.3f`, loss {glue:text}`loss_flip:.2f`, "
            "AP {glue:text}`zoo_map:.3f` and {glue}`zoo_miou`.\n")
    assert book.pasted_names(page) == ["zoo_miou", "loss_flip", "zoo_map", "zoo_miou"]
    assert unglued(page) == ["zoo_map"]


def test_chapters_quote_at_least_40_computed_numbers():
    counts = {chapter.stem: len(set(book.pasted_names(chapter.read_text(encoding="utf8"))))
              for chapter in CHAPTERS}
    assert sum(counts.values()) >= 40, f"glued numbers per chapter: {counts}"


def test_glue_records_plain_numbers_and_returns_nothing():
    # None: a cell ending on glue(...) shows no value (no stray numbers on the page)
    assert book.glue("share_np", np.float32(0.25)) is None
    assert book.GLUED["share_np"] == 0.25 and type(book.GLUED["share_np"]) is float
    book.glue("count_torch", torch.tensor(7))
    assert book.GLUED["count_torch"] == 7 and type(book.GLUED["count_torch"]) is int
    book.glue("count_np", np.int64(3))
    assert type(book.GLUED["count_np"]) is int
    book.glue("flag", True)
    book.glue("label", "circle")
    assert book.GLUED["flag"] is True and book.GLUED["label"] == "circle"
    # the text that myst-nb pastes for a number is the number's own repr, which a format spec reads
    assert repr(book.GLUED["share_np"]) == "0.25"
    for bad in ("zoo miou", "a:b", "", 3):
        with pytest.raises(ValueError, match="glue name"):
            book.glue(bad, 1.0)


def test_glue_works_without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` raises ImportError
    assert book.glue("without_myst_nb", 0.5) is None and book.GLUED["without_myst_nb"] == 0.5
