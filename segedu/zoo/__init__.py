"""segedu's own small checkpoints, trained on its synthetic data: real predictions offline.

Each entry names a registered model, the keyword arguments it was built with, its checkpoint (a
float16 state dict shipped inside the package) and its model card (how it was trained, with the
command that reproduces it, and its score on a held-out synthetic split). ``get_model(name,
weights="zoo")`` builds the model with those arguments and loads the checkpoint.

Reproduce a checkpoint with ``python -m segedu.zoo.train <name>`` (see :mod:`segedu.zoo.train`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["ZooEntry", "ZOO", "zoo_state_dict", "FOLDER"]

FOLDER = Path(__file__).parent / "checkpoints"


@dataclass(frozen=True)
class ZooEntry:
    """A zoo checkpoint: the model's registered name, its build arguments, its files."""

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoint(self) -> Path:
        return FOLDER / f"{self.model}_scenes.pt"

    @property
    def card(self) -> Path:
        return FOLDER / f"{self.model}_scenes.md"


ZOO: dict[str, ZooEntry] = {
    "unet": ZooEntry("unet", dict(num_classes=6, width=16, depth=3)),
}


def zoo_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The float32 state dict of zoo model ``name`` (stored in float16)."""
    if name not in ZOO:
        raise ValueError(f"segedu.zoo has no checkpoint for {name!r}; it has: {', '.join(sorted(ZOO))}")
    path = ZOO[name].checkpoint
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with `python -m segedu.zoo.train {name}`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
