"""Running a lab's solution in this process, TODO by TODO: the tools of the mutant tests.

A *TODO* is a code cell of a solution with a ``# BEGIN SOLUTION`` block; it is named by the
functions and classes it defines. Its graded cells are the graded cells (hidden tests included)
that follow it up to the next TODO (a graded cell that checks another TODO names it in its metadata:
``{"segedu": {..., "todo": "<a name that TODO defines>"}}``).

:func:`solved` runs the solution's code cells up to its last graded cell once (``SEGEDU_FAST=1``);
:func:`grade_with` then plants answers (a mutant's source) in a copy of that namespace, after
defining every TODO's solution again in the copy (so that the student's other functions call the
planted one, as they would in the student's kernel), and runs every graded cell in order, scoring
each one as the grader does: all its points when it passes, the share of its checks with points
that passed when it fails with :class:`~segedu.grading.CheckFailed`, 0 otherwise.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import pickle
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from segedu.grading import CheckFailed

try:
    from segedu.grading.checks import cell_score
except ImportError:  # a segedu from before checks had points (the "before" figures)
    def cell_score(reset: bool = False) -> None:
        return None

ROOT = Path(__file__).resolve().parents[2]
# the labs not yet converted to the coaching rules (README, *Labs coach*): their tests of those
# rules are expected to fail; remove a lab from here when it is converted
NOT_YET_COACHING: set[str] = set()


@dataclass
class Graded:
    """One graded cell of a solution: its id, points, source and the TODO it checks."""

    id: str
    points: float
    source: str
    todo: int  # the index (among the code cells) of the TODO it checks
    hidden: bool


@dataclass
class Lab:
    """A solution notebook cut into what the mutant tests need."""

    path: Path
    code: list[nbformat.NotebookNode]
    todos: dict[int, list[str]]  # code-cell index -> names the TODO defines
    graded: list[Graded] = field(default_factory=list)

    def todo_of(self, names) -> int:
        """The TODO that defines every name of ``names`` that any TODO defines."""
        found = {index for index, defined in self.todos.items() for name in names
                 if name in defined}
        if len(found) != 1:
            raise ValueError(f"{self.path.name}: {sorted(names)} are defined by TODOs {found}, "
                             "expected exactly one")
        return found.pop()

    def points_of(self, todo: int) -> float:
        return sum(cell.points for cell in self.graded if cell.todo == todo)


def defined_names(source: str) -> list[str]:
    """The functions and classes (and plainly assigned names) a cell defines at its top level."""
    names = []
    statements = list(ast.parse(source).body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.With):
            # `with needs(...)`: what the block assigns is still the cell's top level
            statements[:0] = node.body
    return names


def read_lab(path: Path) -> Lab:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    todos = {i: defined_names(cell.source) for i, cell in enumerate(code)
             if "# BEGIN SOLUTION" in cell.source}
    lab = Lab(path=path, code=code, todos=todos)
    current = None
    for index, cell in enumerate(code):
        if index in todos:
            current = index
        info = cell.metadata.get("segedu", {})
        if not info.get("grade"):
            continue
        todo = lab.todo_of([info["todo"]]) if "todo" in info else current
        if todo is None:
            raise ValueError(f"{path.name}: graded cell {info['id']!r} follows no TODO")
        lab.graded.append(Graded(id=info["id"], points=float(info["points"]),
                                 source=cell.source, todo=todo,
                                 hidden="hidden-tests" in cell.metadata.get("tags", [])))
    return lab


def run(source: str, namespace: dict, where: str = "<cell>") -> str:
    """Run a cell's source in ``namespace``; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, where, "exec"), namespace)
    return out.getvalue()


