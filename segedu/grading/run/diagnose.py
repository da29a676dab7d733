"""Plain notes for the two failures that students meet most and that the checks cannot explain.

- **A syntax error** in a cell the student wrote: the cell never defines its function, so every
  check that uses it fails with ``NameError: name 'my_diffuse' is not defined``, which sends the
  student after the wrong bug. :func:`syntax_notes` reads the student's code cells (not run) and
  names the cell, the line and Python's message: "line 2: invalid syntax (expected ':')".
- **A timeout**: nbval only says "Timeout of 120 seconds exceeded executing cell", and the grader's
  own reason names a code cell by its number, which the student cannot see. :func:`timeout_note`
  names the function of the student's that was running when the cell was interrupted (the
  innermost of the student's functions in the interrupt's traceback: a helper in any cell the
  student wrote, with its caller; without a traceback, the names the cell calls that the
  student's cells define) or the student's own cell, and suggests checking that its loops end.

The grader puts these notes at the top of the feedback (the row's ``summary``).
"""

from __future__ import annotations

import ast
import re

from ..labs.notebook import parse_cell

__all__ = ["student_functions", "syntax_notes", "running_functions", "timeout_note"]

_DEF = re.compile(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)|^class\s+([A-Za-z_]\w*)", re.M)
# a frame of IPython's traceback: "Cell In[4], line 3, in helper(x)", "File /x.py:9, in f(a)"
_FRAME = re.compile(r"^(?:Cell In\[\d*\], line \d+|File [^\n]*?:\d+), in ([A-Za-z_][\w.]*)\(", re.M)


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")[:60]


def _defined(source: str) -> list[str]:
    """The top-level functions and classes a cell defines (read even when it does not parse)."""
    return [a or b for a, b in _DEF.findall(source)]


def student_functions(sources: list[str], graded: set[int]) -> dict[str, int]:
    """Function or class name -> the number of the (non-graded) code cell that defines it."""
    found: dict[str, int] = {}
    for number, source in enumerate(sources):
        if number not in graded:
            for name in _defined(source):
                found[name] = number
    return found


def syntax_notes(sources: list[str], graded: set[int]) -> list[str]:
    """One note per non-graded code cell that is not valid Python (IPython magics allowed)."""
    notes = []
    for number, source in enumerate(sources):
        if number in graded or parse_cell(source) is not None:
            continue
        try:
            compile(source, "<cell>", "exec", flags=ast.PyCF_ONLY_AST)
            continue  # valid Python after all (parse_cell failed for another reason)
        except SyntaxError as error:
            line, message = error.lineno or 1, (error.msg or "invalid syntax")
        text = source.splitlines()[line - 1].strip() if 0 < line <= len(source.splitlines()) \
            else ""
        names = _defined(source)
        where = (f"your cell that defines `{names[0]}`" if names
                 else f"your cell `{_first_line(source)}`")
        detail = "" if message == "invalid syntax" else f" ({message})"
        notes.append(f"Syntax error in {where}: line {line}: invalid syntax{detail}: `{text}`. "
                     "Python could not run this cell at all"
                     + (f", so `{names[0]}` was never defined and every check that uses it "
                        "fails" if names else "") + ": fix this line first.")
    return notes


def running_functions(interrupted: str, mine: dict[str, int]) -> list[str]:
    """The student's functions that were running when a cell was interrupted, innermost first,
    read from the frames of the interrupt's traceback (``Cell In[4], line 3, in helper(x)``)."""
    frames = [m.group(1) for m in _FRAME.finditer(interrupted)]
    return list(dict.fromkeys(name for name in reversed(frames) if name in mine))


def timeout_note(sources: list[str], number: int, graded: dict[int, str],
                 seconds: float, *, interrupted: str = "") -> str:
    """The note for code cell ``number``, stopped after ``seconds``: what was running.

    ``interrupted``: the traceback of the interrupt (:attr:`.sandbox.CellResult.interrupted`),
    whose innermost function of the student's is named (a helper defined in any cell the student
    wrote, with the function that called it); without it (the notebook was killed), the
    functions of the student's that the cell calls."""
    source = sources[number] if 0 <= number < len(sources) else ""
    mine = student_functions(sources, set(graded))
    tree = parse_cell(source)
    called = ({n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Name)} if tree is not None else set())
    suggestion = ("Check that every loop in it ends (a `while` whose condition never becomes "
                  "false, a counter that is never increased, a list that grows while you loop "
                  "over it).")
    stack = running_functions(interrupted, mine)
    if stack:  # the innermost of the student's functions, and who called it
        what = f"`{stack[0]}`" + (f" (called from `{stack[1]}`)" if len(stack) > 1 else "")
    if number in graded:
        if not stack:
            used = ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree is not None
                    else set())
            running = sorted(called & set(mine)) or sorted(used & set(mine))
            what = " or ".join(f"`{name}`" for name in running) or "your code"
        return (f"The check `{graded[number]}` was stopped after {seconds:g} s while it ran "
                f"{what}. {suggestion}")
    names = _defined(source)
    where = f"your cell that defines `{names[0]}`" if names else \
        f"your cell `{_first_line(source)}`"
    during = f" while it ran {what}" if stack else ""
    return f"{where[0].upper()}{where[1:]} was stopped after {seconds:g} s{during}. {suggestion}"
