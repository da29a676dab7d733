"""The GitHub Actions workflow that tests pull requests and publishes the book.

It cannot run here (no GitHub), so it is checked offline: against the GitHub-workflow JSON schema
that check-jsonschema vendors (no download), and for the jobs the project relies on.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _schema_check(path: Path) -> subprocess.CompletedProcess:
    """Validate one workflow file with check-jsonschema's vendored GitHub-workflow schema."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    command = [str(exe)] if exe.exists() else [shutil.which("check-jsonschema")
                                               or "check-jsonschema"]
    return subprocess.run(
        [*command, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=120,
    )


def _load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_there_is_a_workflow():
    assert WORKFLOWS, "no workflow in .github/workflows/"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path):
    result = _schema_check(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    # The same check must be able to fail: a job with `step:` instead of `steps:` and no runner.
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: [push]\njobs:\n  a:\n    step:\n      - run: make test\n")
    result = _schema_check(broken)
    assert result.returncode != 0
    assert "broken.yml" in result.stdout


def _steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_pull_requests_run_the_test_suite():
    workflow = _load(ROOT / ".github" / "workflows" / "book.yml")
    assert "pull_request" in workflow["on"]
    jobs = [job for job in workflow["jobs"].values() if "== 'pull_request'" in job.get("if", "")]
    assert len(jobs) == 1
    # .ci/run is what CI runs here; it installs the browser and calls `make test`.
    assert "bash .ci/run" in _steps_text(jobs[0])
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pushes_to_main_build_online_and_publish():
    workflow = _load(ROOT / ".github" / "workflows" / "book.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    publish = workflow["jobs"]["publish"]
    assert publish["env"]["SEGEDU_ONLINE"] == "1"
    assert publish["permissions"]["contents"] == "write"
    steps = _steps_text(publish)
    assert "make book" in steps
    # The Colab buttons open notebooks from the branch the site is pushed to.
    config = yaml.safe_load((ROOT / "jupyter-book-config" / "_config.yml").read_text())
    branch = config["sphinx"]["config"]["segedu_colab_branch"]
    assert "ghp-import" in steps and branch == "gh-pages"
    assert "_build/book/_build/html" in steps
