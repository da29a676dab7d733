"""The project's set-up files agree with each other: pyproject, environment.yml, pins, Makefile,
CI, README."""

import re
import tomllib
from pathlib import Path

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
    assert any(line.strip() in ("-e .", ".") for line in pip_section), (
        "segedu itself comes from pip")


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


def test_constraints_pin_torch_for_the_venv():
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.14\.1$", pins, re.M)
    assert re.search(r"^torchvision==0\.29\.1$", pins, re.M)


def test_makefile_targets_set_up_the_venv_first():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "book", "lab"):
        line = re.search(rf"^{target}:(.*)$", makefile, re.M)
        assert line, f"Makefile has no '{target}' target"
        assert "$(STAMP)" in line.group(1), f"'make {target}' must install what it needs first"
    assert "-c constraints.txt" in makefile
    assert "--allow-root" in makefile


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
