"""The reading path of a chapter, as rules a test can check.

Two families of checks, plain functions so that tests/test_reading_path.py, tests/test_book.py and
anyone at a prompt can call them:

- **Bookkeeping share** (read from a chapter's MyST source, nothing executed): the *visible*
  sentences of a chapter are those a student reads without clicking: outside code cells, plain code
  blocks and display math, outside collapsed blocks (a ``{dropdown}`` directive or any directive
  with ``:class: dropdown``) and outside the front matter and HTML comments. A visible sentence is
  *bookkeeping* when it matches one pattern of :data:`BOOKKEEPING` (seeds, "± sd", budgets, step
  counts, cards, CPU minutes, learning-rate provenance, RoI sampling, retraining history,
  cache and download explanations, fast/full mode). Figure captions (in the code cells' options)
  are visible too and count. :func:`chapter_figures` gives, per chapter, the
  visible words, the reading time at :data:`WORDS_PER_MINUTE` and that share; the rule is a share
  of at most :data:`MAX_BOOKKEEPING_SHARE`. ``python tests/reading_rules.py`` prints the table.
- **An executed chapter** (an nbformat notebook after nbclient ran it): :func:`problems` lists
  each figure without a caption (myst-nb's ``mystnb: figure: caption:`` cell metadata), each visible
  cell that only checks (asserts and glue calls), each bare value a cell displays (a lone number,
  the return value of a glue call), each caption that myst-nb would repeat (it wraps every
  displayed output of a cell in the figure: one figure per captioned cell) and each sentence
  repeated between two diagram captions.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"

WORDS_PER_MINUTE = 200
MAX_BOOKKEEPING_SHARE = 0.05

#: What makes a visible sentence bookkeeping: how the zoo's numbers were made, not what they teach.
#: Each entry is (what it catches, a case-insensitive regular expression).
BOOKKEEPING: tuple[tuple[str, str], ...] = (
    # a training seed (not a graph cut's or a watershed's seed pixels)
    ("training seeds", r"\b(?:random|training|three|two|four|five|\d+|same|another|other|any)\s+"
                       r"(?:training\s+)?seeds?\b|\bseeds'|\bseed\s+\d|\bseeds?\b[^.]*\b(?:runs?|"
                       r"trained|training|spread|initiali[sz]ation)\b|\b(?:runs?|trained|training|"
                       r"spread)\b[^.]*\bseeds?\b"),
    ("a spread (± sd)", r"±|\bsd\b|\bstd\b"),
    ("a training budget", r"\bbudgets?\b"),
    ("a step count", r"\b\d[\d,]*\s+(?:optimi[sz]er\s+|training\s+|gradient\s+)?"
                     r"(?:steps|epochs)\b"),
    ("a model card", r"\bcards?\b"),
    ("CPU / GPU time", r"\b(?:CPU|GPU)[- ]?(?:time|minutes?|hours?|seconds?|min|h)\b"
                       r"|\b(?:CPU|core)[- ]hours?\b|\bwall[- ]?(?:clock|time)\b"
                       r"|\b(?:min|minutes|hours|h)\b[^.]*\bon (?:one|a|\d+) (?:CPU|GPU|core)"),
    ("learning-rate provenance", r"\bpilot\b|learning[- ]rates?\b[^.]*\b(?:set|chosen|picked|"
                                 r"tuned|recipes?)\b"),
    ("RoI sampling", r"\b\d+\s+(?:sampled\s+)?RoIs\b|\bRoIs? (?:per image|sampl\w*)"
                     r"|\bpositive (?:fraction|share)\b"),
    ("retraining history", r"\bre-?train\w*|\b(?:earlier|previous|first|older) (?:run|version|"
                           r"card|training)s?\b|\btrained again\b"),
    ("cache / download / offline", r"\bcach(?:e|ed|es|ing)\b|\bdownload\w*|\boffline\b"
                                   r"|\bshipped\b|\bships? (?:a|an|no|any|with|inside)\b"),
    ("fast / full mode", r"\bSEGEDU_FAST\b|\bfast mode\b|\bfull mode\b"),
)
_BOOKKEEPING = [(name, re.compile(rx, re.I)) for name, rx in BOOKKEEPING]

# ------------------------------------------------------------------------------------------------
# visible text of a MyST chapter

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*(?P<info>.*?)\s*$")
# directives whose body is not prose (code, math, raw output) or not shown (collapsed)
_NOT_PROSE = {"code-cell", "code", "code-block", "math", "raw", "glue:figure", "glue:any",
              "glue:md", "glue:math", "toctree", "tableofcontents", "glossary"}
_COLLAPSED = {"dropdown", "toggle"}


def _directive(info: str) -> str | None:
    match = re.match(r"\{([\w:-]+)\}", info)
    return match.group(1) if match else None


def _is_collapsed(name: str | None, options: list[str]) -> bool:
    if name in _COLLAPSED:
        return True
    return any(re.match(r"\s*:class:.*\bdropdown\b", line) for line in options)


def visible_lines(markdown: str) -> list[str]:
    """The lines of ``markdown`` (a MyST chapter) that a reader sees without clicking: prose,
    headings, lists, visible admonitions and figure captions; each hidden line becomes ``""`` (so
    paragraphs stay apart)."""
    lines = markdown.splitlines()
    out = [""] * len(lines)
    i = 0
    if lines and lines[0].strip() == "---":  # the jupytext front matter
        i = next((k for k in range(1, len(lines)) if lines[k].strip() == "---"), len(lines)) + 1
    # stack of open fences: (fence string, hidden?, literal?)
    stack: list[tuple[str, bool, bool]] = []
    in_math = in_comment = False
    while i < len(lines):
        line = lines[i]
        hidden = any(h for _, h, _ in stack)
        literal = bool(stack) and stack[-1][2]
        match = _FENCE.match(line)
        if match and stack and match["fence"][0] == stack[-1][0][0] \
                and len(match["fence"]) >= len(stack[-1][0]) and not match["info"]:
            stack.pop()
            i += 1
            continue
        if match and not literal:
            name = _directive(match["info"])
            options: list[str] = []
            k = i + 1
            if k < len(lines) and lines[k].strip() == "---":  # a YAML option block
                end = next((j for j in range(k + 1, len(lines)) if lines[j].strip() == "---"), k)
                options, k = lines[k + 1:end], end + 1
            while k < len(lines) and re.match(r"\s*:[\w-]+:", lines[k]):
                options.append(lines[k])
                k += 1
            not_prose = name is None or name in _NOT_PROSE  # a plain ``` block is code
            stack.append((match["fence"], not_prose or _is_collapsed(name, options), not_prose))
            i = k
            continue
        if hidden or literal:
            i += 1
            continue
        stripped = line.strip()
        if in_comment or stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            i += 1
            continue
        if in_math:  # inside a display-math block, which ends on the line holding $$
            in_math = "$$" not in stripped
            i += 1
            continue
        if stripped.startswith("$$"):
            # a display-math block: $$ ... $$ on one line or over several
            in_math = stripped.count("$$") < 2
            i += 1
            continue
        if stripped.startswith("+++") or stripped.startswith("(") and \
                stripped.endswith(")="):  # a MyST target
            i += 1
            continue
        out[i] = line
        i += 1
    return out


def _clean(text: str) -> str:
    """Prose as read: roles and links reduced to their text, a glued number as "0"."""
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", "0", text)
    text = re.sub(r"\{(?:term|doc|ref|numref|eq)\}`([^`<]*?)\s*(?:<[^`]*>)?`",
                  lambda m: m.group(1) or "chapter", text)
    text = re.sub(r"\{[\w:-]+\}`([^`]*)`", r"\1", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images (the Colab badge)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links
    text = re.sub(r"\$([^$]+)\$", r"\1", text)  # inline math read as its symbols
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", " ", text)  # _emphasis_, not names
    return re.sub(r"[*`#>|]", " ", text)


def visible_paragraphs(markdown: str) -> list[str]:
    """The visible prose as paragraphs (a heading, a list item and a table row are each one),
    cleaned of MyST markup, whitespace collapsed."""
    paragraphs: list[list[str]] = [[]]
    for line in visible_lines(markdown):
        stripped = line.strip()
        new_block = (not stripped or stripped.startswith("#") or stripped.startswith("|")
                     or re.match(r"([-*+]|\d+[.)])\s", stripped))
        if new_block and paragraphs[-1]:
            paragraphs.append([])
        if stripped:
            paragraphs[-1].append(stripped)
            if stripped.startswith(("#", "|")):
                paragraphs.append([])
    cleaned = (" ".join(_clean(re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", " ".join(p))).split())
               for p in paragraphs)
    return [p for p in cleaned if re.search(r"\w", p)]


_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|et al|cf|vs|Fig|Eq|Sec|approx|resp|no)\.", re.I)


def visible_sentences(markdown: str) -> list[str]:
    """The visible sentences: each paragraph split after ., ! or ? followed by a capital (or a
    digit, a quote, a bracket), with e.g., i.e. and et al. kept inside their sentence."""
    sentences = []
    for paragraph in visible_paragraphs(markdown):
        protected = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "\0"), paragraph)
        for part in re.split(r"(?<=[.!?])\s+(?=[A-Za-z0-9\"'(\[])", protected):
            part = part.replace("\0", ".").strip()
            if re.search(r"\w", part):
                sentences.append(part)
    return sentences


def words(text: str) -> int:
    return len(re.findall(r"[^\W_][\w'’.,-]*", text))


def bookkeeping_reasons(sentence: str) -> list[str]:
    """What makes ``sentence`` bookkeeping (names of :data:`BOOKKEEPING`), empty when nothing."""
    return [name for name, rx in _BOOKKEEPING if rx.search(sentence)]


@dataclass(frozen=True)
class ChapterFigures:
    """Reading figures of one chapter."""

    name: str
    words: int  # visible words
    sentences: int  # visible sentences
    bookkeeping: tuple[str, ...]  # the visible sentences that are bookkeeping

    @property
    def minutes(self) -> float:
        return self.words / WORDS_PER_MINUTE

    @property
    def share(self) -> float:
        return len(self.bookkeeping) / max(self.sentences, 1)


def figure_captions(markdown: str) -> list[str]:
    """The figure captions of the code cells (myst-nb's ``mystnb: figure: caption:`` in a cell's
    YAML options): visible under each figure, so part of the reading."""
    import yaml

    found = []
    for block in re.findall(r"^```\{code-cell\}[^\n]*\n---\n(.*?)\n---\n", markdown, re.S | re.M):
        options = yaml.safe_load(block) or {}
        caption = ((options.get("mystnb") or {}).get("figure") or {}).get("caption")
        if caption:
            found.append(" ".join(_clean(str(caption)).split()))
    return found


def figures_of(name: str, markdown: str) -> ChapterFigures:
    captions = figure_captions(markdown)
    sentences = visible_sentences(markdown) + [
        s for c in captions for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", c)
        if re.search(r"\w", s)]
    text = " ".join(visible_paragraphs(markdown) + captions)
    return ChapterFigures(name, words(text), len(sentences),
                          tuple(s for s in sentences if bookkeeping_reasons(s)))


def chapters(course: Path = COURSE) -> list[Path]:
    """The numbered chapters of the course, in order."""
    return sorted(p for p in course.glob("[0-9][0-9]_*.md"))


def chapter_figures(course: Path = COURSE) -> list[ChapterFigures]:
    return [figures_of(p.stem, p.read_text(encoding="utf8")) for p in chapters(course)]


def table(rows: list[ChapterFigures]) -> str:
    """The per-chapter table: visible words, reading time, bookkeeping share."""
    lines = [f"{'chapter':<28} {'words':>6} {'minutes':>7} {'sentences':>9} {'bookkeeping':>11}"
             f" {'share':>6}"]
    for r in rows:
        flag = "  > 5 %" if r.share > MAX_BOOKKEEPING_SHARE else ""
        lines.append(f"{r.name:<28} {r.words:>6} {r.minutes:>7.1f} {r.sentences:>9} "
                     f"{len(r.bookkeeping):>11} {100 * r.share:>5.1f}%{flag}")
    total_words = sum(r.words for r in rows)
    lines.append(f"{'all':<28} {total_words:>6} {total_words / WORDS_PER_MINUTE:>7.1f} "
                 f"{sum(r.sentences for r in rows):>9} {sum(len(r.bookkeeping) for r in rows):>11}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# an executed chapter


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def caption_of(cell) -> str:
    """The myst-nb figure caption of a code cell ('' when it has none)."""
    figure = (cell.get("metadata", {}).get("mystnb") or {}).get("figure") or {}
    return str(figure.get("caption") or "").strip()


def _parse(source: str) -> ast.Module | None:
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _is_glue_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
        getattr(node.value.func, "id", getattr(node.value.func, "attr", None)) == "glue"


def _is_check(node: ast.stmt) -> bool:
    """An assert, a glue call, or a loop / if of those only."""
    if isinstance(node, ast.Assert) or _is_glue_call(node):
        return True
    if isinstance(node, ast.For | ast.If):
        return all(_is_check(n) for n in node.body + node.orelse)
    return False


def only_checks(source: str) -> bool:
    """Whether a cell's code is nothing but asserts and glue calls (at least one statement)."""
    tree = _parse(source)
    return bool(tree and tree.body) and all(_is_check(n) for n in tree.body)


