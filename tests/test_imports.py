"""The import graph of ``segedu``: no private name crosses a module boundary, and no cycle.

Both checks read the source with :mod:`ast` (nothing is imported), and both count every import
statement: at module level, inside functions and methods, and under ``if TYPE_CHECKING``.

- **Private names.** A module may not import a private name (``_x``, not a dunder) from another
  *public* module, nor import from a private module (``pkg/_utils.py``) of a package it does not
  belong to. Helpers shared inside a package live in a private module of that package
  (``segedu/ops/_rois.py``), as torchvision keeps ``ops/_utils.py``.
- **Cycles.** The graph has an edge ``a -> b`` for every import in ``a`` of ``b`` or of a name
  defined in ``b``; ``from pkg import name`` goes to ``pkg.name`` when that is a module, otherwise
  to ``pkg`` (its ``__init__``). Every strongly connected component with more than one module is
  a cycle, including a package's ``__init__`` that imports a submodule which imports a name back
  from the ``__init__`` (it works only as long as the ``__init__`` defines that name first).
- **Imports at the top, in the zoo and the engine.** Their modules (the recipes, the training
  loop) import at module level only, so each lists everything it depends on at its top; the
  exceptions are optional heavy dependencies (:data:`OPTIONAL`), imported where they are used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "segedu"
# IPython exists only in a notebook; matplotlib's figure costs a second to import and only the
# live plot draws one
OPTIONAL = {"IPython", "IPython.display", "matplotlib.figure"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str, str | None]]:
    """``(line, module, imported name or None)`` for every import of a segedu module in ``path``."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in modules:  # ``from pkg import submodule``
                    found.append((node.lineno, full, None))
                else:
                    found.append((node.lineno, source, alias.name))
    return [(line, mod, what) for line, mod, what in found if mod.split(".")[0] == "segedu"]


def private_imports() -> list[str]:
    """``path:line: message`` for every import of a private name across a module boundary."""
    modules = _modules()
    problems = []
    for name, path in modules.items():
        where = f"{path.relative_to(ROOT)}"
        for line, source, what in _imports(name, path, modules):
            parts = source.split(".")
            private = [i for i, part in enumerate(parts) if _is_private(part)]
            if private:
                # a private module is open to the package that holds it (and that package's tree)
                owner = ".".join(parts[: private[0]])
                if not (name == owner or name.startswith(owner + ".")):
                    problem = f"{where}:{line}: imports private module {source}"
                    if problem not in problems:  # once per statement, not per name
                        problems.append(problem)
                    continue
            if what is not None and _is_private(what) and not private:
                problems.append(f"{where}:{line}: imports private name {what} from {source}")
    return problems


def import_cycles() -> list[list[str]]:
    """The strongly connected components (of more than one module) of segedu's import graph."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, source, _ in _imports(name, path, modules):
            target = source
            while target not in modules and "." in target:  # a name inside a module
                target = target.rpartition(".")[0]
            if target != name:
                graph[name].add(target)
    return _strongly_connected(graph)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of size one (no self edges here) are dropped."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def nested_imports(package: str) -> list[str]:
    """``path:line: module`` of every import below module level in ``segedu/<package>/*.py``,
    except absolute imports of :data:`OPTIONAL` modules."""
    found = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                    alias.name for alias in node.names]
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                          if getattr(node, "level", 0) or name not in OPTIONAL]
    return found


def test_no_private_name_crosses_a_module_boundary():
    problems = private_imports()
    assert not problems, "private imports:\n" + "\n".join(problems)


def test_no_import_cycle():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", ["zoo", "engine"])
def test_no_import_inside_a_function(package):
    nested = nested_imports(package)
    assert not nested, "\n".join(nested)


def _plant(tmp_path, monkeypatch, files: dict[str, str]) -> None:
    """Write a fake ``segedu`` package (``{relative path: source}``) and point the scans at it."""
    for relative, source in {"__init__.py": "", **files}.items():
        path = tmp_path / "segedu" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path / "segedu")


def test_the_scans_find_what_they_look_for(tmp_path, monkeypatch):
    """Both scans flag a planted private import and a planted cycle, inside functions too."""
    _plant(tmp_path, monkeypatch, {
        "a/__init__.py": "from .x import f\n",
        "a/_util.py": "def g():\n    pass\n",
        "a/x.py": "from ._util import g\n\ndef f():\n    from segedu.b import h\n    return h\n",
        "b.py": "from segedu.a.x import _helper\nfrom .a._util import g\ndef h():\n    pass\n",
    })
    assert private_imports() == [
        "segedu/b.py:1: imports private name _helper from segedu.a.x",
        "segedu/b.py:2: imports private module segedu.a._util",
    ]
    assert import_cycles() == [["segedu.a.x", "segedu.b"]]


@pytest.mark.parametrize("bad", ["from segedu.a import _x", "import segedu.a._util"])
def test_a_private_import_inside_a_function_is_found(tmp_path, monkeypatch, bad):
    _plant(tmp_path, monkeypatch, {
        "a/__init__.py": "_x = 1\n", "a/_util.py": "", "c.py": f"def f():\n    {bad}\n",
    })
    assert len(private_imports()) == 1


def test_a_package_and_its_submodule_importing_each_other_is_a_cycle(tmp_path, monkeypatch):
    _plant(tmp_path, monkeypatch, {
        "a/__init__.py": "from .x import f\nLIMIT = 3\n",
        "a/x.py": "from . import LIMIT\n\ndef f():\n    return LIMIT\n",
    })
    assert import_cycles() == [["segedu.a", "segedu.a.x"]]
    assert private_imports() == []


def test_the_scan_finds_an_import_inside_a_function(tmp_path, monkeypatch):
    _plant(tmp_path, monkeypatch, {
        "zoo/m.py": "import torch\n\ndef f():\n    from .train import main\n    import IPython\n",
    })
    assert nested_imports("zoo") == ["segedu/zoo/m.py:4: train"]
