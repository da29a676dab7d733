"""Put the labs (and, when switched on, the solutions) into the book and write its table of contents.

Jupyter Book 1 only builds files under its root folder, ``course/``, but the student labs live in
``labs/`` and their solutions in ``solutions/``. ``make book`` therefore runs this script first:

1. it copies ``labs/*.ipynb`` into ``course/labs/`` (a generated, git-ignored folder), so each lab
   becomes a page; the labs are shown as students get them, NOT executed (``execute:
   exclude_patterns`` in ``_config.yml``), with their Colab badge and the Colab launch button;
2. it checks that the hand-written ``jupyter-book-config/_toc.yml`` places every lab (an entry
   ``labs/<lab>``, right after the chapter it practises: the book is read in that order) and names
   no lab that ``labs/`` lacks; otherwise it stops with the list of both;
3. when the solutions are published, it copies ``solutions/*.ipynb`` into ``course/solutions/``;
   otherwise it removes that folder, so no solution can end up on the site by accident;
4. it writes the table of contents of the build, ``<out>/_toc.yml``: ``_toc.yml`` as it is, followed
   by a "Solutions" part (one entry per solution) when they are published.

The switch is ``segedu: publish_solutions`` in ``_config.yml`` (default ``false``); the
``--solutions 0|1`` option (``make book SOLUTIONS=1``) overrides it.

Usage (from the repository root)::

    python jupyter-book-config/prepare_book.py --out _build/book [--solutions 1]

It prints the path of the generated table of contents.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "jupyter-book-config"
COURSE = ROOT / "course"


def publish_solutions(config: dict, override: str | None = None) -> bool:
    """Whether the solutions are published: the override ("0"/"1", e.g. from ``make book
    SOLUTIONS=1``) when given and not empty, else ``segedu: publish_solutions`` of the config."""
    if override not in (None, ""):
        return override.strip().lower() in ("1", "true", "yes", "on")
    return bool((config.get("segedu") or {}).get("publish_solutions", False))


def copy_notebooks(source: Path, target: Path) -> list[str]:
    """Make ``target`` hold exactly a copy of each notebook ``source/*.ipynb``.

    Returns the toc entries of the copies (``<target name>/<stem>``, relative to ``course/``),
    sorted by file name, i.e. by lab number.
    """
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        shutil.rmtree(target, ignore_errors=True)
        return []
    # Bring the folder in step without ever emptying it (another build may be reading it): a lab
    # deleted from labs/ leaves the book, a changed one replaces its copy in one rename.
    target.mkdir(parents=True, exist_ok=True)
    names = {notebook.name for notebook in notebooks}
    for stale in target.iterdir():
        if stale.name not in names:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    for notebook in notebooks:
        copy = target / notebook.name
        if not (copy.is_file() and filecmp.cmp(notebook, copy, shallow=False)):
            partial = target / f".{notebook.name}.partial"
            shutil.copy2(notebook, partial)
            os.replace(partial, copy)
    return [f"{target.name}/{notebook.stem}" for notebook in notebooks]


def toc_files(node: Any) -> list[str]:
    """Every ``root`` and ``file`` entry of a (nested) table of contents, in reading order."""
    found: list[str] = []
    if isinstance(node, dict):
        found += [str(node[key]) for key in ("root", "file") if key in node]
        for value in node.values():
            if isinstance(value, list | dict):
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def check_labs(toc: dict, labs: list[str]) -> None:
    """Raise ``ValueError`` unless the toc's ``labs/...`` entries are exactly ``labs`` (each once)."""
    placed = [entry for entry in toc_files(toc) if entry.startswith("labs/")]
    unplaced = sorted(set(labs) - set(placed))
    unknown = sorted(set(placed) - set(labs))
    twice = sorted({entry for entry in placed if placed.count(entry) > 1})
    if unplaced or unknown or twice:
        raise ValueError(
            "jupyter-book-config/_toc.yml must list every lab of labs/ once, after the chapter it "
            f"practises: not listed {unplaced}; listed but not in labs/ {unknown}; listed twice {twice}")


def book_toc(base_toc: dict, solutions: list[str]) -> dict:
    """The hand-written toc, with a "Solutions" part when ``solutions`` is not empty."""
    toc = dict(base_toc)
    parts = list(toc.get("parts", []))
    if solutions:
        parts.append({"caption": "Solutions", "chapters": [{"file": entry} for entry in solutions]})
    toc["parts"] = parts
    return toc


def prepare(out: Path, solutions_override: str | None = None, course: Path = COURSE) -> Path:
    """Copy the notebooks into ``course`` and write ``out/_toc.yml``; return its absolute path."""
    config = yaml.safe_load((CONFIG_DIR / "_config.yml").read_text(encoding="utf8"))
    base_toc = yaml.safe_load((CONFIG_DIR / "_toc.yml").read_text(encoding="utf8"))

    labs = copy_notebooks(ROOT / "labs", course / "labs")
    check_labs(base_toc, labs)
    if publish_solutions(config, solutions_override):
        solutions = copy_notebooks(ROOT / "solutions", course / "solutions")
    else:
        shutil.rmtree(course / "solutions", ignore_errors=True)
        solutions = []

    out.mkdir(parents=True, exist_ok=True)
    toc_path = (out / "_toc.yml").resolve()
    header = "# Generated by jupyter-book-config/prepare_book.py from _toc.yml: do not edit.\n"
    toc_path.write_text(
        header + yaml.safe_dump(book_toc(base_toc, solutions), sort_keys=False, allow_unicode=True),
        encoding="utf8",
    )
    return toc_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the book's output folder (BOOK_OUT)")
    parser.add_argument("--solutions", default=None, help="1/0: publish the solutions or not "
                        "(default: segedu.publish_solutions of _config.yml)")
    args = parser.parse_args()
    try:
        print(prepare(args.out, args.solutions))
    except ValueError as error:
        raise SystemExit(f"prepare_book.py: {error}") from None


if __name__ == "__main__":
    main()
