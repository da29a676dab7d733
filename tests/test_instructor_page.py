"""The instructor's page (course/instructor.md) agrees with the repository it describes.

- its week plan lists every chapter of course/ and every lab of labs/, and each lab's points equal
  the sum of the `points` of the graded cells of its solution (the metadata the grader reads);
- the total it states is the sum of those points;
- every page it links with {doc} exists (a chapter of course/ or a lab of labs/);
- every option of `segedu-grade` and of the lab generator that it names exists.

When a lab gains or loses points, or a chapter or lab is renamed, this test names the row to fix.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "course" / "instructor.md"


def _text() -> str:
    return PAGE.read_text(encoding="utf8")


def _plan_rows() -> list[list[str]]:
    """The cells of the week plan's rows (the table under '## A 14-week plan')."""
    section = _text().split("## A 14-week plan", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def _solution_points(stem: str) -> int:
    cells = json.loads((ROOT / "solutions" / f"{stem}.ipynb").read_text(encoding="utf8"))["cells"]
    return sum(c["metadata"]["segedu"]["points"] for c in cells
               if c.get("metadata", {}).get("segedu", {}).get("grade"))


def test_plan_lists_every_lab_with_the_points_of_its_solution():
    listed: dict[str, str] = {}
    for week, _chapters, lab, points, *_ in _plan_rows():
        for stem in re.findall(r"<labs/([\w-]+)>", lab):
            assert stem not in listed, (f"lab {stem} is planned twice (weeks {listed[stem]} and "
                                        f"{week})")
            listed[stem] = week
            expected = _solution_points(stem)
            assert points == str(expected), (
                f"course/instructor.md, week {week}: lab {stem} is worth {expected} points in "
                f"solutions/{stem}.ipynb, the plan says {points!r}")
    labs = {p.stem for p in (ROOT / "labs").glob("*.ipynb")}
    assert set(listed) == labs, (f"course/instructor.md plans labs {sorted(listed)}; labs/ holds "
                                 f"{sorted(labs)}")


def test_plan_states_the_total_of_the_solutions_points():
    labs = sorted(p.stem for p in (ROOT / "labs").glob("*.ipynb"))
    total = sum(_solution_points(stem) for stem in labs)
    assert f"Total: {total} lab points in {len(labs)} labs." in _text(), (
        f"course/instructor.md should say 'Total: {total} lab points in {len(labs)} labs.'")


def test_plan_lists_every_chapter_once():
    planned = [stem for row in _plan_rows() for stem in re.findall(r"\{doc\}`(\d\d_\w+)`", row[1])]
    chapters = sorted(p.stem for p in (ROOT / "course").glob("[0-9][0-9]_*.md"))
    assert sorted(planned) == chapters, (f"the plan lists {sorted(planned)}; course/ holds "
                                         f"{chapters}")


def test_every_doc_link_exists():
    targets = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", _text())
    assert targets
    for target in targets:
        if target.startswith("labs/"):
            assert (ROOT / f"{target}.ipynb").is_file(), (
                f"{{doc}} link to a lab that does not exist: {target}")
        else:
            assert (ROOT / "course" / f"{target}.md").is_file(), (
                f"{{doc}} link to a missing page: {target}")


def _help(*args: str) -> str:
    """What `python -m segedu.grading <args> --help` prints (run in this process)."""
    from segedu.grading.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([*args, "--help"])
    assert stop.value.code == 0
    return out.getvalue()


def test_every_command_option_named_on_the_page_exists():
    text = _text()
    grade_help, generate_help = (set(re.findall(r"--[a-z][a-z-]*", _help(command)))
                                 for command in ("grade", "generate"))
    grade_section = text.split("## Grading with `segedu-grade`", 1)[1].split("\n## ", 1)[0]
    # the options table (| `--x` | or | `--x`, `--y` |) and the example command
    in_table = re.findall(r"`(--[a-z][a-z-]*)`", "\n".join(
        line for line in grade_section.splitlines() if line.startswith("| `--")))
    command = grade_section.split("```bash", 1)[1].split("```", 1)[0]
    in_command = re.findall(r"(--[a-z][a-z-]*)", command)
    assert {"--lab", "--submissions", "--out", "--isolate", "--fast"} <= set(in_command)
    assert len(in_table) >= 9
    for option in set(in_table) | set(in_command):
        assert option in grade_help, f"segedu-grade has no option {option}"
    generate = re.findall(r"python -m segedu\.grading generate\s+(--[a-z-]+)", text)
    assert generate == ["--check"]
    for option in generate:
        assert option in generate_help, f"python -m segedu.grading generate has no option {option}"
