r"""Official Mask2Former checkpoints (detectron2 format) -> segedu's state dict.

facebookresearch/Mask2Former publishes its models as detectron2 pickles (e.g.
``maskformer2_R50_bs16_50ep/model_final_94dc52.pkl`` for COCO panoptic): a dict whose ``"model"``
entry maps parameter names to numpy arrays. segedu's head uses the original's names already
(``sem_seg_head.pixel_decoder.*``, ``sem_seg_head.predictor.*``); only the backbone differs, since
segedu's ResNet has torchvision's names and detectron2's ResNet its own:

============================================  ===========================================
detectron2                                    segedu / torchvision
============================================  ===========================================
``backbone.stem.conv1.weight``                ``backbone.conv1.weight``
``backbone.stem.conv1.norm.*``                ``backbone.bn1.*``
``backbone.res{s}.{j}.conv{k}.weight``        ``backbone.layer{s-1}.{j}.conv{k}.weight``
``backbone.res{s}.{j}.conv{k}.norm.*``        ``backbone.layer{s-1}.{j}.bn{k}.*``
``backbone.res{s}.0.shortcut.weight``         ``backbone.layer{s-1}.0.downsample.0.weight``
``backbone.res{s}.0.shortcut.norm.*``         ``backbone.layer{s-1}.0.downsample.1.*``
============================================  ===========================================

The criterion's ``empty_weight`` buffer (the loss's class weights) is dropped. Reading such a pickle
(``pickle.load(f, encoding="latin1")``) runs code from the file: do it only for files you trust.
This mapping is checked against detectron2's naming rules in the tests, not against a real
checkpoint (the tests never download), so it is untested on the real files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["convert_official_state_dict"]


def _backbone_key(key: str) -> str:
    """One detectron2 ResNet key -> torchvision's name (see the module docstring)."""
    name = key.removeprefix("backbone.")
    name = name.replace("stem.conv1.norm.", "bn1.").replace("stem.conv1.", "conv1.")
    name = re.sub(r"^res(\d)\.", lambda m: f"layer{int(m.group(1)) - 1}.", name)
    name = re.sub(r"\.conv(\d)\.norm\.", r".bn\1.", name)
    name = name.replace(".shortcut.norm.", ".downsample.1.").replace(".shortcut.", ".downsample.0.")
    return "backbone." + name


def convert_official_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The ``"model"`` dict of an official checkpoint (numpy arrays or tensors) -> segedu's
    state dict."""
    converted = {}
    for key, value in state.items():
        if key.startswith("criterion."):  # loss buffers, not part of the network
            continue
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        converted[_backbone_key(key) if key.startswith("backbone.") else key] = tensor
    return converted
