"""Reading a submission before it runs: TODOs answered by the library, and code aimed at the grader.

A lab's TODO cell may carry, in the *solution* (and so in the released lab), the metadata::

    {"segedu": {"answer": {"forbid": ["segedu.losses", "torch.nn.functional.cross_entropy"],
                           "allow": ["segedu.losses.inverse_frequency_weights"]}}}

``forbid`` names what the exercise asks the student to write: functions, classes or whole modules
(dotted, as they are imported). ``allow`` names exceptions inside them. The lab's author decides.

:func:`scan` reads the code the student wrote (the lines of the released cells that differ from
the lab, and every new cell) with :mod:`ast`, without running it:

- **library answers**: in an exercise's answer, and in the student's own helper functions that it
  calls (followed from cell to cell), every import, name, attribute chain (``F.cross_entropy``,
  ``segedu.losses.dice_loss``), ``getattr(module, "name")`` and ``importlib.import_module("m")`` is
  resolved through the notebook's imports and aliases; one that a ``forbid`` entry covers (itself,
  something inside it, or the same name in a submodule of its parent: ``segedu.losses.dice_loss``
  covers ``segedu.losses.dice.dice_loss``) and no ``allow`` entry covers is a finding;
- **grader internals**: code that names the grader's guard or the tools to read another object's
  memory (``__closure__``, ``gc.get_referents``, ``ctypes``...), which no lab needs.

:func:`voided_cells` turns the findings into the graded cells that earn 0: every graded cell (hidden
tests included) that uses a function the flagged exercise defines, or a function of the student's
that calls one (transitively); for grader internals, every graded cell.

What it does not see: code built at run time (``eval``, strings assembled piece by piece). That is
what the kernel's call recorder (:mod:`~segedu.grading.kernel.call_recorder`, :mod:`.library_calls`)
sees, while the notebook runs: the calls themselves. The kernel's guard
(:mod:`~segedu.grading.kernel.cell_guard`) checks then that nothing it relies on was replaced.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass

from ..kernel.call_names import covers
from ..labs.notebook import graded_id, lab_metadata, parse_cell

__all__ = ["Finding", "Exercise", "exercises", "written_lines", "scan", "voided_cells",
           "INTERNALS"]

# names that only code aimed at the grader (or at another object's memory) uses
INTERNALS = ("__segedu_grade__", "segedu_grade", "SEGEDU_GRADE", "__closure__", "cell_contents",
             "get_referents", "get_referrers", "get_objects", "ctypes", "_hashlib")


@dataclass(frozen=True)
class Finding:
    """One problem found before the run.

    ``kind`` is ``"library"`` (``exercise`` is the lab's cell id, ``defines`` the functions it asks
    for, ``used`` the forbidden name) or ``"internals"`` (``used`` is the name found).
    """

    kind: str
    used: str
    exercise: str = ""
    defines: tuple[str, ...] = ()
    where: str = ""


def _top_defs(
        tree: ast.Module | None) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    if tree is None:
        return []
    return [n for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]


def _lines_of(node: ast.AST) -> set[int]:
    return set(range(node.lineno, (getattr(node, "end_lineno", None) or node.lineno) + 1))


def written_lines(released: str | None, source: str) -> set[int]:
    """The line numbers (from 1) of ``source`` that the student wrote: those that differ from the
    ``released`` cell, or every line when the cell is new (``released`` is ``None``)."""
    if released is None:
        return set(range(1, source.count("\n") + 2))
    mine: set[int] = set()
    matcher = difflib.SequenceMatcher(a=released.splitlines(), b=source.splitlines(),
                                      autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            mine.update(range(j1 + 1, j2 + 1))
    return mine


@dataclass(frozen=True)
class Exercise:
    """A TODO of the released lab that forbids something: its cell id, the lab's ``forbid`` and
    ``allow`` lists, and the names of the functions and classes its cell defines."""

    cell_id: str
    forbid: tuple[str, ...]
    allow: tuple[str, ...]
    defines: tuple[str, ...]


def exercises(lab) -> list[Exercise]:
    """The TODO cells of the released ``lab`` whose metadata forbids something, in order."""
    found = []
    for cell in lab.cells:
        rule = lab_metadata(cell).get("answer")
        if cell.cell_type != "code" or not isinstance(rule, dict) or not rule.get("forbid"):
            continue
        found.append(Exercise(cell.get("id", ""), tuple(rule.get("forbid", [])),
                              tuple(rule.get("allow", [])),
                              tuple(node.name for node in _top_defs(parse_cell(cell.source)))))
    return found


class _Notebook:
    """The code cells of a prepared submission, what the student wrote in them, and the imports."""

    def __init__(self, notebook, lab):
        released = {c.get("id"): c.source for c in lab.cells if c.cell_type == "code"}
        self.cells = []  # (cell id, source, tree, student-written line numbers)
        trees = []  # every code cell's, graded ones included: their imports bind names too
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            tree = parse_cell(cell.source)
            trees.append(tree)
            if graded_id(cell):
                continue  # graded cells are the released ones (restored) or hidden tests
            mine = written_lines(released.get(cell.get("id")), cell.source)
            self.cells.append((cell.get("id"), cell.source, tree, mine))
        self.aliases: dict[str, set[str]] = {}
        for tree in trees:
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        self.aliases.setdefault(bound, set()).add(alias.name if alias.asname
                                                                  else bound)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for alias in node.names:
                        self.aliases.setdefault(alias.asname or alias.name, set()).add(
                            f"{node.module}.{alias.name}")
        for _ in range(3):  # plain assignments of resolvable names: L = segedu.losses
            for _, _, tree, _ in self.cells:
                for node in ast.walk(tree) if tree is not None else ():
                    if (isinstance(node, ast.Assign) and len(node.targets) == 1
                            and isinstance(node.targets[0], ast.Name)):
                        found = self.resolve(node.value)
                        if found:
                            self.aliases.setdefault(node.targets[0].id, set()).update(found)
        # the student's own top-level functions and classes: name -> definitions
        self.defs: dict[str, list[ast.AST]] = {}
        for _, _, tree, mine in self.cells:
            for node in _top_defs(tree):
                if _lines_of(node) & mine:
                    self.defs.setdefault(node.name, []).append(node)

    def resolve(self, node: ast.AST) -> set[str]:
        """The dotted names an expression may stand for, through the notebook's imports."""
        if isinstance(node, ast.Name):
            return set(self.aliases.get(node.id, ()))
        if isinstance(node, ast.Attribute):
            return {f"{base}.{node.attr}" for base in self.resolve(node.value)}
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[-1], ast.Constant):
            value = node.args[-1].value
            if not isinstance(value, str):
                return set()
            function = self.resolve(node.func) | ({node.func.id} if isinstance(node.func, ast.Name)
                                                  else set())
            if "getattr" in function and len(node.args) >= 2:
                return {f"{base}.{value}" for base in self.resolve(node.args[0])}
            if function & {"importlib.import_module", "__import__"}:
                return {value}
        return set()

    def references(self, nodes: list[ast.AST]) -> list[tuple[str, ast.AST]]:
        """Dotted names used or imported by ``nodes`` (and their sub-nodes)."""
        found = []
        for root in nodes:
            # the longest chain decides: in segedu.metrics.confusion_matrix, not segedu.metrics
            inner = {id(n.value) for n in ast.walk(root) if isinstance(n, ast.Attribute)}
            for node in ast.walk(root):
                if id(node) in inner:
                    continue
                if isinstance(node, ast.Import):
                    found += [(alias.name, node) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found += [(f"{node.module}.{alias.name}", node) for alias in node.names]
                elif isinstance(node, ast.Name | ast.Attribute | ast.Call):
                    found += [(name, node) for name in self.resolve(node)]
        return found


def _names(nodes: list[ast.AST]) -> set[str]:
    return {n.id for root in nodes for n in ast.walk(root) if isinstance(n, ast.Name)}


def _student_nodes(tree: ast.Module | None, mine: set[int]) -> list[ast.AST]:
    """The statements (at any depth) that start on a student-written line."""
    if tree is None:
        return []
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and n.lineno in mine]


