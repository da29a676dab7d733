"""Run a notebook on the install that its first cell makes, and nothing more.

A lab or a chapter starts with an install cell: on Colab it pip-installs ``segedu`` (or
``segedu[extra]``) from the repository, and a student's own machine has what ``pip install segedu``
gives. ``.venv`` holds much more (the ``dev`` and ``book`` extras: timm, segment-anything,
transformers, torchmetrics, stardist, cellpose, ...), so a notebook that silently needs one of
them passes every test here and stops with ``ModuleNotFoundError`` for the student.

:func:`student_env` gives the environment of a kernel that sees only that install: the
distributions that the install cell's ``segedu[extras]`` requires (transitively, read from the
installed metadata), the kernel's own (``ipykernel`` and what it requires) and the standard
library. Every other installed distribution is made unimportable by a ``sys.meta_path`` finder
that ``sitecustomize`` puts first in the kernel (:data:`SITECUSTOMIZE`): importing one of its
modules raises ``ModuleNotFoundError`` naming the install cell, ``importlib.util.find_spec``
returns ``None`` for it and ``importlib.metadata`` does not find it, as on a machine without it.

:func:`kernel_env` gives the same environment to each chapter that the book's build executes
(``make book BOOK_KERNEL_ENV=tests/student_install.py``, the test build of ``tests/conftest.py``),
with one exception that the build needs: ``segedu.book.glue`` reaches myst-nb's ``glue`` function,
so that the page pastes the glued numbers (a student's install keeps them in ``segedu.book.GLUED``
instead). Nothing else of myst-nb or of what it requires can be imported.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution, distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

# What runs the notebook, besides what it installs: the Jupyter kernel.
KERNEL = ("ipykernel", "pip")

# The requirement of segedu in an install cell: "segedu @ git+...", "segedu[course] @ git+...".
SEGEDU_REQUIREMENT = re.compile(r"""["'](segedu(?:\[[\w,\s-]*\])?)\s*@\s*git\+""")

SITECUSTOMIZE = '''\
"""Written by tests/student_install.py: the modules of distributions that the notebook's install
cell does not install are not importable in this interpreter."""
import importlib.abc
import importlib.metadata
import importlib.util
import os
import re
import sys

_MODULES = frozenset(filter(None, os.environ.get("SEGEDU_NOT_INSTALLED_MODULES", "").split(",")))
_DISTRIBUTIONS = frozenset(filter(None, os.environ.get("SEGEDU_NOT_INSTALLED", "").split(",")))
_INSTALL = os.environ.get("SEGEDU_INSTALL_CELL", "segedu")

if os.environ.get("SEGEDU_GLUE_FOR_THE_BOOK") == "1":
    # A chapter executed by the book's build: segedu.book.glue hands its values to myst-nb, which
    # pastes them into the page. Only myst-nb's glue function is kept (imported now, then every
    # module of a distribution that the install lacks is forgotten again, so that importing one
    # still fails); `import myst_nb` finds a module holding nothing but that function.
    import types

    from myst_nb.ext.glue import glue as _myst_glue

    for _name in [m for m in sys.modules if m.partition(".")[0] in _MODULES]:
        del sys.modules[_name]
    _stub = types.ModuleType("myst_nb", "myst-nb's glue only (tests/student_install.py)")
    _stub.glue = _myst_glue
    sys.modules["myst_nb"] = _stub


class NotInstalled(ModuleNotFoundError):
    """A module of a distribution that the notebook's install cell does not install."""


class _NotInstalledFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _MODULES:
            raise NotInstalled(f"No module named {name!r}: the notebook's install cell installs "
                               f"{_INSTALL}, which does not include it", name=name)
        return None


sys.meta_path.insert(0, _NotInstalledFinder())

_find_spec = importlib.util.find_spec


def _find_spec_or_none(name, package=None):
    try:
        return _find_spec(name, package)
    except NotInstalled:
        return None


importlib.util.find_spec = _find_spec_or_none

_distribution = importlib.metadata.distribution


def _installed_distribution(name):
    if re.sub(r"[-_.]+", "-", name).lower() in _DISTRIBUTIONS:
        raise importlib.metadata.PackageNotFoundError(name)
    return _distribution(name)


importlib.metadata.distribution = _installed_distribution
'''


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def install_cell_requirement(first_code_cell: str) -> str:
    """``segedu`` or ``segedu[extras]``, as the install cell asks pip for it."""
    found = SEGEDU_REQUIREMENT.search(first_code_cell)
    if not found:
        raise ValueError("the first code cell does not pip-install segedu from the repository")
    return re.sub(r"\s", "", found.group(1))


