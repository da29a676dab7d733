"""What the Swin and ConvNeXt equality tests share: a torchvision classifier with random weights
beside segedu's copy loaded from its state-dict file, and torchvision's four stage outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from segedu.models import get_model


def torchvision_pair(build: Callable[[], torch.nn.Module], name: str,
                     folder: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(torchvision's model from ``build()``, its weights moved off their initialisation, and
    segedu's ``name`` loaded from that model's state-dict file), both in eval mode."""
    torch.manual_seed(0)
    reference = build().eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = folder / f"{name}_torchvision.pth"
    torch.save(reference.state_dict(), path)
    return reference, get_model(name, weights=path).eval()


def reference_stages(reference: torch.nn.Module, x: torch.Tensor, *,
                     channels_last: bool = False) -> list[torch.Tensor]:
    """torchvision's stage outputs, after ``features[1, 3, 5, 7]``, channels first
    (``channels_last``: the model's maps are (B, H, W, C), as Swin's)."""
    maps = []
    for i, layer in enumerate(reference.features):
        x = layer(x)
        if i % 2 == 1:
            maps.append(x.permute(0, 3, 1, 2) if channels_last else x)
    return maps
