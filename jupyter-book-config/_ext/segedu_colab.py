"""Point the book's Colab launch buttons at notebooks that Colab can open.

The chapters are MyST Markdown notebooks (``course/<page>.md``). sphinx-book-theme builds the
Colab link from the source path, ``.../blob/<branch>/course/<page>.md``, which Colab cannot open:
it only opens ``.ipynb`` files. The theme also copies each executed notebook to
``_sources/<page>.ipynb`` in the built site, so once the site is published to the branch named by
``segedu_colab_branch`` (``gh-pages`` by default, e.g. with ``ghp-import -n -p -f <html dir>``),
``.../blob/gh-pages/_sources/<page>.ipynb`` is a notebook on GitHub that Colab opens, outputs
included. This extension rewrites the Colab button to that address; every other button is left as
the theme made it. It needs no network access.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def colab_notebook_url(colab_url: str, repository_url: str, branch: str, pagename: str) -> str:
    """The Colab address of the executed notebook of ``pagename`` on the published site."""
    org_repo = repository_url.rstrip("/").split("github.com/")[-1]
    return f"{colab_url.rstrip('/')}/github/{org_repo}/blob/{branch}/_sources/{pagename}.ipynb"


def _rewrite_colab_button(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    options = app.config.html_theme_options or {}
    colab_url = (options.get("launch_buttons") or {}).get("colab_url")
    repository_url = options.get("repository_url", "")
    if not colab_url or "github.com/" not in repository_url:
        return
    url = colab_notebook_url(colab_url, repository_url, app.config.segedu_colab_branch, pagename)
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab":
                button["url"] = url


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("segedu_colab_branch", "gh-pages", "html")
    # sphinx-book-theme adds its launch buttons at priority 501; run after it.
    app.connect("html-page-context", _rewrite_colab_button, priority=600)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