@contextlib.contextmanager
def fast_mode():
    """SEGEDU_FAST=1, figures off screen, no Colab: as the tests run a lab."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = os.environ.get("SEGEDU_FAST")
    os.environ["SEGEDU_FAST"] = "1"
    colab = sys.modules.pop("google.colab", None)
    try:
        yield
    finally:
        plt.close("all")
        if saved is None:
            os.environ.pop("SEGEDU_FAST", None)
        else:
            os.environ["SEGEDU_FAST"] = saved
        if colab is not None:
            sys.modules["google.colab"] = colab


def solved(lab: Lab) -> dict:
    """The namespace after the solution's code cells up to its last graded cell ran; every graded
    cell must pass on the way."""
    last = max(i for i, cell in enumerate(lab.code) if cell.metadata.get("segedu", {}).get("grade"))
    namespace = {"__name__": "__main__"}
    with fast_mode():
        for index, cell in enumerate(lab.code[: last + 1]):
            printed = run(cell.source, namespace, f"<{lab.path.name}, code cell {index}>")
            if cell.metadata.get("segedu", {}).get("grade"):
                assert "✓" in printed and "✗" not in printed, (
                    f"{lab.path.name}: graded cell {cell.metadata['segedu']['id']!r} on the "
                    f"solution:\n{printed}")
    return namespace


@dataclass
class Outcome:
    """What one graded cell earned and showed."""

    earned: float
    points: float
    shown: str  # the printed lines and the failure message
    raw_error: str = ""  # an error other than CheckFailed (a traceback in the notebook)


def _grade_cell(cell: Graded, ns: dict) -> Outcome:
    """Run one graded cell in ``ns`` and score it as the grader does."""
    cell_score(reset=True)
    out = io.StringIO()
    earned, message, raw = cell.points, "", ""
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(cell.source, f"<graded cell {cell.id}>", "exec"), ns)
    except CheckFailed as failure:
        score = cell_score()
        earned = cell.points * score[0] / score[1] if score and score[1] else 0.0
        message = str(failure)
    except Exception as error:  # noqa: BLE001 - the point: no graded cell may do this
        earned, raw = 0.0, f"{type(error).__name__}: {error}"
        message = raw
    return Outcome(earned=earned, points=cell.points, shown=(out.getvalue() + message).strip(),
                   raw_error=raw)


@dataclass
class CleanRun:
    """Every graded cell run once on the solution, traced: what it earned, which TODOs' code ran
    while it ran, which global names its code and the notebook code it ran can read, and a
    fingerprint of each global data value it read (see :func:`_inputs`) as it was before it ran."""

    outcomes: dict[str, Outcome]
    todos_run: dict[str, set[int]]
    names_read: dict[str, set[str]]
    inputs: dict[str, dict[str, bytes | None]]

    def depends_on(self, cell: Graded, todo: int, lab: Lab) -> bool:
        """Whether a slip in ``todo`` can change ``cell``'s outcome through code or names: the
        cell checks that TODO, or code of that TODO ran in it, or it (or notebook code it ran)
        reads a name the TODO defines. Attribute names count as names too, which can only make
        more cells depend."""
        return (cell.todo == todo or todo in self.todos_run[cell.id]
                or bool(self.names_read[cell.id] & set(lab.todos[todo])))

    def same_inputs(self, cell: Graded, ns: dict, seen: dict[str, bytes | None]) -> bool:
        """Whether every global data value that ``cell`` read in the clean run is, in ``ns``, what
        it was then (equal fingerprints; a value that cannot be fingerprinted never is).

        ``seen`` holds the fingerprints of ``ns``'s values taken since a cell last ran (the caller
        empties it whenever code runs): a value that no code touched since is not digested again."""
        def now(name: str) -> bytes | None:
            if name not in seen:
                seen[name] = _fingerprint(ns[name])
            return seen[name]

        return all(name in ns and print_ is not None and now(name) == print_
                   for name, print_ in self.inputs[cell.id].items())


def _names(code) -> set[str]:
    """The names that a code object and the code objects nested in it read (co_names)."""
    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if hasattr(c, "co_names"))
    return names


def _assigned(source: str) -> set[str]:
    """The names a cell binds at its top level (assignments, loop and with targets, imports),
    not inside its functions: values it makes for itself before reading them."""
    names, stack = set(), list(ast.parse(source).body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            names.add(getattr(node, "name", ""))
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def _is_data(value) -> bool:
    return not isinstance(value, types.ModuleType | types.FunctionType | types.BuiltinFunctionType
                          | type)


def _fingerprint(value) -> bytes | None:
    """A digest of a value's pickled state (tensors, arrays, datasets, models), or None."""
    try:
        return hashlib.blake2b(pickle.dumps(value, protocol=5), digest_size=16).digest()
    except Exception:  # noqa: BLE001 - anything that does not pickle is never the same input
        return None


