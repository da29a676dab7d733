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
import math
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


def _gpu_rows() -> list[list[str]]:
    """The rows of the GPU-minutes table (`| lab | training cell in full mode | estimate |`)."""
    section = _text().split("| lab | training cell in full mode | estimate |", 1)[1]
    table = section.split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"\|\s*\d\d ", line)]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def _words(name: str) -> str:
    """'08 features and prompts' and '08_features_prompts' -> '08featuresprompts'."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace(" and ", " "))


def test_gpu_table_names_each_lab_by_its_number():
    rows = _gpu_rows()
    labs = {p.stem[:2]: p.stem for p in (ROOT / "labs").glob("*.ipynb")}
    assert len(rows) >= 8
    for row in rows:
        number = row[0][:2]
        assert number in labs, f"the GPU-minutes table lists lab {row[0]!r}, which labs/ lacks"
        assert _words(row[0]) == _words(labs[number]), (
            f"the GPU-minutes table calls lab {number} {row[0]!r}, but it is labs/{labs[number]}")
    assert [row[0][:2] for row in rows] == sorted(row[0][:2] for row in rows)


def test_mask_rcnn_description_is_the_zoo_model():
    """The page's Mask R-CNN is the zoo's: its backbone, FPN width and parameter count are read
    off the model that `segedu.zoo` builds, and its time per image off the model card."""
    import inspect

    from segedu.models import get_model
    from segedu.models.top_down.detection.mask_rcnn import maskrcnn_resnet_fpn
    from segedu.zoo import ZOO

    entry = ZOO["maskrcnn_resnet_fpn"]
    parameters = inspect.signature(maskrcnn_resnet_fpn).parameters
    defaults = {name: p.default for name, p in parameters.items()}
    build = {**defaults, **entry.kwargs}
    resnet = re.fullmatch(r"resnet(\d+)", build["backbone"]).group(1)
    stated = (f"a ResNet-{resnet} of width {build['backbone_width']} with a "
              f"{build['fpn_channels']}-channel FPN")
    parameters = sum(p.numel() for p in get_model(entry.model, **entry.kwargs).parameters())
    stated += f", about {parameters / 1e6:.2f} M parameters"
    text = " ".join(_text().split())  # line breaks as spaces
    assert stated in text, f"course/instructor.md should call the zoo's Mask R-CNN {stated!r}"
    # "600 steps of 32 scenes ... in 4.5 min": the card's run on a GPU (the shipped seeds trained
    # on a CPU; the card keeps the GPU run under "History"), and the ms per image derived from it
    card = entry.card.read_text(encoding="utf8")
    gpu_run = re.search(r"^- .* on NVIDIA [^:]+: (\d+) steps in ([\d.]+) min.*batch (\d+)", card,
                        flags=re.M)
    assert gpu_run, f"{entry.card.name} should keep its run on an NVIDIA GPU, with its batch"
    steps, minutes, batch = gpu_run.groups()
    per_image_ms = float(minutes) * 60 / (int(steps) * int(batch)) * 1000
    assert (f"trained {steps} steps of {batch} scenes of 128 × 128 in {minutes} min" in text
            and f"about {per_image_ms:.0f} ms per image" in text), (
        f"course/instructor.md should say {steps} steps of {batch} scenes in {minutes} min, "
        f"about {per_image_ms:.0f} ms per image (the card {entry.card.name})")


def test_cellpose_row_is_the_zoo_model():
    """Lab 06's row: the zoo Cellpose's size, read off the model, and its seconds per step, read
    off its card ("on NVIDIA H200: 2000 steps in 3.9 min")."""
    from segedu.models import get_model
    from segedu.zoo import ZOO

    entry = ZOO["cellpose"]
    parameters = sum(p.numel() for p in get_model(entry.model, **entry.kwargs).parameters())
    device, steps, minutes = re.search(r"` on ([^:`]+): (\d+) steps in ([\d.]+) min",
                                       entry.card.read_text()).groups()
    row = next(" | ".join(row) for row in _gpu_rows() if row[0].startswith("06"))
    assert f"Cellpose ({parameters / 1e6:.1f} M parameters)" in row, row
    assert f"took {float(minutes) * 60 / int(steps):.1f} s per step of {entry.batch}" in row, row
    assert f"on an {device}" in row, f"lab 06's row should name the card's device {device!r}: {row}"
    # the 1,500 steps of the lab at the card's pace, rounded up to whole minutes
    lab_minutes = math.ceil(1500 * float(minutes) / int(steps))
    assert f"1,500 steps in {lab_minutes} min or less" in row, row


def _large_classes() -> str:
    return _text().split("## Large classes", 1)[1].split("\n## ", 1)[0]


def test_large_classes_commands_and_measured_times():
    """The section's commands use options that exist, and its seconds per submission are
    benchmarks/results/grade_speed.md's, rounded."""
    section = _large_classes()
    helps = {command: set(re.findall(r"--[a-z][a-z-]*", _help(command)))
             for command in ("grade", "gradescope", "release")}
    blocks = [block.split("```", 1)[0].replace("\\\n", " ")
              for block in section.split("```bash")[1:]]
    seen = set()
    for line in "\n".join(blocks).splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["segedu-grade"]:
            continue
        command = words[1] if words[1] in helps else "grade"
        seen.add(command)
        for option in (w for w in words if w.startswith("--")):
            assert option in helps[command], f"segedu-grade {command} has no option {option}"
    assert seen == set(helps)
    table = (ROOT / "benchmarks" / "results" / "grade_speed.md").read_text(encoding="utf8")
    text = " ".join(section.split())
    for lab in ("02", "06"):
        seconds = float(re.search(rf"\| `{lab}_\w+` \| \d+ \| [\d.]+ \| ([\d.]+) \|", table)[1])
        assert f"lab {lab} in {seconds:.1f} s" in text, (lab, seconds)
