"""ARCHITECTURE.md, the maintainer's map of the house, is current.

- Its floors table lists every package of ``segedu`` on the floor that the import graph gives
  it (one more than the highest floor it imports from; read with :mod:`ast`, as
  ``tests/test_imports.py`` reads it), and no package that does not exist.
- It names every contract package of ``segedu.models`` and every model family folder that
  holds a registered model (``tests/test_readme_map.py``'s rule for the README's table).

That no file cites a document the repository lacks is ``tests/test_repository_stands_alone.py``'s.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .test_imports import _imports, _modules
from .test_readme_map import family_packages

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "ARCHITECTURE.md"


@functools.cache
def package_floors() -> dict[str, int]:
    """``{package: floor}`` for every top-level package (or module) of ``segedu``."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        parts = name.split(".")
        if len(parts) < 2:
            continue
        for _, source, _ in _imports(name, path, modules):
            target = source.split(".")
            if len(target) >= 2 and target[1] != parts[1]:
                edges.setdefault(parts[1], set()).add(target[1])
    packages = {name.split(".")[1] for name in modules if "." in name}

    @functools.cache
    def floor(package: str) -> int:
        return 1 + max((floor(other) for other in edges.get(package, ())), default=0)

    return {package: floor(package) for package in packages}


def mapped_floors(text: str) -> dict[str, int]:
    """``{package: floor}`` from the rows ``| <floor> | `<package>` | ... |`` of the map."""
    return {package: int(floor)
            for floor, package in re.findall(r"^\| (\d) \| `([a-z_]+)` \|", text, re.M)}


def test_the_floors_table_is_the_import_graph():
    actual, mapped = package_floors(), mapped_floors(MAP.read_text(encoding="utf8"))
    wrong = {package: (mapped.get(package), floor) for package, floor in actual.items()
             if mapped.get(package) != floor}
    stale = sorted(set(mapped) - set(actual))
    assert not wrong, f"ARCHITECTURE.md's floors (mapped, actual) are wrong for {wrong}"
    assert not stale, f"ARCHITECTURE.md maps packages that segedu lacks: {stale}"


def test_the_map_names_every_contract_and_family():
    text = MAP.read_text(encoding="utf8")
    contracts = sorted(p.name for p in (ROOT / "segedu" / "models").iterdir()
                       if p.is_dir() and (p / "__init__.py").is_file())
    missing = [c for c in contracts if f"`models/{c}`" not in text]
    assert not missing, f"ARCHITECTURE.md's contract table lacks {missing}"
    lists = {contract: set(re.findall(r"`([a-z0-9_]+)`", block))
             for contract, block in re.findall(r"^- `models/([a-z_]+)`: (.*?)(?=^- |^\n)", text,
                                                re.M | re.S)}
    unnamed = sorted(path for path in family_packages()
                     if path.split("/")[2] not in lists.get(path.split("/")[1], set()))
    assert not unnamed, f"ARCHITECTURE.md's family lists lack {unnamed}"


def test_a_wrong_floor_and_a_missing_family_are_found():
    assert mapped_floors("| 2 | `nn` | blocks |\n") == {"nn": 2}
    assert package_floors()["nn"] == 1 and package_floors()["zoo"] > package_floors()["models"]
