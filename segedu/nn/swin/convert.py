"""torchvision's ``swin_t`` state dict -> segedu's :class:`~segedu.nn.swin.SwinTransformer` names.

torchvision numbers everything in one ``features`` ``Sequential``: ``features.0`` is the patch
embedding (``0`` the convolution, ``2`` the LayerNorm), odd indices ``1, 3, 5, 7`` the four
stages' blocks and even indices ``2, 4, 6`` the patch mergings between them; the MLP is a
``Sequential`` (``mlp.0``, ``mlp.3``). segedu names them: ``patch_embed.proj``,
``patch_embed.norm``, ``stages.<i>.blocks.<j>``, ``stages.<i>.downsample``, ``mlp.fc1``,
``mlp.fc2``. The relative position index, which torchvision saves, is a function of the window
size and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["convert_torchvision_swin"]

_MLP = {"mlp.0.": "mlp.fc1.", "mlp.3.": "mlp.fc2."}


def _rename(key: str) -> str | None:
    """One torchvision key -> its segedu name (None: drop it)."""
    if key.endswith("relative_position_index"):
        return None
    if key.startswith("features.0.0."):
        return "patch_embed.proj." + key[len("features.0.0."):]
    if key.startswith("features.0.2."):
        return "patch_embed.norm." + key[len("features.0.2."):]
    match = re.match(r"features\.(\d+)\.(.*)", key)
    if match is None:  # norm.*, head.*
        return key
    index, rest = int(match[1]), match[2]
    if index % 2 == 0:  # patch merging before stage index / 2
        return f"stages.{index // 2}.downsample.{rest}"
    for old, new in _MLP.items():
        rest = rest.replace(old, new)
    return f"stages.{index // 2}.blocks.{rest}"  # "<block>.norm1.weight" etc.


def convert_torchvision_swin(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``torchvision.models.swin_t().state_dict()`` -> the same tensors under segedu's names."""
    out = {}
    for key, value in state_dict.items():
        new = _rename(key)
        if new is not None:
            out[new] = value
    return out
