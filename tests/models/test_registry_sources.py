"""The registry stands below the zoo, and loads official checkpoints published in other names.

- ``segedu.models`` never imports ``segedu.zoo``: the zoo registers itself as the ``"zoo"`` weights
  source, and the registry finds it through the ``segedu.weights`` entry point by that name.
- An official ``model.safetensors`` (the HuggingFace Hub's format) is read with ``safetensors``
  and mapped to segedu's names by the model's registered ``convert``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import segedu.models
from segedu.models import get_model, registry

MODELS = Path(segedu.models.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module that ``path`` imports, relative imports resolved to absolute names."""
    package = ".".join(path.relative_to(MODELS.parent.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_resolver_sees_a_relative_import_of_the_zoo():
    """The check below can fail: ``from ..zoo import ZOO`` in segedu/models/x.py is caught."""
    fake = MODELS / "registry.py"
    tree = _imported_modules(fake)
    assert "torch" in tree
    source = "from ..zoo import ZOO\n"
    probe = MODELS / "_probe_for_test.py"
    try:
        probe.write_text(source)
        assert "segedu.zoo" in _imported_modules(probe)
    finally:
        probe.unlink()


def test_no_module_of_the_models_imports_the_zoo():
    offenders = {
        str(path.relative_to(MODELS)): sorted(m for m in _imported_modules(path)
                                              if m == "segedu.zoo" or m.startswith("segedu.zoo."))
        for path in MODELS.rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_zoo_weights_load_without_importing_the_zoo_first():
    """In a fresh interpreter: the zoo is imported by the registry, by its entry-point name."""
    code = (
        "import sys\n"
        "from segedu.models import get_model\n"
        "assert 'segedu.zoo' not in sys.modules\n"
        "model = get_model('unet', weights='zoo')\n"
        "assert 'segedu.zoo' in sys.modules\n"
        "print(type(model).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "UNet"


def test_unknown_source_is_a_clear_error():
    with pytest.raises(ValueError, match="neither a checkpoint file nor a source"):
        get_model("unet", weights="zooo")
    with pytest.raises(ValueError, match="other than 'official'"):
        registry.register_weights("official", lambda name: ({}, {}))
    import segedu.zoo  # noqa: F401  (registers "zoo")

    with pytest.raises(ValueError, match="already registered"):
        registry.register_weights("zoo", lambda name: ({}, {}))
    with pytest.raises(ValueError, match="give official too"):
        registry.register_model("x_without_official", convert=dict)


def test_a_huggingface_file_is_cached_under_its_repository(monkeypatch):
    url = "https://huggingface.co/nvidia/segformer-b0/resolve/main/model.safetensors"
    monkeypatch.setitem(registry._OFFICIAL, "hub_probe", lambda: url)
    assert registry.official_file("hub_probe").name == "nvidia--segformer-b0--model.safetensors"


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 2)


def test_official_safetensors_are_read_and_converted(tmp_path, monkeypatch):
    """A checkpoint in foreign names: downloaded (here from a file:// address), read with
    safetensors and mapped by ``convert``; a second call reads the cached file."""
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    weights = {"dense.weight": torch.randn(2, 3), "dense.bias": torch.randn(2)}
    published = tmp_path / "model.safetensors"
    save_file(weights, str(published))
    url = published.as_uri()
    monkeypatch.setitem(registry._BUILDERS, "hub_probe", _Tiny)
    monkeypatch.setitem(registry._OFFICIAL, "hub_probe", lambda: url)
    monkeypatch.setitem(registry._CONVERT, "hub_probe",
                        lambda state: {k.replace("dense.", "proj."): v for k, v in state.items()})
    model = get_model("hub_probe", weights="official")
    assert torch.equal(model.proj.weight, weights["dense.weight"])
    assert registry.official_file("hub_probe").is_file()
    published.unlink()  # the cached copy serves the second call
    assert torch.equal(get_model("hub_probe", weights="official").proj.bias, weights["dense.bias"])


def test_a_hub_pickle_is_cached_under_its_repository_too(tmp_path, monkeypatch):
    """The Hub's pytorch_model.bin (CLIPSeg's) has the same name in every repository: it is
    cached as <owner>--<repo>--pytorch_model.bin, read with torch.load, then converted."""
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    weights = {"dense.weight": torch.randn(2, 3), "dense.bias": torch.randn(2)}
    url = "https://huggingface.co/owner/repo/resolve/main/pytorch_model.bin"
    cached = tmp_path / "cache" / "checkpoints" / "owner--repo--pytorch_model.bin"
    cached.parent.mkdir(parents=True)
    torch.save(weights, cached)  # as if downloaded before: torch.hub reads the cached file
    monkeypatch.setitem(registry._BUILDERS, "hub_probe", _Tiny)
    monkeypatch.setitem(registry._OFFICIAL, "hub_probe", lambda: url)
    monkeypatch.setitem(registry._CONVERT, "hub_probe",
                        lambda state: {k.replace("dense.", "proj."): v for k, v in state.items()})
    assert registry.official_file("hub_probe") == cached
    assert torch.equal(get_model("hub_probe", weights="official").proj.weight,
                       weights["dense.weight"])