_BARE = re.compile(r"^\s*[-+(\['\"]*\s*[-+]?[\d.]+(?:e[-+]?\d+)?\s*(?:±\s*[\d.]+)?\s*%?"
                   r"(?:\s*,\s*[-+]?[\d.]+(?:e[-+]?\d+)?)*\s*[)\]'\"]*\s*$", re.I)


def _bare_value(output) -> str | None:
    if output.get("output_type") != "execute_result":
        return None
    data = output.get("data", {})
    if set(data) - {"text/plain"}:
        return None  # a table, a picture, rich output: the page shows it for a reason
    text = str(data.get("text/plain", ""))
    return text if _BARE.match(text) else None


# what a figure is on the page: a matplotlib PNG, an SVG (segedu.viz.svg_figure: the diagrams)
FIGURE_TYPES = {"image/png", "image/svg+xml", "image/jpeg"}

_DIAGRAM = re.compile(r"\bdraw_architecture\b|\bdiagram\(")


def _caption_sentences(caption: str) -> list[str]:
    text = " ".join(caption.split())
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if len(s.strip()) > 20]


def problems(notebook, chapter_path: Path | str) -> list[str]:
    """What an executed chapter notebook shows against the reading-path rules (the module
    docstring's second list): one message per problem, naming the cell."""
    name = Path(chapter_path).name
    found: list[str] = []
    diagram_captions: dict[str, list[int]] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "code":
            continue
        tags = _tags(cell)
        first_line = (cell.source.strip().splitlines() or [""])[0][:60]
        where = f"{name}, code cell {index} ({first_line!r})"
        removed = "remove-cell" in tags
        outputs_shown = not removed and "remove-output" not in tags
        outputs = cell.get("outputs", [])
        caption = caption_of(cell)
        if outputs_shown and not caption and any(set(out.get("data", {})) & FIGURE_TYPES
                                                 for out in outputs):
            found.append(f"{where}: a figure without a caption (add mystnb: figure: caption: "
                         "saying what to see)")
        # (myst-nb removes the outputs of glue(..., display=False) before rendering the page)
        displays = [out for out in outputs
                    if out.get("output_type") in ("display_data", "execute_result")
                    and not (out.get("metadata", {}).get("scrapbook") or {}).get("mime_prefix")]
        if outputs_shown and caption and len(displays) > 1:
            # myst-nb wraps every displayed output of a cell in its figure, caption included
            found.append(f"{where}: {len(displays)} displayed outputs share one caption, which "
                         "the page repeats under each: split the cell (one figure per cell)")
        if not removed and "remove-input" not in tags and only_checks(cell.source):
            found.append(f"{where}: a visible cell that only checks (asserts / glue): tag it "
                         "remove-cell")
        if outputs_shown:
            for out in outputs:
                bare = _bare_value(out)
                if bare is not None:
                    found.append(f"{where}: shows a bare value {bare.strip()[:40]!r} that "
                                 "nothing explains (end the cell on a statement)")
        if caption and _DIAGRAM.search(cell.source):
            for sentence in _caption_sentences(caption):
                diagram_captions.setdefault(sentence, []).append(index)
    for sentence, cells in diagram_captions.items():
        if len(cells) > 1:
            found.append(f"{name}, code cells {cells}: diagram captions repeat the sentence "
                         f"{sentence[:80]!r} (say what to notice about each network)")
    return found


if __name__ == "__main__":  # python tests/reading_rules.py [course folder]
    import sys

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else COURSE
    print(table(chapter_figures(folder)))
