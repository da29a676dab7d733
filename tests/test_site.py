r"""The built book, opened in a real browser (headless Chromium through Playwright).

`make book` builds the site; this test takes the fast-mode (SEGEDU_FAST=1) build that the whole
test run shares (the fixture ``fast_book_build`` of tests/conftest.py, whose executed chapters
tests/test_book.py checks too), serves it on a free localhost port, and opens the home page and
every page of the table of contents (chapters and labs) in headless Chromium.
A page fails the test when

- it is missing (HTTP status other than 200),
- one of its internal links (`<a href>` to the same site) is broken, or names a `#fragment` that
  is not an `id` on the target page,
- one of its images does not load (`naturalWidth == 0`), the Colab badges included,
- the browser logs a console error or the page's JavaScript raises,
- it requests anything from a host other than the local server (the site must be readable offline:
  MathJax, scripts, fonts and images are all served by the site itself); every such request is
  listed and refused, as it would fail for a reader without internet,
- its text still shows TeX once MathJax has typeset the page (`\(`, `\[`, `$$`, `\frac`, any
  `\command`, `$x$`), outside code blocks, or MathJax reports a formula it could not typeset.

It also checks that every student lab of labs/ has its page, and that the solutions are not
published unless the configuration says so. Full-page screenshots of one page of each kind (the
home page, a chapter with math, a lab) are kept in _build/site-test/ (an artifact for CI).

Needs Debian's Chromium (/usr/bin/chromium; `apt-get install chromium`) and the Python package
`playwright` (never `playwright install`: the system browser is used; SEGEDU_CHROMIUM=<path> names
another Chromium binary). Without them the tests are skipped, unless SEGEDU_REQUIRE_BROWSER=1 (set
by .ci/run), which makes them fail instead.
SEGEDU_SITE_BUILD=<BOOK_OUT folder> reuses a finished `make book BOOK_OUT=...` (default
configuration, i.e. without SOLUTIONS=1) instead of building (see ``fast_book_build``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from segedu.slides.pdf import serve  # one local server for the site and the decks

from . import book_config
from .code_width import code_overflows

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
# Debian's package; SEGEDU_CHROMIUM names another Chromium binary (e.g. on another system).
CHROMIUM = Path(os.environ.get("SEGEDU_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "_build" / "site-test"
# Flags for a container: no sandbox (root, no user namespaces), no GPU, and none of Chromium's own
# background traffic (updates, sync), which would only fail offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Milliseconds allowed to one page load / one image / MathJax's first typesetting.
PAGE_TIMEOUT_MS = 30_000
# Each page stays open (its requests recorded) at least this long after it loaded, while at most
# OPEN_PAGES later pages are checked: a request that its scripts make late is still seen, and
# the checker waits for no page's network to go quiet (a wait of 0.5 s or more a page).
OPEN_AT_LEAST_S, OPEN_PAGES = 2.0, 3
# A valid 88x20 SVG image for the hand-made pages of the checker's own test.
TINY_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="88" height="20">'
    '<rect width="88" height="20" fill="#f9ab00"/></svg>'
)
# The addresses that the offline router sees: every one but the local server's (127.0.0.1 or
# localhost, any port). A regular
# expression is matched by the browser's driver, so local requests never wait for a round trip
# to Python (with "**/*", every image, script and font of a page did: 1 s a page of the site).
NOT_LOCAL = re.compile(r"^(?!https?://(?:127\.0\.0\.1|localhost)(?::\d+)?/)")


# ---------------------------------------------------------------------------------------------
# helpers: the browser, a local web server, the checker


def _prepare_book_module():
    return book_config.load("prepare_book.py")


def _require_browser() -> None:
    """Skip (or, with SEGEDU_REQUIRE_BROWSER=1, fail) when Chromium or Playwright is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright (pip install playwright)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("SEGEDU_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; SEGEDU_REQUIRE_BROWSER=1 forbids skipping", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Debian's), with a fresh temporary profile per launch."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() (not launch_persistent_context) gives every run a new, empty user data dir.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _IdCollector(HTMLParser):
    """Collects every id (and legacy <a name>) of an HTML page: the valid #fragment targets; and
    whether a ``<meta http-equiv="Refresh">`` makes the page navigate on by itself."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refresh = False

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)
            if tag == "meta" and key == "http-equiv" and (value or "").lower() == "refresh":
                self.refresh = True


class LinkChecker:
    """Fetches internal link targets once each (plain HTTP, no browser) and remembers the ids."""

    def __init__(self):
        self._status: dict[str, int] = {}
        self._ids: dict[str, set[str]] = {}
        self._refresh: set[str] = set()  # the pages that navigate on by themselves

    def status(self, url: str) -> int:
        if url not in self._status:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    body = response.read()
                    self._status[url] = response.status
                    if "html" in response.headers.get("Content-Type", ""):
                        parser = _IdCollector()
                        parser.feed(body.decode("utf8", errors="replace"))
                        self._ids[url] = parser.ids
                        if parser.refresh:
                            self._refresh.add(url)
            except urllib.error.HTTPError as error:
                self._status[url] = error.code
        return self._status[url]

    def navigates_on(self, url: str) -> bool:
        """Whether the page ``url`` (fetched here once, as a link target is: the browser forgets
        a page's body once it has navigated on) holds a ``<meta http-equiv="Refresh">``."""
        self.status(url)
        return url in self._refresh

    def has_fragment(self, url: str, fragment: str) -> bool:
        """Whether the (already fetched) page ``url`` has an element with id ``fragment``."""
        ids = self._ids.get(url)
        return ids is None or fragment in ids  # not HTML (e.g. a notebook download): no anchors


def _offline_router(external: list[str]):
    """A Playwright route handler for the requests that :data:`NOT_LOCAL` matches: each is recorded
    in ``external`` (its type and address) and refused, as it fails for an offline reader."""

    def route_request(route) -> None:
        external.append(f"{route.request.resource_type} {route.request.url}")
        route.abort("internetdisconnected")

    return route_request


# Waits (at most timeoutMs) until MathJax, when the page loads it, has typeset the page; then
# returns the text a reader sees outside code blocks and typeset math, and MathJax's errors.
_MATH_JS = r"""
async (timeoutMs) => {
  const start = Date.now();
  // window.MathJax is first the configuration object; startup.promise exists once MathJax runs.
  while (window.MathJax && !(MathJax.startup && MathJax.startup.promise)
         && Date.now() - start < timeoutMs)
    await new Promise(resolve => setTimeout(resolve, 100));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode())
    if (!node.parentElement.closest(skip)) texts.push(node.nodeValue);
  const errors = [...document.querySelectorAll("mjx-merror, .MathJax_Error")].map(e =>
    e.getAttribute("data-mjx-error") || e.textContent);
  return {text: texts.join(" "), errors: errors};
}
"""

# TeX that a reader should never see: math delimiters, TeX commands and $...$ (what MathJax leaves
# when it did not run). Code blocks are not searched (a backslash there is code).
RAW_TEX = re.compile(
    r"\\[()\[\]]"                 # \( \) \[ \]
    r"|\$\$"                        # $$
    r"|\\[A-Za-z]{2,}"              # \frac, \sum, \begin, \mathbf, ...
    r"|(?<![$\w])\$[^$\s][^$\n]{0,200}?(?<=[^\s\\])\$(?![$\w])"  # $x$
)


def raw_tex(text: str) -> list[str]:
    """The pieces of untypeset TeX in a page's visible text (at most 10, each with context)."""
    found = []
    for match in RAW_TEX.finditer(text):
        found.append(text[max(0, match.start() - 20): match.end() + 20].replace("\n", " "))
        if len(found) == 10:
            break
    return found


# Makes lazy images load now, waits for every image to finish (load or error), reports each one.
_IMAGES_JS = """
async (timeoutMs) => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  const settled = img => img.complete ? Promise.resolve() : new Promise(resolve => {
    img.addEventListener("load", resolve, {once: true});
    img.addEventListener("error", resolve, {once: true});
  });
  const timeout = new Promise(resolve => setTimeout(resolve, timeoutMs));
  await Promise.race([Promise.all(images.map(settled)), timeout]);
  return images.map(img => ({src: img.currentSrc || img.src,
                             ok: img.complete && img.naturalWidth > 0}));
}
"""


def check_pages(browser, base_url: str, pages: list[str],
                screenshots: dict[str, Path] | None = None) -> list[str]:
    """Open each page (a path relative to ``base_url``) and list every problem found, as text.

    Each problem starts with its kind: "missing page", "broken link", "missing anchor",
    "missing image", "console error", "page error", "external request", "raw TeX" or "math error".
    ``screenshots`` maps a page to the PNG file where a full-page screenshot of it is saved. An
    empty list means every page is fine.

    A page stays open, its own requests recorded, until :data:`OPEN_AT_LEAST_S` seconds after it
    loaded (the next pages are checked meanwhile), so that a request its scripts make late is
    still seen.
    """
    screenshots = screenshots or {}
    links = LinkChecker()
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    unattributed: list[str] = []  # a request of no page of ours (a popup, a worker)
    context.route(NOT_LOCAL, _offline_router(unattributed))
    still_open: list[tuple[str, object, list[str], float]] = []  # (path, page, external, loaded)

    def close(opened) -> None:
        page_path, page, external, loaded = opened
        time.sleep(max(0.0, loaded + OPEN_AT_LEAST_S - time.monotonic()))
        page.close()
        problems.extend(f"external request on {page_path}: {request}" for request in external)

    try:
        for page_path in pages:
            page, external = context.new_page(), []
            page.route(NOT_LOCAL, _offline_router(external))  # before the context's route
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            # Console errors and uncaught exceptions, from the first byte on.
            page.on("console", lambda msg, p=page_path: problems.append(
                f"console error on {p}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror",
                    lambda exc, p=page_path: problems.append(f"page error on {p}: {exc}"))

            response = page.goto(urljoin(base_url, page_path), wait_until="load")
            if response is None or response.status != 200:
                status = response.status if response is not None else "no response"
                problems.append(f"missing page {page_path}: HTTP {status}")
                still_open.append((page_path, page, external, time.monotonic()))
                continue
            if links.navigates_on(urljoin(base_url, page_path)):
                # A <meta http-equiv="Refresh"> (the book's index.html) navigates on: let it settle.
                page.wait_for_load_state("networkidle")
                page.wait_for_load_state("load")
            still_open.append((page_path, page, external, time.monotonic()))

            for image in page.evaluate(_IMAGES_JS, PAGE_TIMEOUT_MS):
                if not image["ok"]:
                    problems.append(f"missing image on {page_path}: {image['src']}")

            math = page.evaluate(_MATH_JS, PAGE_TIMEOUT_MS)
            problems.extend(f"raw TeX on {page_path}: ...{piece}..."
                            for piece in raw_tex(math["text"]))
            problems.extend(f"math error on {page_path}: {error}" for error in math["errors"])
            problems.extend(f"code overflow on {page_path}: {w}" for w in code_overflows(page))

            # Internal links: same host and port as the site; each target fetched once.
            hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            for href in sorted(set(hrefs)):
                if urlsplit(href).netloc != urlsplit(base_url).netloc:
                    continue
                target, fragment = urldefrag(href)
                status = links.status(target)
                if status != 200:
                    problems.append(f"broken link on {page_path}: {href} (HTTP {status})")
                elif fragment and not links.has_fragment(target, fragment):
                    problems.append(f"missing anchor on {page_path}: {href} (no id {fragment!r})")

            if page_path in screenshots:
                screenshots[page_path].parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots[page_path]), full_page=True)
            while len(still_open) > OPEN_PAGES:
                close(still_open.pop(0))
        while still_open:
            close(still_open.pop(0))
    finally:
        for _, page, _, _ in still_open:
            page.close()
        context.close()
    problems.extend(f"external request: {request}" for request in unattributed)
    return problems


# ---------------------------------------------------------------------------------------------
# the checker catches what it should (a tiny hand-made site, no book build)


def _offline_extension():
    return book_config.load("_ext/segedu_offline.py")


# Math as Sphinx writes it (inline, display, an amsmath environment), for the hand-made pages.
_MATH_HTML = (
    '<p>inline <span class="math notranslate nohighlight">\\(p_{i,c} = \\frac{e^{z_{i,c}}}'
    '{\\sum_k e^{z_{i,k}}}\\)</span> and display</p>'
    '<div class="math notranslate nohighlight">\\[\\mathcal{L} = -\\sum_i \\log p_{i,y_i}\\]</div>'
    '<div class="math notranslate nohighlight">\\begin{align} a &amp;= b + c \\\\ d &amp;= e'
    '\\end{align}</div>'
)


def _write_tiny_site(folder: Path) -> None:
    """Two hand-made pages: good.html is clean (its math typeset by the MathJax that the book
    serves, the copy of sphinx-mathjax-offline), bad.html has every problem the checker
    looks for."""
    (folder / "ok.svg").write_text(TINY_SVG, encoding="utf8")
    (folder / "mathjax").symlink_to(_offline_extension().mathjax_static_dir() / "mathjax")
    (folder / "good.html").write_text(
        '<!doctype html><html><head><title>good</title><link rel="icon" href="data:,">'
        '<script>window.MathJax = {options: {processHtmlClass: "math"}}</script>'
        '<script defer src="mathjax/tex-mml-chtml.js"></script></head><body>'
        '<h1 id="top">Good</h1><img src="ok.svg" alt="ok">'
        '<a href="bad.html#here">bad page, existing anchor</a>'
        # a link (not a request) to another host is fine; TeX inside code is code
        '<a href="https://colab.research.google.com/">Colab</a><pre>r"$\\frac{a}{b}$"</pre>'
        + _MATH_HTML + "</body></html>",
        encoding="utf8",
    )
    (folder / "bad.html").write_text(
        '<!doctype html><html><head><title>bad</title><link rel="icon" href="data:,"></head><body>'
        '<h1 id="here">Bad</h1>'
        '<a href="nowhere.html">broken link</a>'
        '<a href="good.html#nothere">missing anchor</a>'
        '<img src="missing.png" alt="missing">'
        # an image from another host: an external request, and a broken image offline
        '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="badge">'
        '<script>console.error("boom from the page");</script>'
        '<script>throw new Error("uncaught on purpose");</script>'
        # a stray $x$, and math that no MathJax typesets
        + "<p>a leftover $x_1$ here</p>" + _MATH_HTML + "</body></html>",
        encoding="utf8",
    )
    # a script that reaches for another host a second after the page loaded
    (folder / "late.html").write_text(
        '<!doctype html><html><head><title>late</title><link rel="icon" href="data:,"></head>'
        '<body><h1>Late</h1><script>window.addEventListener("load", () => setTimeout(() => '
        '{ new Image().src = "https://example.org/late.png"; }, 1000));</script></body></html>',
        encoding="utf8",
    )


def test_raw_tex_finds_untypeset_math_and_nothing_else():
    for text in ("\\(z_{i,c}\\)", "\\[ p \\]", "$$a$$", "x \\frac12", "where $n_c$ counts",
                 "\\begin{align}"):
        assert raw_tex(text), text
    for text in ("costs 5 $ and 10 $.", "a path C:/x", "plain text, 50 % of pixels", "a $ sign"):
        assert raw_tex(text) == [], text


def test_checker_finds_broken_links_missing_images_raw_tex_and_external_requests(browser, tmp_path):
    _write_tiny_site(tmp_path)
    with serve(tmp_path) as base_url:
        # No false alarm on a clean page; its math is typeset by the MathJax the site serves.
        shot = tmp_path / "good.png"
        assert check_pages(browser, base_url, ["good.html"], {"good.html": shot}) == []
        assert shot.stat().st_size > 0
        problems = check_pages(browser, base_url, ["bad.html", "absent.html", "late.html"])

    def found(kind: str, detail: str) -> bool:
        return any(p.startswith(kind) and detail in p for p in problems)

    assert found("broken link", "nowhere.html"), problems
    assert found("missing anchor", "good.html#nothere"), problems
    assert found("missing image", "missing.png"), problems
    assert found("missing image", "colab-badge.svg"), problems
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    assert found("external request on bad.html", f"image {badge}"), problems
    assert found("external request on late.html", "https://example.org/late.png"), problems
    assert found("console error", "boom from the page"), problems
    assert found("page error", "uncaught on purpose"), problems
    assert found("missing page", "absent.html: HTTP 404"), problems
    for piece in ("\\(p_{i,c}", "\\frac", "\\[\\mathcal", "\\begin{align}", "$x_1$"):
        assert found("raw TeX on bad.html", piece), (piece, problems)


# ---------------------------------------------------------------------------------------------
# the real site


def _toc_files(node) -> list[str]:
    """Every `root` and `file` entry of a (nested) table of contents, in order (prepare_book's)."""
    return _prepare_book_module().toc_files(node)


@pytest.mark.slow
def test_every_page_of_the_book_loads_cleanly_in_chromium(browser, fast_book_build):
    built_book = fast_book_build  # tests/conftest.py: the one fast-mode `make book` of the run
    html = built_book / "_build" / "html"
    toc = yaml.safe_load((built_book / "_toc.yml").read_text(encoding="utf8"))
    pages = ["index.html"] + [f"{entry}.html" for entry in _toc_files(toc)]

    # Every student lab of labs/ is a page (derived from the folder, not from the toc) ...
    labs = sorted((ROOT / "labs").glob("*.ipynb"))
    assert labs, "labs/ has no notebook: run `make labs`"
    for lab in labs:
        assert f"labs/{lab.stem}.html" in pages, f"{lab.name} is not in the book's toc"
    # ... and the solutions are published only when the configuration asks for it.
    prepare_book = _prepare_book_module()
    config_file = ROOT / "jupyter-book-config" / "_config.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf8"))
    published = sorted(p.relative_to(html) for p in (html / "solutions").glob("*.html"))
    if prepare_book.publish_solutions(config):
        assert len(published) == len(list((ROOT / "solutions").glob("*.ipynb")))
    else:
        assert not published, f"solutions published although publish_solutions is off: {published}"
        assert not (html / "_sources" / "solutions").exists()

    # Each lab page opens the student notebook of the repository in Colab, from its badge and from
    # the theme's launch button alike (so at least two links, all to the same address).
    colab = book_config.load("_ext/segedu_colab.py")
    for lab in labs:
        expected = colab.lab_colab_url(
            config["launch_buttons"]["colab_url"], config["repository"]["url"],
            config["repository"]["branch"], f"labs/{lab.stem}")
        text = (html / "labs" / f"{lab.stem}.html").read_text(encoding="utf8")
        found = re.findall(r'href="(https://colab\.research\.google\.com/github/[^"]+)"', text)
        assert len(found) >= 2 and set(found) == {expected}, f"Colab links of {lab.name}: {found}"

    # One screenshot per kind of page: the home page, the first chapter with math, the first lab.
    first_lab = f"labs/{labs[0].stem}.html"
    math_chapter = next(page for page in pages if not page.startswith(("labs/", "index"))
                        and 'class="math' in (html / page).read_text(encoding="utf8"))
    screenshots = {"index.html": ARTIFACTS / "home.png", math_chapter: ARTIFACTS / "chapter.png",
                   first_lab: ARTIFACTS / "lab.png"}
    with serve(html) as base_url:
        problems = check_pages(browser, base_url, pages, screenshots)
    assert not problems, "\n".join(problems)
    for shot in screenshots.values():
        assert shot.stat().st_size > 0

    # The architecture diagrams are vector images (segedu.viz.svg_figure), which check_pages has
    # just seen load: at least one per svg_figure call in each chapter's source.
    for source in sorted((ROOT / "course").glob("*.md")):
        calls = source.read_text(encoding="utf8").count("svg_figure(")
        if calls:
            text = (html / f"{source.stem}.html").read_text(encoding="utf8")
            shown = len(re.findall(r'<img[^>]*src="[^"]+\.svg"', text))
            assert shown >= calls, f"{source.name}: {shown} SVG images for {calls} diagram cells"


