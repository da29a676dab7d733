"""One reading path: the bookkeeping stays out of the visible text, and the rules that
tests/test_book.py applies to each executed chapter (tests/reading_rules.py) can fail.

Re-run the per-chapter table (visible words, reading time at 200 words a minute, the share of
visible sentences that are bookkeeping, by the word list ``reading_rules.BOOKKEEPING``) with
``pytest tests/test_reading_path.py -s -k table`` or ``python tests/reading_rules.py``.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from . import reading_rules as rules

CHAPTERS = rules.chapters()


def test_the_table_of_every_chapter(capsys):
    rows = rules.chapter_figures()
    assert [r.name for r in rows] == [p.stem for p in CHAPTERS] and len(rows) >= 19
    with capsys.disabled():
        print("\n" + rules.table(rows))
    assert all(r.words > 500 and r.sentences > 20 for r in rows)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_bookkeeping_is_at_most_5_percent_of_the_visible_sentences(chapter):
    figures = rules.figures_of(chapter.stem, chapter.read_text(encoding="utf8"))
    listed = "\n".join(f"  - {rules.bookkeeping_reasons(s)}: {s[:160]}"
                       for s in figures.bookkeeping)
    assert figures.share <= rules.MAX_BOOKKEEPING_SHARE, (
        f"{chapter.name}: {len(figures.bookkeeping)} of {figures.sentences} visible sentences "
        f"({100 * figures.share:.1f} %) are bookkeeping; move them into the chapter's collapsed "
        f"'How these numbers were made' block or the model card:\n{listed}")


# ------------------------------------------------------------------------------------------------
# the visible text, on hand-written pages

PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
---

# A chapter

The loss falls. It was trained with three seeds.

```{code-cell} ipython3
---
tags: [hide-input]
mystnb:
  figure:
    caption: |
      The mask is red. It trained with two seeds.
---
# five seeds, 400 steps, 17 CPU minutes: code is not prose
x = 1
```

```{admonition} How these numbers were made
:class: dropdown
Seed 0, 1 and 2; 400 steps; the card says so.
```

::::{dropdown} Answer
:::{note}
The budget was 5,000 steps.
:::
::::

````{admonition} A visible box
:class: note
Its mask is drawn in red, e.g. on the left.
```python
seeds = [0, 1, 2]  # a plain code block is not prose either
```
````

$$
\\mathrm{budget} = 0
$$

$$\\theta_t = \\alpha\\, \\theta_{t-1}, \\qquad
\\text{seeds} = 3 .$$

<!-- a comment about the seeds -->
- A list item on the {term}`IoU <intersection over union>`, {glue:text}`zoo_miou:.3f` here.
"""


def test_visible_text_leaves_out_code_collapsed_blocks_math_and_comments():
    sentences = rules.visible_sentences(PAGE)
    assert sentences == ["A chapter", "The loss falls.", "It was trained with three seeds.",
                         "Its mask is drawn in red, e.g. on the left.",
                         "A list item on the IoU, 0 here."]
    assert rules.words(" ".join(rules.visible_paragraphs(PAGE))) == 2 + 9 + 10 + 8
    # the figure caption of a code cell is read too
    assert rules.figure_captions(PAGE) == ["The mask is red. It trained with two seeds."]
    figures = rules.figures_of("page", PAGE)
    assert figures.words == 2 + 9 + 10 + 8 + 9 and figures.sentences == 5 + 2
    assert figures.bookkeeping == ("It was trained with three seeds.", "It trained with two seeds.")


def test_bookkeeping_sentences_are_caught_and_lessons_are_not():
    caught = [
        "It was trained with three seeds.",
        "Mask R-CNN reaches 0.81 ± 0.02 mask AP.",
        "Both had the same budget.",
        "The U-Net trained for 5,000 steps of 8 scenes.",
        "Its card gives the command.",
        "The run took 17 CPU minutes.",
        "This ViT trained for about 17 minutes on one CPU core.",
        "Its learning rate was set without a pilot.",
        "The head sampled 512 RoIs per image.",
        "The zoo's Mask2Former was retrained twice.",
        "No installed library ships a COCO image, so none is downloaded.",
        "In fast mode the page skips it.",
        "With SEGEDU_FAST=1 the cell runs 60 steps.",
    ]
    for sentence in caught:
        assert rules.bookkeeping_reasons(sentence), sentence
    lessons = [
        "A foreground seed on a coin grows into the coin.",
        "The learning rate scales each gradient step.",
        "RoI Align samples four points per bin.",
        "Dice is twice the overlap over the sum of the areas.",
        "Each step of gradient descent moves against the gradient.",
    ]
    for sentence in lessons:
        assert not rules.bookkeeping_reasons(sentence), sentence


def test_the_share_rule_fails_on_a_page_of_bookkeeping():
    page = "# Chapter\n\n" + "A lesson sentence about masks. " * 18 + (
        "It ran with three seeds. Its card gives the budget.\n")
    figures = rules.figures_of("toy", page)
    assert figures.sentences == 21 and len(figures.bookkeeping) == 2
    assert figures.share > rules.MAX_BOOKKEEPING_SHARE
    table = rules.table([figures])
    assert "toy" in table and "9.5%" in table and "> 5 %" in table


# ------------------------------------------------------------------------------------------------
# problems() of an executed notebook, on hand-made notebooks


def _cell(source, outputs=(), tags=(), caption=None):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    if tags:
        cell.metadata["tags"] = list(tags)
    if caption is not None:
        cell.metadata["mystnb"] = {"figure": {"caption": caption}}
    return cell


