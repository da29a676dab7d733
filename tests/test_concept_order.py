"""Concepts in order: no term of the glossary is used before the chapter that teaches it.

The glossary (``course/glossary.md``, MyST's ``glossary`` directive) defines every technical term
of the course once, and each entry names the chapter that teaches it with a link
(``[chapter 06](06_metrics.md)``). This test reads every chapter and lab in book order (the order of
``jupyter-book-config/_toc.yml``; a lab is ``labs/<name>.ipynb``) and fails when a page uses a term
before the page of the chapter that teaches it.

What is read: the Markdown prose of each page (headings, paragraphs, lists, admonitions, figure
captions) and the *comments* of its code cells. Code itself, link targets, URLs, images and glued
values are not read; inline code is (a term written as `code` is still a term). The front and back
matter (the introduction, the instructors' page and the glossary itself) are not read: they
describe the whole course.

How a term is recognised: each name of its glossary entry (an entry may list several, e.g.
"IoU", "intersection over union" and "Jaccard index"), plus the extra forms of ``EXTRA_FORMS``
below. A name matches as a whole word, in the plural too, with a space or a hyphen between its
words ("cross-entropy" = "cross entropy"); a name with capitals after its first letter ("IoU",
"U-Net", "mAP") matches with exactly those capitals, any other name in any case. ``NOT_AFTER`` lists
the words that make a match something else ("mixed precision" is no precision).

The one exception, a **marked forward reference**: the first use of a term on a page that comes
before its chapter must sit in a paragraph (a block between blank lines, a heading, or a block of
comment lines) that links the chapter that teaches it: a Markdown link or a ``{doc}`` role whose
target names that chapter's file (``06_metrics``), or, in a code comment, that file's name
itself. The link tells the reader where the term is taught; the paragraph also says in a sentence
what the term is for at that point (that sentence is the reviewer's to check, not this test's).
Once a page has marked a term that way, its later uses of that term on the same page are fine.

The test can fail: ``test_a_planted_forward_use_is_caught`` plants unmarked uses into an in-memory
copy of the book, in prose and in a code comment, and sees each one caught (and a marked one, or
one in code, let through). When it was written, it found 87 unmarked uses in the book as it was
(85 with the glossary as it stands: k-means and set prediction are now counted as taught where they
are first used and explained, chapters 01 and 10), all fixed since (by a marked forward reference,
by teaching the part needed where it is used, or by rewording), among them every case that an
earlier review listed:

- chapter 01 (10 terms): the Hungarian algorithm (taught in 15), IoU (04), k-means, U-Net, DINO,
  Segment Anything; chapter 02 (8): cross-entropy, class weights, IoU (04), mean and per-class IoU
  and the confusion matrix (06), U-Net and elastic deformation (08);
- chapter 03 (14): mean IoU (06), the Hungarian algorithm (15), R-CNN, CRFs, StarDist, the ViT's
  tokens and patch embedding; chapter 04 (16): precision, recall, per-class and mean IoU (06),
  dilated convolution and the receptive field (05), DETR, YOLO, RetinaNet (10), Mask R-CNN (11);
- chapter 05 (8): YOLO (10), FCN and the output stride (07), U-Net, SegNet (08), PSPNet (09);
  chapter 06 (5): non-maximum suppression (10), StarDist and Cellpose (12); chapters 08, 10 and
  14: anisotropy, self-attention, the Hungarian algorithm, Mask2Former, SAM's parts;
- lab 01 (7): the confusion matrix and mean IoU (06), dilated convolutions (05); lab 02 (7): box
  IoU and mean IoU (06), YOLO, its anchors and objectness (10); lab 04 (2): StarDist, Cellpose.

Chapter 05's anchors and objectness were linked to chapter 10 already (a link, so the test let
them pass), but nothing said what they are: that sentence was added by hand. Chapter 11's FCOS was
named without being taught; it is not a use *before* a chapter, so no test of order can see it: it
is now taught where it is named and has its glossary entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

from . import book_config

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
GLOSSARY = COURSE / "glossary.md"
TOC = book_config.CONFIG_DIR / "_toc.yml"

# Pages of the toc that are not read: they describe the whole course (front and back matter).
NOT_READ = {"intro", "glossary", "instructor"}

# Forms of a term that its glossary entry does not list as a name (the glossary lists the usual
# synonyms as names of the entry; these are the forms that would look odd there).
EXTRA_FORMS: dict[str, list[str]] = {
    "IoU": ["Jaccard"],
    "non-maximum suppression": ["non-max suppression"],
    "average precision": ["AP50", "AP75"],
    "Hungarian algorithm": ["Hungarian matching", "Hungarian assignment", "Hungarian method"],
    "dilated convolution": ["dilated conv", "dilation", "atrous rate"],
}

# A match right after one of these words is another term ("mixed precision" is no precision,
# "float precision" neither). Keys are glossary names; values are the preceding words, any case.
NOT_AFTER: dict[str, list[str]] = {
    "precision": ["mixed", "float", "half", "single", "double", "numerical", "full", "reduced",
                  "machine", "float16", "float32"],
}


@dataclass(frozen=True)
class Entry:
    """One glossary entry: its names (the first is the main one) and the chapter that teaches it."""

    names: tuple[str, ...]
    chapter: str  # the toc entry of the teaching chapter, e.g. "06_metrics"


@dataclass(frozen=True)
class Block:
    """One paragraph of a page: its text as read (see `prose_text`) and the chapters it links."""

    text: str
    links: frozenset[str]


@dataclass(frozen=True)
class Page:
    name: str  # the toc entry, e.g. "04_losses" or "labs/01_losses"
    blocks: tuple[Block, ...]

    @cached_property
    def lower(self) -> str:
        """All of the page's text, in lower case."""
        return "\n".join(block.text for block in self.blocks).lower()


