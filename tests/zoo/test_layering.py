"""segedu.zoo and segedu.engine import at module level only, so that an import cycle cannot hide
inside a function; the only exceptions are optional heavy dependencies, imported when used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "segedu"
# IPython exists only in a notebook; matplotlib's figure costs a second to import and only the
# live plot draws one
OPTIONAL = {"IPython", "IPython.display", "matplotlib.figure"}


def _nested_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                alias.name for alias in node.names]
            found += [f"{path.relative_to(ROOT.parent)}:{node.lineno}: {name}" for name in names
                      if getattr(node, "level", 0) or name not in OPTIONAL]
    return found


@pytest.mark.parametrize("package", ["zoo", "engine"])
def test_no_import_inside_a_function(package):
    nested = [hit for path in sorted((ROOT / package).glob("*.py"))
              for hit in _nested_imports(path)]
    assert not nested, "\n".join(nested)


def test_the_scan_finds_an_import_inside_a_function(tmp_path):
    module = tmp_path / "segedu" / "m.py"
    module.parent.mkdir()
    module.write_text("import torch\n\ndef f():\n    from .train import main\n    import IPython\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path / "segedu"
    try:
        assert _nested_imports(module) == ["segedu/m.py:4: train"]
    finally:
        ROOT = saved
