"""The project's set-up files agree with each other: pyproject, environment.yml, pins, Makefile,
CI, README."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few packages differently from PyPI
CONDA_NAMES = {"torch": "pytorch"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements():
    return [Requirement(r) for r in _pyproject()["project"]["dependencies"]]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ]", spec.strip(), maxsplit=1)[0].lower()


def test_runtime_dependencies_are_lower_bounds_only():
    # Colab's preinstalled torch must be kept: no upper bounds or pins in the package itself.
    for req in _runtime_requirements():
        for spec in req.specifier:
            assert spec.operator == ">=", f"{req}: runtime dependencies take lower bounds only"


def test_environment_yml_names_every_runtime_dependency():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    missing = [
        req.name for req in _runtime_requirements()
        if CONDA_NAMES.get(req.name.lower(), req.name.lower()) not in conda
    ]
    assert not missing, f"environment.yml lacks runtime dependencies {missing}"
    assert "python" in conda and "jupyterlab" in conda
    assert any(line.strip() in ("-e .", ".", "-e .[course]") for line in pip_section), (
        "segedu itself comes from pip")
    extras = _pyproject()["project"]["optional-dependencies"]
    assert "course" in extras and "-e .[course]" in pip_section, (
        "students' conda environment installs the extra that chapters' install cells ask for")


def test_python_requirement():
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_extras_dev_and_book():
    extras = _pyproject()["project"]["optional-dependencies"]
    dev = {Requirement(r).name for r in extras["dev"]}
    for needed in ("pytest", "pytest-xdist", "nbval", "jupyterlab", "torchmetrics",
                   "segment-anything", "timm", "ruff"):
        assert needed in dev, f"extra 'dev' lacks {needed}"
    book = [Requirement(r) for r in extras["book"]]
    jb = next(r for r in book if r.name == "jupyter-book")
    assert not jb.specifier.contains("2.0.0"), "Jupyter Book 2 fetches its theme online; keep <2"


def _canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares it (case, '-', '_' and '.' do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line that is not a comment is a pin."""
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        assert match, f"constraints.txt:{number}: {line!r} is not a `name==version` pin"
        name = _canonical(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


# Installed by hand or by pip itself, not by the project's requirements.
NOT_LOCKED = {"pip", "segedu"}


def test_the_lock_pins_torch_for_the_venv():
    pins = _lock()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for req in _runtime_requirements():
        assert _canonical(req.name) in pins, f"the lock does not pin runtime dependency {req.name}"


def test_every_installed_distribution_is_pinned_by_the_lock():
    """What `make test` installed into .venv is exactly what constraints.txt pins.

    A distribution that floats (missing from the lock) or that pip installed at another version
    fails here, so a new release of any package can no longer change a fresh clone's `make test`
    or `make book` without a commit. `make lock` rewrites the lock; run it, then `make test`.
    """
    import sys
    from importlib.metadata import distributions

    if sys.prefix == sys.base_prefix or Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("the lock describes the project's .venv; these tests run in another Python")
    pins = _lock()
    installed = {_canonical(d.metadata["Name"]): d.version for d in distributions()}
    floating = sorted(n for n in installed if n not in pins and n not in NOT_LOCKED)
    differ = sorted(f"{n} {installed[n]} (lock: {pins[n]})" for n in installed
                    if n in pins and installed[n] != pins[n])
    assert not floating, f"installed in .venv but not pinned by constraints.txt: {floating}"
    assert not differ, f"installed at another version than constraints.txt pins: {differ}"


def test_the_lock_is_refreshed_by_one_documented_command():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock:", makefile, re.M), "Makefile lacks the `lock` target"
    assert "make lock" in (ROOT / "README.md").read_text(), "the README says how to refresh it"
    assert "make lock" in (ROOT / "constraints.txt").read_text(), "the lock's header names it"


def test_makefile_targets_set_up_the_venv_first():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "book", "lab"):
        line = re.search(rf"^{target}:(.*)$", makefile, re.M)
        assert line, f"Makefile has no '{target}' target"
        assert "$(STAMP)" in line.group(1), f"'make {target}' must install what it needs first"
        if target != "lab":  # each of their processes reads segedu's bytecode, compiled once
            assert "bytecode" in line.group(1).split(), f"'make {target}' compiles segedu first"
    # the setup step installs the lock (scripts/install_venv.py: uv, or pip where uv fails)
    assert "scripts/install_venv.py $(PY)" in makefile
    assert '["-c", "constraints.txt", "-e", ".[dev,book]"]' in (
        ROOT / "scripts" / "install_venv.py").read_text()
    assert "--allow-root" in makefile


def test_uv_gets_the_indexes_and_constraints_that_pip_is_configured_with(monkeypatch):
    """uv reads no pip configuration: what `pip config list` shows is passed on as uv's options,
    each value once (pip lists a value set in a file and in a PIP_* variable twice)."""
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import install_venv
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    listed = ("global.extra-index-url='file:///a/simple file:///b/simple'\n"
              "global.find-links='/opt/wheels'\n:env:.find-links='/opt/wheels'\n"
              "global.constraint='/etc/pip-caps.txt'\nglobal.cert='/etc/ca.crt'\n"
              "global.index-url='https://mirror/simple'\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, stdout=listed, stderr=""))
    settings = install_venv.pip_settings("python")
    assert settings["find-links"] == ["/opt/wheels"] and settings["cert"] == ["/etc/ca.crt"]
    assert install_venv.uv_arguments(settings) == [
        "--index-strategy", "unsafe-best-match", "--index-url", "https://mirror/simple",
        "--extra-index-url", "file:///a/simple", "--extra-index-url", "file:///b/simple",
        "--find-links", "/opt/wheels", "--constraint", "/etc/pip-caps.txt"]


def test_ci_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "set -e" in ci


def test_readme_leads_with_the_two_commands_and_they_exist():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert "make book" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"^\s*make (\w+)", readme, re.M)):
        assert re.search(rf"^{target}:", makefile, re.M), (
            f"README mentions 'make {target}', Makefile lacks it")
    folders = "segedu|course|solutions|labs|tests|benchmarks|jupyter-book-config"
    for path in re.findall(rf"`((?:{folders})/[\w/.-]*)`", readme):
        assert (ROOT / path.rstrip("/")).exists() or "<" in path, (
            f"README names {path}, which does not exist")