@dataclass(frozen=True)
class Finding:
    page: str
    term: str
    chapter: str
    excerpt: str

    def __str__(self) -> str:
        return (f"{self.page}: '{self.term}' (taught in {self.chapter}) is used before its chapter,"
                f" with no link to it in the paragraph: ...{self.excerpt}...")


# ---------------------------------------------------------------------------------------------
# Reading the glossary and the pages

_LINK_TARGET = re.compile(r"\]\(([^)\s]+)[^)]*\)|\{doc\}`(?:[^`<]*<)?([^`>]+)>?`|href=\"([^\"]+)\"")
_CHAPTER_STEM = re.compile(r"(\d\d_[a-z0-9_]+)")


def link_targets(raw: str) -> set[str]:
    """The chapter files (``06_metrics``) named by the link targets of a raw Markdown block."""
    stems = set()
    for groups in _LINK_TARGET.findall(raw):
        target = next(g for g in groups if g)
        stems.update(_CHAPTER_STEM.findall(Path(target.split("#")[0]).name))
    return stems


def read_glossary(text: str) -> list[Entry]:
    """The entries of the ``{glossary}`` directive of ``text``.

    An entry is one or more lines of names at the start of a line, then its definition, indented;
    the definition must link the chapter that teaches the term (``[chapter 06](06_metrics.md)``).
    """
    match = re.search(r"^(`{3,}|:{3,})\{glossary\}[^\n]*\n(.*?)^\1\s*$", text, flags=re.M | re.S)
    if not match:
        raise ValueError("the glossary page has no {glossary} directive")
    groups: list[tuple[list[str], list[str]]] = []  # (names, definition lines) of each entry
    for line in match.group(2).splitlines():
        if not line.strip() or (not groups and line.startswith(":")):
            continue  # a blank line, or an option of the directive (":sorted:")
        if line[0].isspace():
            groups[-1][1].append(line)
        elif groups and not groups[-1][1]:
            groups[-1][0].append(line.strip())  # one more name of the same entry
        else:
            groups.append(([line.strip()], []))
    entries = []
    for names, lines in groups:
        definition = "\n".join(lines)
        chapters = link_targets(definition)
        if not chapters:
            raise ValueError(f"glossary entry {names[0]!r} links no chapter of the course")
        # The chapter that teaches the term is the first one its definition links.
        entries.append(Entry(tuple(names), min(chapters, key=definition.index)))
    return entries


