"""``segedu-grade gradescope``: the zip of a lab's autograder for Gradescope.

Usage::

    segedu-grade gradescope --lab labs/00_masks.ipynb --solution solutions/00_masks.ipynb \
        --out autograder.zip [--fast] [--cell-timeout S] [--timeout S] [--memory-mb M]
        [--hidden-visibility after_due_date] [--written tests|manual]

Upload the zip as a Programming Assignment's autograder ("Zipped File Upload"). It follows
Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): at its root

- ``setup.sh``: run once, as root, when Gradescope builds the autograder's image (Ubuntu). It finds
  Python 3.11 or newer (or installs it with apt), makes the virtual environment
  ``/autograder/venv``, installs torch and torchvision from PyTorch's CPU wheels and then the lab's
  other dependencies, each at the version of the project's lock (``constraints.txt``), only those
  that the lab and the grader import (:func:`lab_requirements`), then segedu from the zip;
- ``run_autograder``: run for every submission: ``python -m
  segedu.grading.run.gradescope_autograder`` (:mod:`.gradescope_autograder`), which grades the
  submitted notebook with ``segedu-grade``'s own grader and writes
  ``/autograder/results/results.json``;
- ``segedu_lab/``: the released lab, the solution (the source of the hidden tests) and
  ``config.json`` (the limits and the options below); ``requirements.txt``, the pins;
- ``segedu_src/``: segedu itself (the package and its ``pyproject.toml``), the zoo's checkpoints
  only for a lab that uses the zoo.

Options: the limits are ``segedu-grade``'s (``--fast``: ``SEGEDU_FAST=1``);
``--hidden-visibility`` is the Gradescope visibility of the hidden tests' results (``visible``,
the default, or ``after_due_date``, ``after_published``, ``hidden``); ``--written tests`` (the
default) lists each written answer as a test of 0 points until graded by hand, ``--written manual``
leaves them to Gradescope's manual questions.
"""

from __future__ import annotations

import argparse
import ast
import functools
import io
import json
import re
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..labs.assignment import Assignment
from ..labs.notebook import NotebookError
from ..results.gradescope_results import VISIBILITIES, WRITTEN_MODES
from .grade_one import add_limit_options
from .gradescope_autograder import LAB_FOLDER

__all__ = ["GRADER_DISTRIBUTIONS", "lab_requirements", "autograder_files", "write_autograder",
           "main"]

REPO = Path(__file__).resolve().parents[3]  # the folder that holds segedu/ and pyproject.toml
# what the grader itself imports in the container (segedu.grading and the run under nbval)
GRADER_DISTRIBUTIONS = ("nbformat", "nbval", "pytest", "ipykernel", "jupyter_client", "psutil",
                        "PyYAML", "markdown-it-py", "packaging")
# the CUDA runtime that torch's Linux wheels pull in: PyTorch's CPU wheels need none of it
CUDA_ONLY = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # every entry's time: the same lab makes the same zip

SETUP_SH = r"""#!/usr/bin/env bash
# segedu's Gradescope autograder, set up once when Gradescope builds its image (as root, on
# Ubuntu). Written by `segedu-grade gradescope`; see segedu.grading.run.gradescope_zip.
set -euo pipefail
ROOT="${SEGEDU_AUTOGRADER_ROOT:-/autograder}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# torch and torchvision come from PyTorch's CPU wheels (no CUDA in Gradescope's containers);
# SEGEDU_TORCH_INDEX= (empty) takes them from pip's own index
TORCH_INDEX="${SEGEDU_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
PYTHON="${SEGEDU_SETUP_PYTHON:-}"
newer() { "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; }
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && newer "$candidate"; then
      PYTHON="$(command -v "$candidate")"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then  # Ubuntu 22.04's python3 is 3.10: Python 3.11 from its universe
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y python3.11 python3.11-venv
  PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
PIP=("$ROOT/venv/bin/python" -m pip install --no-input --disable-pip-version-check)
if [ -n "$TORCH_INDEX" ]; then
  "${PIP[@]}" --index-url "$TORCH_INDEX" \
    $(grep -E '^(torch|torchvision)==' "$HERE/segedu_lab/requirements.txt")
fi
"${PIP[@]}" -r "$HERE/segedu_lab/requirements.txt"
"${PIP[@]}" --no-deps "$HERE/segedu_src"
# the grader and the lab import, or this build fails here rather than on a student's submission
"$ROOT/venv/bin/python" -c "import segedu.grading.run.gradescope_autograder, torch, nbval"
# the hidden tests: readable by root only (run_autograder runs the notebook as another user)
chmod -R go-rwx "$HERE"
echo "segedu autograder ready: $("$ROOT/venv/bin/python" --version), torch \
$("$ROOT/venv/bin/python" -c 'import torch; print(torch.__version__)')"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# segedu's Gradescope autograder, run for every submission (written by `segedu-grade gradescope`):
# grades the one notebook in $ROOT/submission with segedu-grade's grader and writes
# $ROOT/results/results.json (see segedu.grading.run.gradescope_autograder)
ROOT="${SEGEDU_AUTOGRADER_ROOT:-/autograder}"
PYTHON="${SEGEDU_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT"
exec "$PYTHON" -m segedu.grading.run.gradescope_autograder
"""


