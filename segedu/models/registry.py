"""The model registry: ``get_model(name, *, weights=None, **kwargs)``.

Each model module registers its builders with :func:`register_model`; :func:`get_model` builds one
by name and loads its weights:

- ``weights=None``: random initialisation;
- ``weights="official"``: the original authors' checkpoint (for the models that have one),
  downloaded once into ``segedu.config.cache_dir() / "checkpoints"`` with ``torch.hub``, which
  checks the file's SHA-256 against the first digits in its name where the name carries them
  (torchvision's files); DINO's and SAM's file names carry none, so their downloads are not
  checked;
- ``weights="zoo"`` (or another registered source): trained weights served by a package that
  stands on the models, with the model built as it was trained. The registry knows sources only
  by name: a package registers one with :func:`register_weights`, and declares it under the
  ``segedu.weights`` entry-point group so that the registry can import it on first use
  (segedu's ``pyproject.toml`` declares ``zoo = "segedu.zoo"``). No module of
  :mod:`segedu.models` imports the zoo;
- ``weights=<path>``: a local checkpoint, either a bare ``state_dict`` or a dict with a
  ``"state_dict"`` (or ``"model"``) entry, loaded strictly (every key must match); for a model
  registered with a ``convert``, a state dict in the official checkpoint's names is converted
  first (one whose names are not the model's own).

An official checkpoint published in another library's names (HuggingFace ``transformers``'
``model.safetensors``) is registered with a ``convert`` function that maps its state dict to
segedu's; the file is read with ``safetensors`` when its name ends in ``.safetensors``, with
``torch.load`` otherwise.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

__all__ = [
    "register_model", "get_model", "list_models", "model_family", "load_weights",
    "official_state_dict", "official_file", "official_url", "official_models",
    "imagenet_state_dict", "register_weights", "weights_sources",
]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_OFFICIAL: dict[str, Callable[[], str]] = {}
_CONVERT: dict[str, Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]] = {}
# a source of trained weights: name -> (the build arguments it was trained with, its state dict)
WeightsSource = Callable[[str], tuple[dict[str, Any], dict[str, torch.Tensor]]]
_SOURCES: dict[str, WeightsSource] = {}
ENTRY_POINTS = "segedu.weights"


def register_model(
    name: str,
    *,
    official: Callable[[], str] | None = None,
    convert: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``builder(**kwargs) -> nn.Module`` available as ``get_model(name)``.

    ``official()`` returns the address of the original checkpoint, when there is one;
    ``convert(state_dict)`` maps that checkpoint's names to segedu's, when they differ (the
    HuggingFace ports; each family's ``convert.py``, tested against the port's own state dict).
    """
    if convert is not None and official is None:
        raise ValueError(f"{name!r}: convert is for an official checkpoint; give official too")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"a model named {name!r} is already registered")
        _BUILDERS[name] = builder
        if official is not None:
            _OFFICIAL[name] = official
        if convert is not None:
            _CONVERT[name] = convert
        return builder

    return decorate


def register_weights(source: str, serve: WeightsSource) -> None:
    """Make ``get_model(name, weights=source)`` load trained weights from ``serve``.

    ``serve(name)`` returns the keyword arguments model ``name`` was trained with and its state
    dict, or raises ``ValueError`` naming what it has. A package that stands on the models
    (:mod:`segedu.zoo`) calls this when it is imported.
    """
    if not isinstance(source, str) or not source or source == "official":
        raise ValueError(f"a weights source needs a name other than 'official', got {source!r}")
    if source in _SOURCES and _SOURCES[source] is not serve:
        raise ValueError(f"a weights source named {source!r} is already registered")
    _SOURCES[source] = serve


def weights_sources() -> list[str]:
    """The names of the weights sources declared (entry points) or registered, sorted."""
    from importlib.metadata import entry_points

    return sorted(set(_SOURCES) | {ep.name for ep in entry_points(group=ENTRY_POINTS)})