_ROLE = re.compile(r"\{([a-z:-]+)\}`([^`]*)`")
_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\([^)]*\)")


def _role_text(match: re.Match) -> str:
    role, content = match.group(1), match.group(2)
    if role.startswith("glue") or role in ("cite", "numref", "eq", "download", "footcite"):
        return " "
    # {term}`text <target>`, {doc}`text <target>`: the text is read; a bare target is the text.
    return content.split("<")[0] if "<" in content else content


def prose_text(raw: str) -> str:
    """What a reader reads of a raw Markdown block: the text of links and roles, not their
    targets; no images, URLs, HTML comments or HTML tags."""
    text = re.sub(r"<!--.*?-->", " ", raw, flags=re.S)
    text = _MD_LINK.sub(lambda m: " " if m.group(1) else m.group(2), text)
    text = _ROLE.sub(_role_text, text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"</?[a-zA-Z][^>]*>", " ", text)
    return text.replace("*", "")  # emphasis: "*k*-means" is "k-means"


def _markdown_blocks(source: str) -> list[Block]:
    """The paragraphs of a Markdown cell: blocks between blank lines, each heading on its own.
    Fenced code in the Markdown is skipped; the content of other directives is read, not their
    opening line or their ``:option:`` lines."""
    blocks: list[list[str]] = [[]]
    fence = None  # the fence of a code block being skipped
    for line in source.splitlines():
        stripped = line.strip()
        if fence:
            if stripped == fence:
                fence = None
            continue
        opener = re.match(r"^(`{3,}|:{3,})(.*)$", stripped)
        if opener:
            info = opener.group(2).strip()
            if info and (not info.startswith("{") or info.split("}")[0] in ("{code-block",
                                                                              "{code")):
                fence = opener.group(1)
            blocks.append([])
            continue
        if re.match(r"^:[a-z-]+:", stripped) or not stripped or stripped.startswith("#"):
            blocks.append([])
            if stripped.startswith("#"):
                blocks.append([stripped.lstrip("#").strip()])
                blocks.append([])
            continue
        blocks[-1].append(line)
    raws = ["\n".join(lines) for lines in blocks if lines]
    return [Block(prose_text(raw), frozenset(link_targets(raw))) for raw in raws]


def _comment_blocks(code: str) -> list[Block]:
    """The comments of a code cell, one block per run of comment lines (a line's trailing
    comment is read too; a ``#`` inside a string is not a comment)."""
    blocks: list[list[str]] = [[]]
    for line in code.splitlines():
        comment = _comment_of(line)
        if comment is None:
            blocks.append([])
        else:
            blocks[-1].append(comment)
    raws = ["\n".join(lines) for lines in blocks if lines]
    # A comment cannot hold a link: there, naming the chapter's file ("07_fcn.md") links it.
    return [Block(prose_text(raw), frozenset(_CHAPTER_STEM.findall(raw))) for raw in raws]


