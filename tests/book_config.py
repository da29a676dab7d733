"""The scripts and Sphinx extensions of jupyter-book-config/, loaded by path for the tests.

They are not a Python package (Sphinx and `make book` load them by path), so the tests load them
the same way, through this one helper.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

CONFIG_DIR = Path(__file__).resolve().parents[1] / "jupyter-book-config"


def load(relative: str) -> ModuleType:
    """The module at ``jupyter-book-config/<relative>``, e.g. ``"_ext/segedu_offline.py"``."""
    path = CONFIG_DIR / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
