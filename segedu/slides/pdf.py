"""A PDF of each deck, for the LMS: reveal.js' print view, printed by headless Chromium.

Each deck is served on a free localhost port and opened with ``?print-pdf`` (reveal.js lays out
one slide per page); once the deck says it is ready (math typeset, text fitted), Chromium prints
it to ``<deck folder>/<chapter>.pdf``. The browser is the system's Chromium (Debian's
``/usr/bin/chromium``, or ``SEGEDU_CHROMIUM=<path>``) driven through Playwright, never a browser
that Playwright downloads; it runs without sandbox and GPU (as in a container) and is kept
offline: any request to another host is refused.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Milliseconds allowed to a deck to load, typeset and fit its slides.
READY_TIMEOUT_MS = 120_000


def chromium_path() -> Path:
    """The Chromium binary: ``SEGEDU_CHROMIUM`` or Debian's ``/usr/bin/chromium``."""
    path = Path(os.environ.get("SEGEDU_CHROMIUM", "/usr/bin/chromium"))
    if not path.exists():
        raise RuntimeError(f"the PDFs of the slides need Chromium at {path} "
                           "(apt-get install chromium, or set SEGEDU_CHROMIUM)")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(directory: Path, *,
          handler: type[http.server.SimpleHTTPRequestHandler] = _QuietHandler) -> Iterator[str]:
    """Serve ``directory`` on a free localhost port; yields the base URL (ends in ``/``).
    ``handler`` answers the requests (default: the standard file handler, without its log
    lines); each request gets a thread of its own."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _offline(route) -> None:
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort("internetdisconnected")


def print_decks(decks: list[Path], browser=None) -> list[Path]:
    """Print each deck (the path of its ``index.html``) to ``<its folder>/<folder name>.pdf``;
    returns the PDFs' paths. ``browser``: a Playwright Chromium already running (e.g. a test's),
    else the system's Chromium is started for this."""
    if not decks:
        return []
    if browser is not None:
        return _print(decks, browser)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RuntimeError("the PDFs of the slides need the Python package playwright "
                           "(the dev extra; never `playwright install`)") from error
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            return _print(decks, browser)
        finally:
            browser.close()


def _print(decks: list[Path], browser) -> list[Path]:
    root = Path(os.path.commonpath([d.parent.parent for d in decks]))
    written = []
    with serve(root) as base:
        context = browser.new_context()
        context.route("**/*", _offline)
        try:
            for index in decks:
                page = context.new_page()
                url = base + index.relative_to(root).as_posix() + "?print-pdf"
                page.goto(url, wait_until="load")
                page.wait_for_selector("html[data-deck=ready]", state="attached",
                                       timeout=READY_TIMEOUT_MS)
                target = index.parent / f"{index.parent.name}.pdf"
                page.pdf(path=str(target), prefer_css_page_size=True, print_background=True)
                page.close()
                written.append(target)
        finally:
            context.close()
    return written