def _weights_source(source: str) -> WeightsSource | None:
    """The source registered as ``source``, importing the package that declares it under the
    ``segedu.weights`` entry points on first use; None when nothing declares it."""
    if source not in _SOURCES:
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINTS, name=source):
            importlib.import_module(point.value.split(":")[0])  # registers on import
    return _SOURCES.get(source)


def list_models() -> list[str]:
    """The names :func:`get_model` knows, sorted."""
    return sorted(_BUILDERS)


def model_family(name: str) -> str:
    """The family of model ``name``: the package of :mod:`segedu.models` its builder lives in
    (``"semantic"``, ``"top_down"``, ``"bottom_up"``, ``"universal"``, ``"foundation"`` or
    ``"classification"``),
    which says which contract the model keeps (each family's ``base.py``)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    parts = _BUILDERS[name].__module__.split(".")
    if parts[:2] != ["segedu", "models"] or len(parts) < 4:
        raise ValueError(f"the builder of {name!r} lives outside a family package: "
                         f"{'.'.join(parts)}")
    return parts[2]


def load_weights(model: nn.Module, path: str | os.PathLike, *,
                 convert: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]
                 | None = None) -> nn.Module:
    """Load a checkpoint file into ``model`` strictly; return the model. With ``convert``, a
    state dict whose names are not the model's (the official checkpoint's) is converted first."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        checkpoint: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which file
        raise ValueError(
            f"{path}: not a PyTorch checkpoint ({type(error).__name__}: {error})"
        ) from None
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(checkpoint).__name__}")
    if convert is not None and not set(checkpoint) <= set(model.state_dict()):
        try:  # the official names: rename them to the model's
            checkpoint = convert(checkpoint)
        except KeyError as error:
            raise ValueError(f"{path} is in neither {type(model).__name__}'s names nor the "
                             f"official ones: {error}") from None
    try:
        missing, unexpected = model.load_state_dict(checkpoint, strict=False)
    except RuntimeError as error:  # same names, other shapes (e.g. another number of classes)
        first = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise ValueError(f"{path} does not fit {type(model).__name__}: {first}") from None
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit {type(model).__name__}: "
            f"{len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    return model


def official_models() -> list[str]:
    """The names of the models registered with an official checkpoint, sorted."""
    return sorted(_OFFICIAL)


def official_url(name: str) -> str:
    """The address of ``name``'s original checkpoint, as its publisher gives it (torchvision's
    weight enums, timm's pretrained configurations, segment-anything's host); ``ValueError`` for
    a model without one."""
    if name not in _OFFICIAL:
        raise ValueError(
            f"{name!r} has no official checkpoint; models with one: {', '.join(sorted(_OFFICIAL))}"
        )
    return _OFFICIAL[name]()


def official_file(name: str) -> Path:
    """Where model ``name``'s official checkpoint is cached: ``segedu.config.cache_dir() /
    "checkpoints" / <the file's name in its URL>``, whether or not it is there yet. A
    HuggingFace Hub file (``https://huggingface.co/<owner>/<repo>/resolve/<rev>/<file>``, every
    repository's file being called ``model.safetensors``) is cached as
    ``<owner>--<repo>--<file>``."""
    url = urlparse(official_url(name))
    parts = url.path.strip("/").split("/")
    if url.netloc == "huggingface.co" and len(parts) >= 5 and parts[2] == "resolve":
        return _checkpoints() / "--".join([parts[0], parts[1], *parts[4:]])
    return _checkpoints() / os.path.basename(url.path)


def _checkpoints() -> Path:
    """The folder of downloaded checkpoints, ``segedu.config.cache_dir() / "checkpoints"``."""
    from ..config import cache_dir

    return cache_dir() / "checkpoints"


def _hub_state_dict(url: str, what: str, file_name: str | None = None) -> dict[str, torch.Tensor]:
    """``torch.hub``'s download (once, into :func:`_checkpoints` as ``file_name``, by default the
    URL's; the checksum digits of the file name checked) and read of the state dict at ``url``;
    a failure is the one-line :class:`~segedu.data.download.DownloadError` naming ``what`` and
    ``url``."""
    from ..data.online import download_errors

    with download_errors(what, [url]):
        return torch.hub.load_state_dict_from_url(
            url, model_dir=str(_checkpoints()), map_location="cpu", check_hash=True,
            weights_only=True, file_name=file_name,
        )