def scan(notebook, lab) -> list[Finding]:
    """The findings in a prepared submission, given the released lab (see the module docstring)."""
    book = _Notebook(notebook, lab)
    findings: list[Finding] = []
    # grader internals, anywhere in the student's code
    for cell_id, _, tree, mine in book.cells:
        for node in _student_nodes(tree, mine):
            for sub in ast.walk(node):
                words = []
                if isinstance(sub, ast.Name):
                    words.append(sub.id)
                elif isinstance(sub, ast.Attribute):
                    words.append(sub.attr)
                elif isinstance(sub, ast.Import | ast.ImportFrom):
                    words += [a.name for a in sub.names] + [getattr(sub, "module", None) or ""]
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    words.append(sub.value)
                hit = next((w for w in INTERNALS for word in words if w in word), None)
                if hit and not any(f.kind == "internals" and f.used == hit for f in findings):
                    findings.append(Finding("internals", hit, where=f"cell {cell_id}"))
    # library answers, exercise by exercise
    cells_by_id = {cell_id: (tree, mine) for cell_id, _, tree, mine in book.cells}
    for exercise in exercises(lab):
        forbid, allow, defines = exercise.forbid, exercise.allow, exercise.defines
        tree, mine = cells_by_id.get(exercise.cell_id, (None, set()))
        roots = _student_nodes(tree, mine)
        roots += [d for name in defines for d in book.defs.get(name, [])]
        seen: set[str] = set(defines)
        queue = list(roots)
        while queue:  # follow the student's helpers that the answer calls
            batch, queue = queue, []
            for name in _names(batch) - seen:
                seen.add(name)
                queue += book.defs.get(name, [])
            roots += queue
        for used, _node in book.references(roots):
            if any(covers(e, used) for e in forbid) and not any(covers(a, used) for a in allow):
                findings.append(Finding("library", used, exercise=exercise.cell_id,
                                        defines=defines))
                break
    return findings


