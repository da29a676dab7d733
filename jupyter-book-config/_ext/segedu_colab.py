"""Point the book's Colab launch buttons at notebooks that Colab can open.

The chapters are MyST Markdown notebooks (``course/<page>.md``). sphinx-book-theme builds the
Colab link from the source path, ``.../blob/<branch>/course/<page>.md``, which Colab cannot open:
it only opens ``.ipynb`` files. The theme also copies each executed notebook to
``_sources/<page>.ipynb`` in the built site, so once the site is published to the branch named by
``segedu_colab_branch`` (``gh-pages`` by default, e.g. with ``ghp-import -n -p -f <html dir>``),
``.../blob/gh-pages/_sources/<page>.ipynb`` is a notebook on GitHub that Colab opens, outputs
included. This extension rewrites the Colab button to that address; every other button is left as
the theme made it. It needs no network access.

The labs are the exception: their pages (``labs/<lab>``, copied into the book by
``prepare_book.py``) open the student notebook kept in the repository,
``.../blob/<repository branch>/labs/<lab>.ipynb``, the same address as the badge in the lab itself.

It also removes two JavaScript errors that the theme stack (Sphinx 7.4, sphinx-book-theme 1.3,
pydata-sphinx-theme 0.17) puts in every page's console, found by tests/test_site.py:

- some inline scripts are emitted twice (e.g. sphinx-thebe's ``const THEBE_JS_URL = ...``), and the
  second ``const`` raises "Identifier 'THEBE_JS_URL' has already been declared": duplicates are
  dropped from each page's script list;
- on a first visit (nothing in localStorage) the theme mode is ``""``, which the theme reports as
  "Got invalid theme mode" unless ``html_context["default_mode"]`` is set: it is set to ``auto``
  (follow the reader's system) unless the configuration chooses another.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def colab_notebook_url(colab_url: str, repository_url: str, branch: str, pagename: str) -> str:
    """The Colab address of the executed notebook of ``pagename`` on the published site."""
    org_repo = repository_url.rstrip("/").split("github.com/")[-1]
    return f"{colab_url.rstrip('/')}/github/{org_repo}/blob/{branch}/_sources/{pagename}.ipynb"


def lab_colab_url(colab_url: str, repository_url: str, branch: str, pagename: str) -> str:
    """The Colab address of the student lab ``pagename`` (``labs/<lab>``) in the repository."""
    org_repo = repository_url.rstrip("/").split("github.com/")[-1]
    return f"{colab_url.rstrip('/')}/github/{org_repo}/blob/{branch}/{pagename}.ipynb"


def _rewrite_colab_button(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    options = app.config.html_theme_options or {}
    colab_url = (options.get("launch_buttons") or {}).get("colab_url")
    repository_url = options.get("repository_url", "")
    if not colab_url or "github.com/" not in repository_url:
        return
    if pagename.startswith("labs/"):
        url = lab_colab_url(colab_url, repository_url, options.get("repository_branch") or "main", pagename)
    else:
        url = colab_notebook_url(colab_url, repository_url, app.config.segedu_colab_branch, pagename)
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab":
                button["url"] = url


def _drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Keep the first of scripts with the same file and attributes (inline body included).

    The copies differ only in the file name of an inline script, ``None`` in one and ``""`` in the
    other (one registered before the builder existed, one after), so both count as "no file".
    """
    seen: set[tuple] = set()
    unique = []
    for script in context.get("script_files", []):
        key = (
            str(getattr(script, "filename", script) or ""),
            tuple(sorted((getattr(script, "attributes", None) or {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"] = unique


def _default_theme_mode(app: Sphinx, config: Any) -> None:
    """A first visit gets the "auto" colour mode instead of a console error."""
    # pydata-sphinx-theme reads it from the template context (html_context), not a theme option.
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("segedu_colab_branch", "gh-pages", "html")
    # sphinx-book-theme adds its launch buttons at priority 501; run after it.
    app.connect("html-page-context", _rewrite_colab_button, priority=600)
    # After every extension has added its scripts to the page.
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("config-inited", _default_theme_mode)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
