"""The grader's four rooms (``segedu/grading/{kernel,labs,results,run}/``), by where their code
runs, and the one way their imports go.

- Every module of ``segedu.grading`` is in a room, except the package itself, ``__main__``, the
  command line ``cli`` and ``checks`` (the checks' public older name).
- A room imports only the rooms below it: ``kernel`` and ``labs`` none, ``results`` ``labs``,
  ``run`` the three others; no room imports the top (``cli``, the package, ``checks``). So the
  calls from the command to the gradebook go one way, down the rooms.
- The kernel's files import nothing of segedu outside their room: the sandbox copies them into
  the run by path, and the guard loads private copies of them from those files.
- ARCHITECTURE.md's table of the rooms lists each room's modules, and only those.

The imports are read with :mod:`ast` (nothing is imported), as ``tests/test_imports.py`` reads
them: at module level and inside functions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..test_imports import _imports, _modules

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "segedu.grading"
TOP = {PACKAGE, f"{PACKAGE}.__main__", f"{PACKAGE}.cli", f"{PACKAGE}.checks"}
ROOMS = ("kernel", "labs", "results", "run")
# room -> the rooms it may import
BELOW = {"kernel": set(), "labs": set(), "results": {"labs"}, "run": {"kernel", "labs", "results"}}


def room_of(module: str) -> str:
    """``"kernel"``... for a module of a room, ``"top"`` for the others of ``segedu.grading``."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[2] in ROOMS else "top"


def grading_edges() -> list[tuple[str, str]]:
    """``(importer, imported)`` for every import of a segedu module in ``segedu.grading``."""
    modules = _modules()
    return [(name, source) for name, path in modules.items()
            if name == PACKAGE or name.startswith(PACKAGE + ".")
            for _, source, _ in _imports(name, path, modules)]


def wrong_way(edges: list[tuple[str, str]]) -> list[str]:
    """The imports between the grader's modules that go against the rooms' order."""
    found = []
    for importer, imported in edges:
        if not imported.startswith(PACKAGE):
            continue
        here, there = room_of(importer), room_of(imported)
        if here == there or here == "top":
            continue
        if there == "top" or there not in BELOW[here]:
            found.append(f"{importer} imports {imported} ({here} -> {there})")
    return found


def test_every_module_is_in_a_room():
    names = [n for n in _modules() if n == PACKAGE or n.startswith(PACKAGE + ".")]
    homeless = sorted(n for n in names if room_of(n) == "top" and n not in TOP
                      and n.split(".")[-1] not in ROOMS)
    assert not homeless, f"modules of segedu.grading outside the rooms: {homeless}"


def test_the_rooms_import_one_way():
    found = wrong_way(grading_edges())
    assert not found, "imports against the rooms' order:\n" + "\n".join(found)


def test_a_wrong_way_import_is_found():
    assert wrong_way([(f"{PACKAGE}.kernel.checks", f"{PACKAGE}.run.sandbox"),
                      (f"{PACKAGE}.results.feedback", f"{PACKAGE}.run.prepare"),
                      (f"{PACKAGE}.run.batch", f"{PACKAGE}.cli")]) == [
        f"{PACKAGE}.kernel.checks imports {PACKAGE}.run.sandbox (kernel -> run)",
        f"{PACKAGE}.results.feedback imports {PACKAGE}.run.prepare (results -> run)",
        f"{PACKAGE}.run.batch imports {PACKAGE}.cli (run -> top)"]
    assert not wrong_way([(f"{PACKAGE}.run.sandbox", f"{PACKAGE}.kernel.checks"),
                          (f"{PACKAGE}.cli", f"{PACKAGE}.run.batch")])


def test_the_kernel_files_import_only_their_room():
    outside = sorted(f"{importer} imports {imported}" for importer, imported in grading_edges()
                     if room_of(importer) == "kernel"
                     and not imported.startswith(f"{PACKAGE}.kernel"))
    assert not outside, f"the kernel's files must stand alone: {outside}"


def test_the_map_lists_each_room():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf8")
    rows = dict(re.findall(r"^\| `grading/([a-z]+)/` \|[^|]*\| (.*) \|$", text, re.M))
    assert sorted(rows) == sorted(ROOMS), f"ARCHITECTURE.md's rooms table: {sorted(rows)}"
    for room in ROOMS:
        actual = {p.stem for p in (ROOT / "segedu" / "grading" / room).glob("*.py")
                  if p.name != "__init__.py"}
        mapped = set(re.findall(r"`([a-z_]+)`", rows[room]))
        assert mapped == actual, (f"ARCHITECTURE.md's row for grading/{room}/: lacks "
                                  f"{sorted(actual - mapped)}, names {sorted(mapped - actual)}")


# What the grader's own processes import: the command line, the Gradescope autograder (its parent
# and its child), a class's batch. None of them runs a check.
GRADER_ENTRIES = ("segedu.grading.cli", "segedu.grading.run.gradescope_autograder",
                  "segedu.grading.run.batch")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_graders_own_processes_import_no_torch():
    """torch costs each process 2 to 3 CPU-seconds (three per Gradescope submission): only the
    checks need it, and the package imports them on first use of their names."""
    loaded = _python(f"import sys\nimport {', '.join(GRADER_ENTRIES)}\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])")
    assert loaded.strip() == "[]", f"the grader imports torch: {loaded}"
    # the names the graded cells import are the checks' own objects
    same = _python("import segedu.grading as g\nfrom segedu.grading import check, CheckFailed\n"
                   "from segedu.grading.kernel import checks\n"
                   "print(check is checks.check and g.CheckFailed is checks.CheckFailed, "
                   "'finish_checks' in dir(g))")
    assert same.split() == ["True", "True"], same


def test_the_guard_watches_the_checks_that_the_package_imports_on_first_use():
    """The kernel's guard snapshots ``segedu.grading`` before any cell runs: its checks are
    resolved first, so that a notebook replacing one afterwards is seen."""
    found = _python(
        "from segedu.grading.kernel import cell_guard\n"  # imported: the guard does not start
        "changes, _ = cell_guard._segedu_snapshot({'modules': []}, set(), {}, None)\n"
        "import segedu.grading\n"
        "segedu.grading.check = lambda *args, **kwargs: None\n"
        "print(changes())")
    assert "segedu.grading.check" in found, found
