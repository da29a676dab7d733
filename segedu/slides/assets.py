"""The files a deck serves itself: reveal.js, MathJax, the deck's own CSS and script.

Nothing is fetched from the network, at build time or in the browser. reveal.js is the copy that
the PyPI package ``sphinx-revealjs`` ships (its ``_static/revealjs``), MathJax 3 the copy of
``sphinx-mathjax-offline`` that the book serves too; both are in the ``book`` extra, so a fresh
machine with only Python and pip has them after ``make setup``. Each deck's folder gets its own
copy (``lib/``, about 4 MB), so a deck folder can be copied alone onto a lecture-hall computer.
Copies, not links: a lecturer who edits a deck's ``lib/deck.css`` changes that deck only, never
the installed packages or segedu's own files.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

# What a deck uses of reveal.js 5: the core, its white theme and the theme's font (the WOFF files
# that browsers load; the EOT and TTF fallbacks are left out), the speaker notes plugin (its
# speaker view is built into notes.js).
REVEAL_FILES = (
    "LICENSE",
    "dist/reset.css",
    "dist/reveal.css",
    "dist/reveal.js",
    "dist/theme/white.css",
    "dist/theme/fonts/source-sans-pro/LICENSE",
    "dist/theme/fonts/source-sans-pro/source-sans-pro.css",
    "dist/theme/fonts/source-sans-pro/*.woff",
    "plugin/notes/notes.js",
)
# What a deck uses of MathJax 3: the TeX-to-CommonHTML component, its fonts and the TeX packages
# it loads on demand (\boldsymbol, \cancel, ...). The deck turns MathJax's context menu off, so
# the accessibility parts that the menu would load (a11y/, sre/) are not needed.
MATHJAX_FILES = (
    "tex-chtml.js",
    "output/chtml/fonts/woff-v2",
    "input/tex/extensions",
)
# Files of the deck's own (segedu/slides/static).
OWN_FILES = ("deck.css", "deck.js")


class MissingAssets(RuntimeError):
    """reveal.js or MathJax is not installed (the book extra is missing)."""


def _package_folder(import_name: str, inside: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssets(f"the slides need the package {pip_name} (reveal.js / MathJax served "
                            "by the deck itself): pip install -e '.[book]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / inside
    if not folder.is_dir():
        raise MissingAssets(f"{pip_name} has no {inside}/ (found {folder.parent})")
    return folder


def reveal_folder() -> Path:
    """reveal.js as shipped by sphinx-revealjs (``.../sphinx_revealjs/_static/revealjs``)."""
    return _package_folder("sphinx_revealjs", "_static/revealjs", "sphinx-revealjs")


def mathjax_folder() -> Path:
    """MathJax 3 as shipped by sphinx-mathjax-offline (``.../static/mathjax``); its import name
    has dashes."""
    return _package_folder("sphinx-mathjax-offline", "static/mathjax", "sphinx-mathjax-offline")


def _place(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` (unless an identical copy is already there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == source.stat().st_size \
            and target.read_bytes() == source.read_bytes():
        return
    shutil.copyfile(source, target)


def _place_tree(source: Path, target: Path) -> None:
    """Copy a file, a folder or the files a ``*`` pattern names."""
    if "*" in source.name:
        found = sorted(source.parent.glob(source.name))
        if not found:
            raise MissingAssets(f"no {source.name} in {source.parent}")
        for path in found:
            _place(path, target.parent / path.name)
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file():
                _place(path, target / path.relative_to(source))
    elif source.is_file():
        _place(source, target)
    else:
        raise MissingAssets(f"{source} is missing")


def install(deck_dir: Path) -> None:
    """Put reveal.js, MathJax and the deck's own CSS and script under ``deck_dir/lib``."""
    lib = deck_dir / "lib"
    reveal, mathjax = reveal_folder(), mathjax_folder()
    for name in REVEAL_FILES:
        _place_tree(reveal / name, lib / "reveal" / name)
    for name in MATHJAX_FILES:
        _place_tree(mathjax / name, lib / "mathjax" / name)
    for name in OWN_FILES:
        _place_tree(STATIC / name, lib / name)
