"""The house's size limits (ARCHITECTURE.md, "The floors of segedu"): no file in segedu/ over
500 lines, no function (or method) over 120 lines, its decorators and docstring included. A file
or function that grows past them is split by job before it is merged (a family's layout into its
own file, a long loop into its steps).

Read with ``ast`` (the functions' first and last lines), not by counting ``def`` lines. Budget:
about 3 s (parsing segedu/ once, on a loaded CPU).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import segedu

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 120
ROOT = Path(segedu.__file__).parent

@functools.cache
def _sizes() -> dict[str, int]:
    """``{"path": lines, "path:function": lines}`` of every file and function of segedu/."""
    sizes = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        sizes[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text, filename=name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                key = f"{name}:{node.name}"
                sizes[key] = max(sizes.get(key, 0), node.end_lineno - first + 1)
    return sizes


def _over(sizes: dict[str, int]) -> dict[str, int]:
    return {key: lines for key, lines in sizes.items()
            if lines > (MAX_FUNCTION_LINES if ":" in key else MAX_FILE_LINES)}


def test_no_file_over_500_lines_and_no_function_over_120():
    over = _over(_sizes())
    assert not over, ("over the limits (files 500 lines, functions 120): "
                      + ", ".join(f"{key} {lines}" for key, lines in sorted(over.items())))


def test_the_scan_measures_functions_with_decorators_and_nested_ones():
    source = "@decorator\ndef f():\n    def g():\n" + "        x = 1\n" * 130 + "    return g\n"
    tree = ast.parse(source)
    lengths = {node.name: node.end_lineno - min([node.lineno, *(d.lineno
                                                               for d in node.decorator_list)]) + 1
               for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert lengths == {"f": 134, "g": 131}
    assert set(_over({"a.py:f": 121, "a.py:g": 120, "b.py": 501, "c.py": 500})) == {"a.py:f",
                                                                                     "b.py"}
