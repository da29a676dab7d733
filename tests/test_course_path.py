"""The book reads as one course: numbered chapters without a gap, each with learning goals, a
summary, exercises (some of them self-checking) and a Practice section that links its lab; labs
numbered in reading order, each opening with a link to the chapters it practises, named by their
current number and title; and the U-Net border weight map derived in one chapter only.

These are checks of the pages' structure, made on the sources (no execution): the execution of
every chapter, self-checking cells included, is tests/test_book.py's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from . import book_config

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
LABS = ROOT / "labs"
TOC = ROOT / "jupyter-book-config" / "_toc.yml"
CHAPTERS = sorted(COURSE.glob("[0-9][0-9]_*.md"))


def _section(text: str, title: str) -> str:
    """The body of the level-2 section `## <title>`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def _numbered_items(body: str) -> list[str]:
    """Split a section into its numbered exercises: `1. **Title** ...` or `**1. Title** ...`."""
    starts = [m.start() for m in re.finditer(r"^(?:\d+\.\s+\*\*|\*\*\d+\.)", body, flags=re.M)]
    return [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]


def test_chapter_numbers_have_no_gap():
    numbers = [int(path.name[:2]) for path in CHAPTERS]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_states_goals_and_ends_with_summary_exercises_and_practice(chapter):
    text = chapter.read_text(encoding="utf8")
    # 3-5 learning goals, listed right after the bold label, before the first section.
    goals = re.search(r"\*\*Learning goals\.\*\*(.*?)(?=^#|\Z)", text, flags=re.M | re.S)
    assert goals, "no **Learning goals.** paragraph"
    items = re.findall(r"^(?:\d+\.|[-*])\s", goals.group(1), flags=re.M)
    assert 3 <= len(items) <= 5, f"{len(items)} learning goals"
    assert goals.start() < text.index("\n## Summary")
    assert _section(text, "Summary").strip()
    exercises = _numbered_items(_section(text, "Exercises"))
    assert 3 <= len(exercises) <= 6, f"{len(exercises)} exercises"
    # Self-checking: an answer behind a dropdown, or a code cell that the build executes.
    self_checking = [e for e in exercises if "{dropdown}" in e or "{code-cell}" in e]
    assert len(self_checking) >= 2, "fewer than two self-checking exercises"
    # Practice links at least one lab, and every lab it names exists.
    practice = _section(text, "Practice")
    linked = set(re.findall(r"labs/(\d\d_\w+)", practice))
    assert linked, "the Practice section links no lab"
    for name in linked:
        assert (LABS / f"{name}.ipynb").exists(), (
            f"Practice links labs/{name}, which does not exist")
    assert text.index("\n## Practice") > text.index("\n## Exercises") > text.index("\n## Summary")


def test_labs_are_numbered_in_reading_order():
    toc = yaml.safe_load(TOC.read_text(encoding="utf8"))
    files = book_config.load("prepare_book.py").toc_files(toc)
    labs = [Path(entry).name for entry in files if entry.startswith("labs/")]
    assert labs, "no lab in the table of contents"
    numbers = [int(name[:2]) for name in labs]
    assert numbers == list(range(len(numbers))), labs  # lab 00 first, in week 1
    assert sorted(labs) == sorted(path.stem for path in LABS.glob("*.ipynb"))


@pytest.mark.parametrize("lab", sorted(LABS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_each_lab_opens_with_the_chapters_it_practises(lab):
    notebook = json.loads(lab.read_text(encoding="utf8"))
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    text = "".join(first["source"])
    assert text.startswith(f"# Lab {lab.name[:2]} "), "the title does not carry the lab's number"
    # the book's page of each chapter (tests/test_lab_notebooks.py checks the site's address)
    chapters = re.findall(r"\]\([^)\s]*/(\d\d_\w+)\.html(?:#[^)]*)?\)", text)
    assert chapters, "the lab's first cell links no chapter"
    for name in chapters:
        assert (COURSE / f"{name}.md").exists(), f"links course/{name}.md, which does not exist"


def _title(chapter: Path) -> str:
    """The chapter's title: its first level-1 heading after the front matter."""
    body = chapter.read_text(encoding="utf8").split("\n---\n", 1)[1]
    return re.search(r"^# (.+)$", body, flags=re.M).group(1).strip()


@pytest.mark.parametrize("lab", sorted(LABS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_lab_names_each_chapter_by_its_number_and_title(lab):
    """'chapter 15, [*Panoptic ...*](.../15_panoptic.html)': the number said in words and the
    title agree with the linked file, so that renumbering the chapters cannot leave a lab behind."""
    notebook = json.loads(lab.read_text(encoding="utf8"))
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    named = re.findall(r"chapter (\d+), \[\*([^*]+)\*\]\([^)]*/(\d\d_\w+)\.html(?:#[^)]*)?\)",
                       "".join(first["source"]))
    assert named, "the lab's first cell names no chapter as 'chapter NN, [*Title*](...)'"
    for number, title, stem in named:
        assert int(number) == int(stem[:2]), f"'chapter {number}' links course/{stem}.md"
        full = _title(COURSE / f"{stem}.md")  # the lab may leave out a subtitle after a colon
        assert title in (full, full.split(":")[0]), f"'{title}' is not the title of {stem}: {full}"


def test_the_unet_border_weight_map_is_derived_in_one_chapter():
    """The U-Net border weight map is taught once (chapter 04); other chapters link it."""
    formula = re.compile(r"d_1\(x\)\s*\+\s*d_2\(x\)")
    deriving = [path.stem for path in CHAPTERS if formula.search(path.read_text(encoding="utf8"))]
    assert deriving == ["04_losses"], deriving
