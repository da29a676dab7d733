"""The README's map of the library names every model family that `get_model` knows.

A family is the package (or module) under a contract package of `segedu.models` that holds a
registered model's builder, e.g. `models/foundation/clipseg` for `clipseg_tiny`. The README's
"Model families" table must name each one by that path, so a new family cannot land unmentioned.
"""

from __future__ import annotations

import re
from pathlib import Path

from segedu.models import list_models, registry

README = Path(__file__).resolve().parents[1] / "README.md"


def family_packages() -> dict[str, list[str]]:
    """``models/<contract>/<family>`` -> the registered names whose builder lives there."""
    families: dict[str, list[str]] = {}
    for name in list_models():
        parts = registry._BUILDERS[name].__module__.split(".")
        assert parts[:2] == ["segedu", "models"] and len(parts) >= 4, (name, parts)
        families.setdefault("/".join(["models", *parts[2:4]]), []).append(name)
    return families


def readme_families(text: str) -> set[str]:
    """The `models/...` paths written in backticks in the README's "Model families" section."""
    section = text.split("### Model families", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(models/[a-z_]+/[a-z0-9_]+)`", section))


def test_the_readme_names_every_registered_model_family():
    named = readme_families(README.read_text(encoding="utf8"))
    missing = {path: names for path, names in family_packages().items() if path not in named}
    assert not missing, f"README.md's 'Model families' table lacks {missing}"


def test_the_readme_names_no_family_that_does_not_exist():
    root = README.parent / "segedu"
    stale = sorted(path for path in readme_families(README.read_text(encoding="utf8"))
                   if not (root / path).is_dir() and not (root / f"{path}.py").is_file())
    assert not stale, f"README.md names families that are not in segedu/: {stale}"


def test_a_missing_family_is_found():
    text = "### Model families\n| SAM | `models/foundation/sam` | ... |\n## Next\n"
    assert readme_families(text) == {"models/foundation/sam"}
    assert "models/foundation/clipseg" in family_packages()