def _todo_of_file(lab: Lab, filename: str) -> int | None:
    """The TODO whose cell a code object was compiled from (``run``'s file names), or None."""
    for prefix in (f"<{lab.path.name}, TODO ", f"<{lab.path.name}, code cell "):
        if filename.startswith(prefix):
            index = int(filename[len(prefix):-1])
            return index if index in lab.todos else None
    return None


def clean_run(lab: Lab, namespace: dict) -> CleanRun:
    """The graded cells of the solution, each run once in order (as :func:`grade_with` runs them,
    nothing planted) under a profiler that records every Python function that runs."""
    ns = dict(namespace)
    outcomes, todos_run, names_read, inputs = {}, {}, {}, {}
    with fast_mode():
        for index in lab.todos:
            run(lab.code[index].source, ns, f"<{lab.path.name}, TODO {index}>")
        for cell in lab.graded:
            own = _names(compile(cell.source, "<graded>", "exec"))
            before = {name: _fingerprint(ns[name]) for name in own - _assigned(cell.source)
                      if name in ns and _is_data(ns[name])}
            seen: set = set()

            def record(frame, event, arg, seen=seen):
                if event == "call":
                    seen.add(frame.f_code)

            sys.setprofile(record)
            try:
                outcomes[cell.id] = _grade_cell(cell, ns)
            finally:
                sys.setprofile(None)
            notebook_code = [c for c in seen if c.co_filename.startswith("<")]
            todos_run[cell.id] = {t for c in notebook_code
                                  if (t := _todo_of_file(lab, c.co_filename)) is not None}
            names_read[cell.id] = own.union(*(_names(c) for c in notebook_code))
            # the globals that functions of the notebook read while the cell ran, too
            later = {name for name in names_read[cell.id] - own - set(before)
                     if name in namespace and _is_data(namespace[name])}
            inputs[cell.id] = {**before, **{name: _fingerprint(namespace[name]) for name in later}}
    return CleanRun(outcomes=outcomes, todos_run=todos_run, names_read=names_read,
                    inputs=inputs)


def grade_with(lab: Lab, namespace: dict, planted: str, name: str = "planted",
               clean: CleanRun | None = None) -> dict[str, Outcome]:
    """Every graded cell's outcome with ``planted`` (the source of a mutant) defined after the
    TODOs' solutions, in a copy of ``namespace``.

    With ``clean`` (the solution's traced run), a graded cell is not run again, its outcome being
    the solution's, when it cannot depend on the planted TODO (:meth:`CleanRun.depends_on`), reads
    no other name that the planted code defines, and every global data value it reads is what it
    was when the solution's cell ran (:meth:`CleanRun.same_inputs`: a value that a cell run before
    it with the planted code changed in place is not)."""
    ns = dict(namespace)
    outcomes = {}
    todo = lab.todo_of(defined_names(planted)) if clean is not None else None
    with fast_mode():
        for index in lab.todos:
            run(lab.code[index].source, ns, f"<{lab.path.name}, TODO {index}>")
        run(planted, ns, f"<{name}>")
        planted_names = set(defined_names(planted))
        seen: dict[str, bytes | None] = {}  # fingerprints of ns's values since code last ran
        for cell in lab.graded:
            if (clean is not None and not clean.depends_on(cell, todo, lab)
                    and not clean.names_read[cell.id] & planted_names
                    and clean.same_inputs(cell, ns, seen)):
                outcomes[cell.id] = clean.outcomes[cell.id]
                continue
            seen.clear()  # the cell may change any value in place
            outcomes[cell.id] = _grade_cell(cell, ns)
    return outcomes