PNG = {"output_type": "display_data", "metadata": {},
       "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}
SVG = {"output_type": "display_data", "metadata": {},
       "data": {"image/svg+xml": "<svg></svg>", "text/plain": "<IPython.core.display.SVG>"}}


GLUED = {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "0.5"},
         "metadata": {"scrapbook": {"name": "share",
                                    "mime_prefix": "application/papermill.record/"}}}


def _result(text):
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text}}


def _notebook(*cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# A chapter"), *cells]
    return notebook


def test_a_compliant_notebook_has_no_problems():
    notebook = _notebook(
        _cell("plt.imshow(mask)", [PNG], tags=["hide-input"],
              caption="The mask covers the left coin only."),
        _cell("assert miou > 0.5\nglue('miou', miou)", tags=["remove-cell"]),
        _cell("loss = dice(p, t)\nassert loss < 1"),
        _cell("scores", [_result("  mIoU\n0  0.81")]),
        _cell("draw_architecture(unet)", [PNG], caption="The skips carry the fine detail."),
        _cell("draw_architecture(fcn)", [PNG], caption="One up-sampling, no skip at stride 8."),
        _cell("plt.plot(x)", [PNG], tags=["remove-output"]),
        # a figure and a glued value: myst-nb removes the glue output from the page
        _cell("plt.imshow(m)\nglue('share', 0.5)", [PNG, GLUED], caption="One figure."),
    )
    assert rules.problems(notebook, "toy.md") == []


def test_problems_finds_each_broken_rule():
    notebook = _notebook(
        _cell("plt.imshow(mask)", [PNG], tags=["hide-input"]),  # 1: no caption
        _cell("display(svg_figure(draw_architecture(net, x)))", [SVG]),  # 2: a diagram, no caption
        _cell("assert miou > 0.5  # the text below says so\nfor k in d:\n    glue(k, d[k])"),  # 2
        _cell("x = 3\nglue('x', x)", [_result("3")]),  # 3: a bare value
        _cell("miou", [_result("0.807 ± 0.002")]),  # 4: a bare value
        _cell("plt.plot(a)\nplt.show()\nplt.plot(b)", [PNG, PNG], caption="Two curves."),  # 5
        _cell("draw_architecture(unet)", [PNG],
              caption="Drawn by segedu.viz.draw_architecture from the module. Skips."),
        _cell("draw_architecture(fcn)", [PNG],
              caption="Drawn by segedu.viz.draw_architecture from the module. No skip."),  # 6
    )
    found = rules.problems(notebook, "toy.md")
    assert len(found) == 7, found
    assert "code cell 1" in found[0] and "without a caption" in found[0]
    assert "code cell 2" in found[1] and "without a caption" in found[1]
    assert "code cell 3" in found[2] and "only checks" in found[2]
    assert "code cell 4" in found[3] and "'3'" in found[3]
    assert "code cell 5" in found[4] and "0.807 ± 0.002" in found[4]
    assert "code cell 6" in found[5] and "2 displayed outputs share one caption" in found[5]
    assert "[7, 8]" in found[6] and "Drawn by segedu.viz.draw_architecture" in found[6]


def test_only_checks_reads_the_code():
    assert rules.only_checks("assert a == b\n# a comment\nassert c")
    assert rules.only_checks("glue('x', 1)\nif flag:\n    assert x")
    assert not rules.only_checks("y = f(x)\nassert y > 0")
    assert not rules.only_checks("# just a comment")
    assert not rules.only_checks("%matplotlib inline")


# ------------------------------------------------------------------------------------------------
# the diagrams across the book: no two diagram captions share a sentence


def _diagram_captions(markdown: str) -> list[str]:
    """The captions of the code cells that draw an architecture diagram."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", markdown, re.S | re.M)
    return [caption for cell in cells if "draw_architecture" in cell
            for caption in rules.figure_captions(f"```{{code-cell}} ipython3\n{cell}```")]


def repeated_diagram_sentences(pages: dict[str, str]) -> dict[str, list[str]]:
    """Each sentence (over 20 characters) that two or more diagram captions share, with the pages
    that hold them."""
    seen: dict[str, list[str]] = {}
    for name, markdown in pages.items():
        for caption in _diagram_captions(markdown):
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", caption):
                if len(sentence) > 20:
                    seen.setdefault(sentence, []).append(name)
    return {s: names for s, names in seen.items() if len(names) > 1}


def test_no_two_diagram_captions_share_a_sentence():
    pages = {p.stem: p.read_text(encoding="utf8") for p in CHAPTERS}
    repeated = repeated_diagram_sentences(pages)
    assert not repeated, ("diagram captions repeat a sentence (say what to notice about each "
                          f"network): {repeated}")


def test_how_diagrams_are_drawn_is_said_once_in_chapter_07():
    said = [p.stem for p in CHAPTERS
            if re.search(r"drawn by segedu\.viz\.draw.architecture",
                         " ".join(rules.visible_paragraphs(p.read_text(encoding="utf8"))))]
    assert set(said) <= {"07_fcn"}, f"how a diagram is drawn is said again in {said}"


def test_repeated_diagram_captions_are_found():
    cell = ("```{{code-cell}} ipython3\n---\nmystnb:\n  figure:\n    caption: |\n      {}\n---\n"
            "display(svg_figure(draw_architecture(net, x)))\n```\n")
    same = "Drawn by segedu.viz.draw_architecture from the module's hooks."
    pages = {"a": cell.format(same + " Skips at every level."),
             "b": cell.format(same + " One up-sampling only."),
             "c": cell.format("The decoder mirrors the encoder, level by level.")}
    assert repeated_diagram_sentences(pages) == {same: ["a", "b"]}
