"""The check that code fits the page (tests/code_width.py) fails on a code block that scrolls
sideways, and the book's style sheet (jupyter-book-config/_static/segedu.css, registered in
_config.yml) makes the same block fit. Hand-made pages with myst-nb's markup, in headless Chromium
(skipped without it, as tests/test_site.py is)."""

from __future__ import annotations

import pytest

from .book_config import CONFIG_DIR
from .code_width import code_overflows
from .test_site import CHROMIUM, CHROMIUM_ARGS, _require_browser

yaml = pytest.importorskip("yaml")

CSS = CONFIG_DIR / "_static" / "segedu.css"
LONG = "x = some_function(first_argument, second_argument)  # " + "a long comment " * 8


def _page(css: str, hidden: bool = False) -> str:
    # a code cell as myst-nb writes it (input, then output), in a 600 px column
    code = ('<div class="cell_input docutils container">'
            '<div class="highlight-ipython3 notranslate">'
            f'<div class="highlight"><pre>{LONG}</pre></div></div></div>')
    if hidden:  # a hide-input cell: its input inside a closed <details>
        code = f"<details><summary>Show code</summary>{code}</details>"
    output = ('<div class="cell_output docutils container"><div class="output text_plain '
              'highlight-myst-ansi notranslate"><div class="highlight"><pre>'
              + "column " * 30 + "</pre></div></div></div>")
    return (f"<!doctype html><html><head><style>{css}</style></head><body>"
            f'<main style="width: 600px"><div class="cell docutils container">{code}{output}'
            '</div><div class="highlight-python notranslate"><div class="highlight"><pre>'
            f"{LONG}</pre></div></div></main></body></html>")


def test_registered_in_the_configuration():
    config = yaml.safe_load((CONFIG_DIR / "_config.yml").read_text(encoding="utf8"))
    assert "segedu.css" in config["sphinx"]["config"]["html_css_files"]
    assert CSS.is_file()


def test_code_overflows_without_the_style_sheet_and_fits_with_it():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for hidden in (False, True):
                page.set_content(_page("", hidden))
                wide = code_overflows(page)
                assert len(wide) == 3, wide  # the cell's input, its output, the code block
                assert sum("a long comment" in w for w in wide) == 2, wide
                # the check leaves a collapsed cell collapsed
                assert page.evaluate("document.querySelectorAll('details[open]').length") == 0
                page.set_content(_page(CSS.read_text(encoding="utf8"), hidden))
                assert code_overflows(page) == []
        finally:
            browser.close()