def _lock(path: Path) -> dict[str, str]:
    """The lock's pins: canonical name -> ``name==version``."""
    pins = {}
    for line in path.read_text(encoding="utf8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name = line.split("==", 1)[0].strip()
            pins[canonicalize_name(name)] = line
    return pins


def imported_modules(notebook) -> set[str]:
    """The top-level modules that a notebook's code cells import (absolute imports only)."""
    modules = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


@functools.cache
def _modules() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions that provide it."""
    return metadata.packages_distributions()


@functools.cache
def _requires(name: str) -> tuple[str, ...]:
    return tuple(metadata.requires(name) or ())


def lab_requirements(notebook, lock: Path = REPO / "constraints.txt") -> list[str]:
    """The pins (``name==version``, from ``lock``) of every distribution that the lab's imports,
    segedu's own dependencies and the grader need, with their dependencies (as installed here),
    without segedu itself and without the CUDA runtime; sorted by name.

    Raises :class:`~.notebook.NotebookError` naming a needed distribution that the lock lacks."""
    pins = _lock(lock)
    by_module = _modules()
    wanted = [r for r in metadata.requires("segedu") or [] if "extra ==" not in r]
    wanted += list(GRADER_DISTRIBUTIONS)
    for module in sorted(imported_modules(notebook)):
        wanted += [d for d in by_module.get(module, []) if canonicalize_name(d) != "segedu"]
    needed: set[str] = set()
    queue = [Requirement(w) for w in wanted]
    while queue:
        requirement = queue.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in needed or name == "segedu" or CUDA_ONLY.match(name):
            continue
        needed.add(name)
        try:
            queue += [Requirement(r) for r in _requires(requirement.name)]
        except metadata.PackageNotFoundError:
            raise NotebookError(f"{requirement.name} is needed but not installed here") from None
    missing = sorted(n for n in needed if n not in pins)
    if missing:
        raise NotebookError(f"the lock {lock} does not pin {', '.join(missing)}")
    return sorted(pins[n] for n in needed)


def _package_files(with_checkpoints: bool) -> list[tuple[str, Path]]:
    """segedu's files as ``segedu_src/...`` paths: the package (no bytecode), its pyproject.toml
    and README.md (the build reads it); the zoo's checkpoints only ``with_checkpoints``."""
    files = [("segedu_src/pyproject.toml", REPO / "pyproject.toml"),
             ("segedu_src/README.md", REPO / "README.md")]
    for path in sorted((REPO / "segedu").rglob("*")):
        relative = path.relative_to(REPO)
        if (not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc"
                or any(part.startswith(".") for part in relative.parts)):
            continue
        if not with_checkpoints and relative.parts[:3] == ("segedu", "zoo", "checkpoints"):
            continue
        files.append((f"segedu_src/{relative.as_posix()}", path))
    return files


def autograder_files(lab: bytes, solution: bytes, *, limits: dict, hidden_visibility: str,
                     written: str, lab_name: str) -> dict[str, bytes | Path]:
    """Every file of the zip: its path in the zip -> its bytes, or the file to copy."""
    assignment = Assignment.from_bytes(lab, solution)  # a broken lab or solution stops here
    config = {"lab": lab_name, "limits": limits, "hidden_visibility": hidden_visibility,
              "written": written, "graded_cells": assignment.columns,
              "max_points": assignment.max_total,
              "written_points": sum(q.points for q in assignment.written)}
    solution_text = solution.decode("utf8", errors="replace")
    files: dict[str, bytes | Path] = {
        "setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode(),
        f"{LAB_FOLDER}/lab.ipynb": lab, f"{LAB_FOLDER}/solution.ipynb": solution,
        f"{LAB_FOLDER}/config.json": (json.dumps(config, indent=1) + "\n").encode(),
        f"{LAB_FOLDER}/requirements.txt":
            ("\n".join(lab_requirements(assignment.lab)) + "\n").encode()}
    files.update(_package_files(with_checkpoints="zoo" in solution_text))
    return files


def write_autograder(out: Path, files: dict[str, bytes | Path]) -> Path:
    """Write the zip: the two scripts executable, every entry with the same date (the same lab
    makes the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            content = files[name]
            data = content.read_bytes() if isinstance(content, Path) else content
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            # the checkpoints (float16 weights) barely compress: stored as they are
            info.compress_type = (zipfile.ZIP_STORED if name.endswith(".pt")
                                  else zipfile.ZIP_DEFLATED)
            archive.writestr(info, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segedu-grade gradescope",
        description="Write a lab's autograder zip for Gradescope (Zipped File Upload).")
    parser.add_argument("--lab", required=True, help="the released student lab (.ipynb)")
    parser.add_argument("--solution", required=True,
                        help="the solution notebook: source of the hidden tests")
    parser.add_argument("--out", required=True, help="the zip to write (autograder.zip)")
    add_limit_options(parser)
    parser.add_argument("--hidden-visibility", choices=VISIBILITIES, default="visible",
                        help="when students see the hidden tests' results (default visible; "
                             "after_due_date keeps their details back until the due date)")
    parser.add_argument("--written", choices=WRITTEN_MODES, default="tests",
                        help="tests: each written answer is a test of 0 points until graded by "
                             "hand (default); manual: left to Gradescope's manual questions")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    limits = {"cell_timeout": args.cell_timeout, "timeout": args.timeout,
              "memory_mb": args.memory_mb, "fast": args.fast}
    try:
        lab, solution = Path(args.lab).read_bytes(), Path(args.solution).read_bytes()
        files = autograder_files(lab, solution, limits=limits,
                                 hidden_visibility=args.hidden_visibility, written=args.written,
                                 lab_name=Path(args.lab).name)
    except (OSError, NotebookError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = write_autograder(Path(args.out), files)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {len(files)} files): upload it "
          "as the assignment's autograder (Zipped File Upload)")
    return 0