def requirement_closure(roots: tuple[str, ...]) -> frozenset[str]:
    """Canonical names of ``roots`` and every installed distribution they require, transitively,
    with the extras that each requirement names (markers evaluated for this interpreter)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [Requirement(root) for root in roots]
    while todo:
        req = todo.pop()
        key = (canonical(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue  # not installed here (a marker for another platform): nothing to import
        names.add(canonical(req.name))
        for line in dist.requires or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra})
                                             for extra in {"", *req.extras}):
                todo.append(needed)
    return frozenset(names)


def top_level_modules(dist) -> set[str]:
    """The importable top-level names that a distribution installs."""
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    modules = set()
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info",
                                                                                  ".data")):
            continue
        if len(parts) > 1:
            modules.add(parts[0])
        elif parts[0].endswith((".py", ".so", ".pyd")):
            modules.add(parts[0].split(".")[0])
    return {m for m in modules if m.isidentifier()}


@cache
def not_installed(requirement: str) -> tuple[frozenset[str], frozenset[str]]:
    """(distributions, top-level modules) in this environment that ``requirement`` (say
    ``segedu[course]``) and the kernel do not bring. A module that an allowed distribution also
    installs (a shared namespace such as ``google``) stays importable."""
    allowed = requirement_closure((requirement, *KERNEL))
    by_name = {canonical(d.metadata["Name"]): d for d in distributions()}
    blocked = frozenset(name for name in by_name if name not in allowed)
    kept = set().union(*(top_level_modules(by_name[n]) for n in allowed if n in by_name))
    modules = set().union(*(top_level_modules(by_name[n]) for n in blocked)) - kept
    return blocked, frozenset(modules)


def write_sitecustomize(folder: Path) -> Path:
    """``folder/sitecustomize.py``, the finder of the module docstring (written whole or not at
    all: another process may start a kernel on it meanwhile)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "sitecustomize.py"
    if not target.exists() or target.read_text(encoding="utf8") != SITECUSTOMIZE:
        part = folder / f"sitecustomize.py.{os.getpid()}"
        part.write_text(SITECUSTOMIZE, encoding="utf8")
        os.replace(part, target)
    return folder


@cache
def _warm_kernel():
    """tests/warm_kernel.py, loaded once by its path: build_parallel.py --kernel-env loads this
    file outside the tests package, where a relative import fails."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_warm_kernel",
                                                  ROOT / "tests" / "warm_kernel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def site_folder(requirement: str) -> Path:
    """The folder of the ``sitecustomize.py`` for ``requirement``'s kernels: one per test run and
    requirement (inside the run's warm kernels' folder), so that they all have the same
    environment and share one warm kernel (tests/warm_kernel.py); a new temporary folder outside
    a test run."""
    import hashlib
    import tempfile

    run = os.environ.get(_warm_kernel().FOLDER_VARIABLE)
    if not run:
        return Path(tempfile.mkdtemp(prefix="segedu-student-site-"))
    return Path(run) / f"student-site-{hashlib.sha256(requirement.encode()).hexdigest()[:12]}"


def student_env(requirement: str, folder: Path) -> dict[str, str]:
    """Environment variables under which a Python process (a Jupyter kernel) sees only what
    ``requirement`` installs; ``folder`` receives the ``sitecustomize.py`` that does it."""
    blocked, modules = not_installed(requirement)
    path = [str(write_sitecustomize(folder))]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return {
        "PYTHONPATH": os.pathsep.join(path),
        "SEGEDU_NOT_INSTALLED": ",".join(sorted(blocked)),
        "SEGEDU_NOT_INSTALLED_MODULES": ",".join(sorted(modules)),
        "SEGEDU_INSTALL_CELL": json.dumps(requirement),
    }


def first_code_cell(notebook: Path) -> str:
    """The source of the first code cell of a MyST Markdown notebook or an ``.ipynb``."""
    import jupytext

    cells = [c for c in jupytext.read(notebook).cells if c.cell_type == "code"]
    if not cells:
        raise ValueError(f"{notebook} has no code cell")
    return cells[0].source


def kernel_env(notebook: Path) -> dict[str, str]:
    """The environment of the kernel that runs ``notebook`` in the book's test build: what its
    install cell installs (:func:`student_env`), myst-nb's glue function included.
    The ``sitecustomize.py`` goes to :func:`site_folder`."""
    requirement = install_cell_requirement(first_code_cell(Path(notebook)))
    return {**student_env(requirement, site_folder(requirement)), "SEGEDU_GLUE_FOR_THE_BOOK": "1"}
