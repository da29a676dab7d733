"""torchvision's ``convnext_tiny`` state dict -> segedu's :class:`~segedu.nn.convnext.ConvNeXt`
names.

torchvision numbers the network in one ``features`` ``Sequential``: ``features.0`` is the stem
(``0`` the convolution, ``1`` the norm), odd indices the stages' blocks, even indices ``2, 4, 6``
the downsampling layers (``0`` the norm, ``1`` the convolution); a block is a ``Sequential``
``block`` (``0`` depthwise convolution, ``2`` LayerNorm, ``3`` and ``5`` the pointwise layers)
with ``layer_scale`` of shape ``(C, 1, 1)``; the head is ``classifier`` (``0`` the norm, ``2``
the linear layer). segedu's names are the paper's code's: ``dwconv``, ``norm``, ``pwconv1``,
``pwconv2``, ``gamma`` ``(C,)``, inside ``stages.<i>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_torchvision_convnext"]

_BLOCK = {"block.0.": "dwconv.", "block.2.": "norm.", "block.3.": "pwconv1.",
          "block.5.": "pwconv2."}
_HEAD = {"classifier.0.": "norm.", "classifier.2.": "head."}


def _rename(key: str) -> str:
    """One torchvision key -> its segedu name."""
    for old, new in _HEAD.items():
        if key.startswith(old):
            return new + key[len(old):]
    match = re.match(r"features\.(\d+)\.(\d+)\.(.*)", key)
    if match is None:
        raise KeyError(f"not a torchvision ConvNeXt key: {key!r}")
    index, inner, rest = int(match[1]), match[2], match[3]
    if index % 2 == 0:  # the stem (conv, norm) or a downsampling layer (norm, conv)
        layers = {"0": "conv", "1": "norm"} if index == 0 else {"0": "norm", "1": "conv"}
        if inner not in layers:
            raise KeyError(f"not a torchvision ConvNeXt key: {key!r}")
        return f"stages.{index // 2}.downsample.{layers[inner]}.{rest}"
    if rest == "layer_scale":
        return f"stages.{index // 2}.blocks.{inner}.gamma"
    for old, new in _BLOCK.items():
        if rest.startswith(old):
            return f"stages.{index // 2}.blocks.{inner}.{new}{rest[len(old):]}"
    raise KeyError(f"not a torchvision ConvNeXt key: {key!r}")


def convert_torchvision_convnext(
        state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``torchvision.models.convnext_tiny().state_dict()`` -> the same tensors under segedu's
    names (``layer_scale (C, 1, 1)`` flattened to ``gamma (C,)``)."""
    out = {}
    for key, value in state_dict.items():
        new = _rename(key)
        out[new] = value.flatten() if key.endswith("layer_scale") else value
    return out
