"""The repository stands alone: no tracked file cites a document that the repository lacks.

A student, an instructor or a reader of the book has the repository and nothing else, so no file
may send them to

- an issue of this project's tracker: the word issue or issues, in any case, then a number, with
  or without ``#``, on the same line or the next (:data:`ISSUE`); what a thing is or requires is
  said in the file itself, and which issue asked for it belongs in the commit message;
- a document kept outside the repository: the design notes, the syllabus, the folder shared
  beside the checkout, or the book conventions (:data:`OUTSIDE_NAMES`).

An issue of a public upstream project is fine when its repository is named on the same line
(``facebookresearch/dino issue #8``): ``owner/name``, whose ``owner`` is not a top-level entry of
this repository (``segedu/zoo`` names a folder here, not a repository).

Every tracked file is read (``git ls-files``) except checkpoints (``.pt``) and binaries (a NUL
byte, or not UTF-8). Input: the checkout; output: one line ``path:line: text`` per citation.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A citation of this project's issue tracker: the word, optional ``#``, a number.
ISSUE = re.compile(r"\bissues?[\s-]*(?:#\s*)?\d+", re.I)
#: Documents outside the repository, by the names they are cited with (each written in two
#: pieces, so that this file does not cite them).
OUTSIDE_NAMES = ("DESIGN" ".md", "SYLLABUS" ".md", "../" "shared", "BOOK_" "CONVENTIONS")
OUTSIDE = re.compile("|".join(("" if name.startswith(".") else r"(?<![\w.])") + re.escape(name)
                              + r"(?![\w-])" for name in OUTSIDE_NAMES))
#: ``owner/name`` of a repository (both parts starting with a letter, not inside a longer path).
REPOSITORY = re.compile(r"(?<![\w./-])([A-Za-z][\w.-]*)/([A-Za-z][\w.-]*)(?![\w/-])")


@functools.cache
def top_level() -> frozenset[str]:
    """The names of the repository's top-level files and folders (``segedu``, ``tests``, ...)."""
    return frozenset(path.name for path in ROOT.iterdir())


def names_a_repository(line: str) -> bool:
    """Whether ``line`` names an upstream repository ``owner/name`` (not a path of this one)."""
    return any(match.group(1) not in top_level() for match in REPOSITORY.finditer(line))


def citations(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of each line of ``text`` where a citation of this project's issues
    or of an outside document starts (a line once however many it holds)."""
    found: set[int] = set()
    if any(name in text for name in OUTSIDE_NAMES):  # a cheap look first: most files hold none
        found |= {text.count("\n", 0, match.start()) for match in OUTSIDE.finditer(text)}
    if "issue" not in text.lower() and not found:
        return []
    lines = text.split("\n")
    for match in ISSUE.finditer(text):
        index = text.count("\n", 0, match.start())
        if not names_a_repository(lines[index]):
            found.add(index)
    return [(index + 1, lines[index].strip()) for index in sorted(found)]


def tracked_texts() -> dict[str, str]:
    """``{path: text}`` of every tracked file but checkpoints and binaries."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    texts = {}
    for name in filter(None, names):
        path = ROOT / name
        if path.suffix == ".pt" or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[name] = data.decode("utf8")
        except UnicodeDecodeError:
            continue
    return texts


def test_no_file_cites_an_issue_or_a_document_the_repository_lacks():
    texts = tracked_texts()
    assert "README.md" in texts and "course/01_segmentation_tasks.md" in texts, "no files read"
    found = [f"{name}:{number}: {line}" for name, text in texts.items()
             for number, line in citations(text)]
    assert not found, ("these lines cite this project's issue tracker or a document outside the "
                       "repository (say what the thing is instead):\n" + "\n".join(found))


def test_a_planted_citation_is_found_and_an_upstream_issue_is_not():
    issue, design = "iss" + "ue", "DES" + "IGN.md"
    caught = [f"see {issue} 12.", f"{issue.title()} #52: every model", f"{issue}s 66 and 68",
              f"the goal ({issue}\n66): ten minutes", f"segedu/zoo {issue} 5", f"as {design} says",
              "../" + "shared/notes", "see ../.." + "/shared", f"the labels of {issue}36-seeds",
              "BOOK_" + "CONVENTIONS 7", "the " + "SYLLABUS" + ".md's week 3"]
    for text in caught:
        assert citations(text) == [(1, text.splitlines()[0].strip())], text
    allowed = [f"rounding (facebookresearch/dino {issue} #8)", f"an {issue} with 3 parts",
               "a tissue 12 um thick", f"the {issue}'s aim", "use_issues_button: true",
               f"the {issue}s\n\nof 2020", "MY_DESIGN" + ".md", "DESIGN" + ".mdx"]
    for text in allowed:
        assert citations(text) == [], text
    text = f"line one\nline two, {issue} 7\n"
    assert citations(text) == [(2, f"line two, {issue} 7")]