def official_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Download (once) and read the official checkpoint of model ``name``.

    The address comes from the library that publishes the weights (torchvision's weight enums,
    timm's, segment-anything's); ``torch.hub`` saves the file under its own name in
    :func:`official_file`'s folder and, where that name carries the first digits of its SHA-256
    (torchvision's files), checks them. A download that fails (no network, server error, timeout
    after ``segedu.data.online.DOWNLOAD_TIMEOUT`` seconds, wrong checksum) raises
    :class:`~segedu.data.download.DownloadError`, whose one-line message names the model and the
    URL (and which Jupyter shows as that one line).
    """
    url = official_url(name)
    what = f"the official {name} checkpoint"
    if url.endswith(".safetensors"):
        state = _safetensors_state_dict(url, official_file(name), what)
    else:  # a pickle (.pth, or the Hub's pytorch_model.bin, cached under its repository)
        state = _hub_state_dict(url, what, file_name=official_file(name).name)
    return _CONVERT[name](state) if name in _CONVERT else state


def _safetensors_state_dict(url: str, file: Path, what: str) -> dict[str, torch.Tensor]:
    """Download ``url`` once into ``file`` (``torch.hub``'s download, written whole or not at
    all) and read it with ``safetensors``; errors as :func:`_hub_state_dict`'s."""
    from ..data.online import download_errors

    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ImportError(f"{what} is a .safetensors file: `pip install safetensors`") from None
    if not file.is_file():
        file.parent.mkdir(parents=True, exist_ok=True)
        with download_errors(what, [url]):
            torch.hub.download_url_to_file(url, str(file), progress=True)
    return load_file(str(file), device="cpu")


def imagenet_state_dict(backbone: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of classifier ``backbone`` (e.g. ``"resnet34"``), for
    fine-tuning an encoder (``UNetResNet.encoder``, the ResNets of :mod:`segedu.nn.resnet`).

    The address and the checksum digits in the file name come from torchvision's weight enum
    (``torchvision.models.get_model_weights(backbone).DEFAULT``); the file is cached as
    :func:`official_state_dict`'s are, and a failed download raises the same one-line
    :class:`~segedu.data.download.DownloadError`. The classifier (``fc.*``) is included: drop it
    for an encoder.
    """
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(backbone).DEFAULT
    except (ValueError, KeyError):
        raise ValueError(f"torchvision has no ImageNet weights for {backbone!r}") from None
    return _hub_state_dict(weights.url, f"torchvision's ImageNet {backbone} weights")


def get_model(name: str, *, weights: str | os.PathLike | None = None, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with ``kwargs``, then load ``weights`` (see the
    module's docstring)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    if weights is None:
        return _BUILDERS[name](**kwargs)
    if weights == "official":
        model = _BUILDERS[name](**kwargs)
        model.load_state_dict(official_state_dict(name))
        return model
    source = _weights_source(weights) if isinstance(weights, str) else None
    if source is not None:  # built as it was trained (kwargs may only repeat those arguments)
        fixed, state = source(name)
        clash = {k: v for k, v in kwargs.items() if k in fixed and fixed[k] != v}
        if clash:
            raise ValueError(
                f"the {weights}'s {name!r} was trained with {fixed}; "
                f"it cannot be built with {clash}"
            )
        model = _BUILDERS[name](**{**fixed, **kwargs})
        model.load_state_dict(state)
        return model
    if isinstance(weights, str) and os.sep not in weights and not Path(weights).exists():
        raise ValueError(
            f"weights={weights!r} is neither a checkpoint file nor a source of weights; "
            f"give None, 'official', one of {weights_sources()} or a file's path"
        )
    return load_weights(_BUILDERS[name](**kwargs), weights, convert=_CONVERT.get(name))
