"""Install the lock into a virtual environment: segedu (editable) with its dev and book extras,
every distribution at the version that ``constraints.txt`` pins. The Makefile's setup step runs it::

    python scripts/install_venv.py .venv/bin/python

uv installs the lock in about half of pip's time (it downloads and unpacks in parallel; the lock's
CUDA build of torch alone unpacks to about 6 GB; ``benchmarks/results/ci_time.md`` has the
figures). uv is installed by pip into an environment of its own (``_build/uv``), so that the
project's environment holds exactly what the lock pins (``tests/test_packaging.py``). Where uv
cannot be installed, or fails, pip installs the lock as before, and the reason is printed.

uv does not read pip's configuration, so the package indexes, find-links, extra constraints and
certificate that pip is configured with (``pip config list``: its files and ``PIP_*`` variables)
are passed on to it; with several indexes uv, like pip, takes the best match from any of them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV_HOME = ROOT / "_build" / "uv"
TARGET = ["-c", "constraints.txt", "-e", ".[dev,book]"]


def pip_settings(python: str) -> dict[str, list[str]]:
    """pip's configured values, by option name (``find-links``: ``["/opt/wheels"]``)."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                            text=True, check=True).stdout
    settings: dict[str, list[str]] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        values = shlex.split(value.strip().strip("'\""))
        for item in values:
            if item not in settings.setdefault(option, []):
                settings[option].append(item)
    return settings


def uv_arguments(settings: dict[str, list[str]]) -> list[str]:
    """pip's indexes, find-links and constraints as uv's options."""
    args = ["--index-strategy", "unsafe-best-match"]
    for url in settings.get("index-url", [])[:1]:
        args += ["--index-url", url]
    for url in settings.get("extra-index-url", []):
        args += ["--extra-index-url", url]
    for place in settings.get("find-links", []):
        args += ["--find-links", place]
    for path in settings.get("constraint", []):
        args += ["--constraint", path]
    return args


def install_with_uv(python: str) -> str | None:
    """Install the lock with uv; the reason it could not, or None."""
    uv = UV_HOME / "bin" / "uv"
    if not uv.exists():
        venv.create(UV_HOME, with_pip=True)
        got = subprocess.run([str(UV_HOME / "bin" / "python"), "-m", "pip", "install",
                              "--disable-pip-version-check", "--quiet", "uv"])
        if got.returncode != 0 or not uv.exists():
            return "uv could not be installed"
    settings = pip_settings(python)
    env = dict(os.environ)
    if settings.get("cert"):
        env.setdefault("SSL_CERT_FILE", settings["cert"][0])
    # pip compiles every module to bytecode as it installs, uv only when asked: without it, where
    # PYTHONDONTWRITEBYTECODE is set (this machine sets it), every process compiles everything it
    # imports again, and the test suite ran 1.17 x slower (ci_time.md, 216e44f)
    command = [str(uv), "pip", "install", "--compile-bytecode", "--python", python,
               *uv_arguments(settings), *TARGET]
    if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
        return "uv failed"
    return None


def main(argv: list[str]) -> int:
    python = argv[0] if argv else sys.executable
    reason = install_with_uv(python)
    if reason is None:
        return 0
    print(f"install_venv: {reason}; pip installs the lock instead", file=sys.stderr)
    return subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check",
                           *TARGET], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