def test_prepare_book_keeps_labs_where_the_toc_places_them_and_adds_solutions_only_when_on(
        tmp_path):
    """The generated toc: _toc.yml as written (each lab after its chapter), every lab copied; the
    solutions only when switched on (no browser)."""
    prepare_book = _prepare_book_module()
    course = tmp_path / "course"
    course.mkdir()
    base = yaml.safe_load((ROOT / "jupyter-book-config" / "_toc.yml").read_text(encoding="utf8"))
    labs = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
    solutions = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))

    (course / "labs").mkdir()
    # left by an old build
    (course / "labs" / "99_removed_lab.ipynb").write_text("{}", encoding="utf8")
    toc_file = prepare_book.prepare(tmp_path / "off", "0", course=course)
    toc = yaml.safe_load(toc_file.read_text(encoding="utf8"))
    assert toc == base
    assert (sorted(e for e in _toc_files(toc) if e.startswith("labs/"))
            == [f"labs/{stem}" for stem in labs])
    assert sorted(p.stem for p in (course / "labs").glob("*.ipynb")) == labs
    assert not (course / "solutions").exists()

    # A lab that the toc does not place, or a toc entry with no lab, stops the build with
    # both lists.
    entries = [f"labs/{stem}" for stem in labs]
    with pytest.raises(ValueError, match=r"not listed \['labs/99_new'\]"):
        prepare_book.check_labs(base, [*entries, "labs/99_new"])
    with pytest.raises(ValueError, match=re.escape(f"listed but not in labs/ ['{entries[0]}']")):
        prepare_book.check_labs(base, entries[1:])
    prepare_book.check_labs(base, entries)

    toc_file = prepare_book.prepare(tmp_path / "on", "1", course=course)
    toc = yaml.safe_load(toc_file.read_text(encoding="utf8"))
    assert toc["parts"][-1]["caption"] == "Solutions"
    assert _toc_files(toc)[-len(solutions):] == [f"solutions/{stem}" for stem in solutions]
    assert sorted(p.stem for p in (course / "solutions").glob("*.ipynb")) == solutions
    # The switch's default comes from _config.yml; an empty override keeps it.
    assert prepare_book.publish_solutions({"segedu": {"publish_solutions": True}}, "") is True
    assert prepare_book.publish_solutions({}, None) is False
