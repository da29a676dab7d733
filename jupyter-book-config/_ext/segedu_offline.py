"""Make the built site readable without the internet: MathJax and the Colab badge are served by it.

Sphinx's math goes to the reader's browser as TeX (``\\(...\\)``, ``\\[...\\]``, amsmath
environments) that MathJax typesets there; by default MathJax comes from a CDN, so offline every
formula stays raw TeX. This extension

- serves MathJax 3 from the site itself: the MathJax files shipped by the PyPI package
  ``sphinx-mathjax-offline`` (a copy of MathJax's ``es5`` build, fonts included) are added to the
  static files (``_static/mathjax/``) and ``mathjax_path`` points at its ``tex-mml-chtml.js``, the
  same component as Sphinx's default CDN address. (That package is used only for its files: its own
  ``setup`` does the same but does not declare itself safe for a parallel build, which Sphinx
  reports as a warning, and ``-W`` makes warnings fail the build.)
- replaces the "Open in Colab" badge image (``https://colab.research.google.com/assets/
  colab-badge.svg``, written in every chapter and lab so that it also works on GitHub and in
  Jupyter) by the site's own copy, ``_static/colab-badge.svg`` (drawn for segedu, in
  ``jupyter-book-config/_static/``). The badge's *link* to Colab is left as it is.

It needs no network access, at build time or in the browser. ``tests/test_site.py`` opens every
page in Chromium, fails on any request to another host, on any raw TeX left in the page's text and
on any broken image.
"""

from __future__ import annotations

import importlib.util
import posixpath
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

# The badge address used in the chapters and labs, and the site's own copy that replaces it.
COLAB_BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "_static/colab-badge.svg"
STATIC = Path(__file__).resolve().parents[1] / "_static"
# MathJax 3's TeX + MathML input, CommonHTML output: Sphinx's default component.
MATHJAX_COMPONENT = "mathjax/tex-mml-chtml.js"


def mathjax_static_dir() -> Path:
    """The folder of the package ``sphinx-mathjax-offline`` that holds ``mathjax/``."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")  # the package's import name has dashes
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "the book needs the package sphinx-mathjax-offline (MathJax served by the site): "
            "pip install -e '.[book]'")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (static / MATHJAX_COMPONENT).is_file():
        raise ExtensionError(f"sphinx-mathjax-offline has no {MATHJAX_COMPONENT} under {static}")
    return static


def _serve_static_files(app: Sphinx, config: Any) -> None:
    """Add MathJax and the badge to the site's static files; point Sphinx's MathJax at the copy."""
    config.html_static_path = [*config.html_static_path, str(mathjax_static_dir()), str(STATIC)]
    config.mathjax_path = MATHJAX_COMPONENT


def _local_badges(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Point each Colab badge image at the site's copy (a path relative to the page)."""
    depth = docname.count("/")
    local = posixpath.join(*([".."] * depth), LOCAL_BADGE) if depth else LOCAL_BADGE
    for image in doctree.findall(nodes.image):
        if image.get("uri") == COLAB_BADGE_URL:
            # "?" marks a URI that Sphinx's image post-processing leaves as it is (no copy).
            image["uri"] = local
            image["candidates"] = {"?": local}


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _serve_static_files)
    app.connect("doctree-resolved", _local_badges)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
