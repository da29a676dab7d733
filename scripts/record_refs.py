"""``make refs``: record the outputs of the reference packages that the lock does not hold, as the
fixtures that their reference tests compare with where the package is missing (CI).

For each entry of REFERENCES: a separate virtual environment, ``_build/ref-venv`` (git-ignored),
sees everything of the project's ``.venv`` (a ``.pth`` file puts .venv's site-packages on its path,
so torch and the other pinned distributions are used as they are, not installed again) and gets the
reference package at the pinned version on top; the entry's recorder then runs in it and rewrites
its fixtures. ``.venv`` itself is never changed (tests/test_packaging.py checks it against the
lock).

Run with the project's Python (``.venv/bin/python scripts/record_refs.py``; ``make refs`` does).
Needs the package index (PyPI) once per version; the environment is kept for the next run.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF_VENV = ROOT / "_build" / "ref-venv"

# (name, what pip installs, the recorder that writes the fixtures)
REFERENCES = [
    # omnipose 1.1.4 does not import with ncolor >= 2 (2.3.0 dropped unique_nonzero)
    ("omnipose", ["omnipose==1.1.4", "ncolor<2"],
     "tests/models/bottom_up/omnipose/record_reference.py"),
]


def environment() -> Path:
    """The reference environment's python (created on first use)."""
    python = REF_VENV / "bin" / "python"
    if not python.exists():
        venv.create(REF_VENV, with_pip=True)
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = REF_VENV / "lib" / version / "site-packages"
        (site / "segedu_project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def main() -> int:
    python = environment()
    for name, requirements, recorder in REFERENCES:
        print(f"make refs: {name} ({' '.join(requirements)}) into {REF_VENV}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        *requirements], check=True)
        subprocess.run([str(python), str(ROOT / recorder)], check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