def voided_cells(findings: list[Finding], notebook,
                 graded_sources: dict[str, str]) -> dict[str, str]:
    """Graded cell id -> why it earns 0, for the findings of :func:`scan` on ``notebook``."""
    voided: dict[str, str] = {}
    internals = [f for f in findings if f.kind == "internals"]
    if internals:
        for gid in graded_sources:
            voided[gid] = f"the notebook reaches into the grader (`{internals[0].used}`)"
        return voided
    library = [f for f in findings if f.kind == "library"]
    if not library:
        return voided
    # every function of the student's that calls a flagged one is flagged too
    defs: dict[str, set[str]] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and not graded_id(cell):
            for node in _top_defs(parse_cell(cell.source)):
                defs.setdefault(node.name, set()).update(_names([node]))
    reason: dict[str, str] = {}
    for finding in library:
        for name in finding.defines:
            reason.setdefault(name, f"`{name}` uses `{finding.used}`, the library's version of what"
                                    " the exercise asks you to write")
    changed = True
    while changed:
        changed = False
        for name, used in defs.items():
            hit = next((n for n in sorted(used) if n in reason and n != name), None)
            if name not in reason and hit:
                reason[name], changed = reason[hit], True
    for gid, source in graded_sources.items():
        names = _names([tree]) if (tree := parse_cell(source)) is not None else set()
        hit = next((n for n in sorted(names) if n in reason), None)
        if hit:
            voided[gid] = reason[hit]
    return voided