def _comment_of(line: str) -> str | None:
    """The comment of one line of Python, or None; ``#`` inside a quoted string is skipped."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == "\\":
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[i + 1:]
    return None


def read_myst_notebook(text: str) -> list[tuple[str, str]]:
    """The cells ``(kind, source)`` of a MyST Markdown notebook (jupytext's ``myst`` format)."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    cells, kind, lines = [], "markdown", []
    for line in text.splitlines():
        if kind == "markdown" and line.startswith("```{code-cell}"):
            cells.append((kind, "\n".join(lines)))
            kind, lines = "code", []
        elif kind == "code" and line.rstrip() == "```":
            cells.append((kind, "\n".join(lines)))
            kind, lines = "markdown", []
        elif kind == "markdown" and line.startswith("+++"):
            cells.append((kind, "\n".join(lines)))
            lines = []
        else:
            lines.append(line)
    cells.append((kind, "\n".join(lines)))
    return cells


def read_page(name: str, cells: list[tuple[str, str]]) -> Page:
    blocks: list[Block] = []
    for kind, source in cells:
        blocks += _markdown_blocks(source) if kind == "markdown" else _comment_blocks(source)
    return Page(name, tuple(blocks))


def book_order() -> list[str]:
    """The toc entries of the book, in reading order."""
    prepare_book = book_config.load("prepare_book.py")
    entries = prepare_book.toc_files(yaml.safe_load(TOC.read_text(encoding="utf8")))
    return [str(Path(entry).with_suffix("")) if Path(entry).suffix in (".md", ".ipynb") else entry
            for entry in entries]


def read_book() -> list[Page]:
    """Every chapter and lab that is read, in book order."""
    pages = []
    for name in book_order():
        if name in NOT_READ:
            continue
        if name.startswith("labs/"):
            notebook = json.loads((ROOT / f"{name}.ipynb").read_text(encoding="utf8"))
            cells = [(cell["cell_type"], "".join(cell["source"])) for cell in notebook["cells"]]
        else:
            cells = read_myst_notebook((COURSE / f"{name}.md").read_text(encoding="utf8"))
        pages.append(read_page(name, cells))
    return pages


# ---------------------------------------------------------------------------------------------
# Finding the uses


def term_pattern(entry: Entry) -> re.Pattern:
    """One regular expression for every form of the entry's term (see the module docstring)."""
    alternatives = []
    for name in list(entry.names) + EXTRA_FORMS.get(entry.names[0], []):
        words = [re.escape(word) for word in re.split(r"[\s\-–]+", name)]
        body = r"[\s\-–]+".join(words)
        if name[-1].isalpha():
            body += r"(?:s|es)?"
        sensitive = any(char.isupper() for char in name[1:])
        alternatives.append(body if sensitive else f"(?i:{body})")
    skip = "".join(rf"(?<!{re.escape(word)} )" for word in
                   NOT_AFTER.get(entry.names[0], []))
    skip = f"(?i:{skip})" if skip else ""
    return re.compile(rf"(?<![\w\-]){skip}(?:{'|'.join(alternatives)})(?![\w])")


def forward_uses(pages: list[Page], entries: list[Entry]) -> list[Finding]:
    """Each (page, term) whose first use on the page comes before the term's chapter and is not a
    marked forward reference (a link to that chapter in the same paragraph)."""
    position = {page.name: i for i, page in enumerate(pages)}
    findings = []
    for entry in entries:
        if entry.chapter not in position:
            raise ValueError(f"glossary entry {entry.names[0]!r} names {entry.chapter}, "
                             "which is not a chapter of the book")
        pattern = term_pattern(entry)
        # A cheap first look: the first word of some form of the term must be on the page.
        needles = {re.split(r"[\s\-–]+", name)[0].lower()
                   for name in list(entry.names) + EXTRA_FORMS.get(entry.names[0], [])}
        for page in pages[:position[entry.chapter]]:
            if not any(needle in page.lower for needle in needles):
                continue
            for block in page.blocks:
                match = pattern.search(block.text)
                if match is None:
                    continue
                if entry.chapter not in block.links:
                    start = max(0, match.start() - 60)
                    excerpt = " ".join(block.text[start:match.end() + 60].split())
                    findings.append(Finding(page.name, entry.names[0], entry.chapter, excerpt))
                break  # the first use on the page decides
    return findings


@pytest.fixture(scope="module")
def glossary() -> list[Entry]:
    return read_glossary(GLOSSARY.read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def book() -> list[Page]:
    return read_book()


# ---------------------------------------------------------------------------------------------
# The tests


def test_glossary_defines_the_course_terms_once(glossary):
    assert len(glossary) >= 60, f"the glossary defines only {len(glossary)} terms"
    names = [name.lower() for entry in glossary for name in entry.names]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"names given to more than one glossary entry: {twice}"


def test_each_term_is_used_in_the_chapter_that_teaches_it(glossary, book):
    """The chapter that an entry names really speaks of the term (a wrong chapter number, or a
    term that its chapter no longer teaches, fails here)."""
    pages = {page.name: page for page in book}
    silent = [f"{entry.names[0]} ({entry.chapter})" for entry in glossary
              if not any(term_pattern(entry).search(block.text)
                         for block in pages[entry.chapter].blocks)]
    assert not silent, f"glossary terms that their chapter never mentions: {silent}"


def test_the_glossary_is_in_the_toc():
    assert "glossary" in book_order()


def test_no_term_is_used_before_its_chapter(glossary, book):
    findings = forward_uses(book, glossary)
    assert not findings, (
        f"{len(findings)} uses of a term before the chapter that teaches it. Move the material, "
        "teach the part needed here, or mark a forward reference: link the chapter that teaches "
        "it ({doc}`06_metrics`) in the paragraph of the first use, with a sentence of what it is "
        "for now.\n" + "\n".join(str(finding) for finding in findings))


def _planted(book: list[Page], page_index: int, block: Block) -> list[Page]:
    pages = list(book)
    page = pages[page_index]
    pages[page_index] = Page(page.name, (block, *page.blocks))
    return pages


def test_a_planted_forward_use_is_caught(glossary, book):
    """Unmarked uses planted in a copy of the book are caught; marked ones and code are not."""
    first_chapter = 0
    pq = next(entry for entry in glossary if entry.names[0] == "panoptic quality")
    nms = next(entry for entry in glossary if entry.names[0] == "non-maximum suppression")
    assert pq.chapter == "06_metrics" and nms.chapter == "10_object_detection"
    # In prose, unmarked: caught.
    prose = Block(prose_text("A scene is scored with its panoptic quality."), frozenset())
    found = forward_uses(_planted(book, first_chapter, prose), [pq])
    assert [(f.page, f.term) for f in found] == [(book[0].name, "panoptic quality")]
    # In a code comment of a lab that comes before chapter 10: caught.
    lab = next(i for i, page in enumerate(book) if page.name.startswith("labs/"))
    comment = read_page("copy", [("code", "boxes = keep(boxes)  # NMS drops the duplicates")])
    found = forward_uses(_planted(book, lab, comment.blocks[0]), [nms])
    assert [(f.page, f.term) for f in found] == [(book[lab].name, "non-maximum suppression")]
    # The same sentence with a link to chapter 06 in its paragraph: a marked forward reference.
    marked = read_page("copy", [("markdown", "A scene is scored with its panoptic quality "
                                 "({doc}`06_metrics` defines it): one number for the scene.")])
    assert not forward_uses(_planted(book, first_chapter, marked.blocks[0]), [pq])
    # A link to another chapter does not mark it.
    wrong = read_page("copy", [("markdown", "Its panoptic quality: [chapter 04](04_losses.md).")])
    assert forward_uses(_planted(book, first_chapter, wrong.blocks[0]), [pq])
    # Code is not prose: a name in code, not in a comment, is no use.
    code = read_page("copy", [("code", "pq = panoptic_quality(pred, target)  # the score")])
    assert not forward_uses(_planted(book, first_chapter, code.blocks[0]), [pq])
    # "mixed precision" is no precision; "precision" alone is.
    precision = next(entry for entry in glossary if entry.names[0] == "precision")
    assert not term_pattern(precision).search("train with mixed precision on a GPU")
    assert term_pattern(precision).search("the precision of the detector")


def test_reading_skips_link_targets_and_fenced_code():
    page = read_page("copy", [("markdown", "See [the metrics](06_metrics.md) and "
                               "![a figure](panoptic_quality.png).\n\n```python\nnms(boxes)\n```\n"
                               "\n## A heading on IoU\nText.")])
    texts = [" ".join(block.text.split()) for block in page.blocks]
    assert texts == ["See the metrics and .", "A heading on IoU", "Text."]
    assert page.blocks[0].links == {"06_metrics"}
