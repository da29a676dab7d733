"""DINOv2 (Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision", TMLR
2024) and its register tokens (Darcet et al., "Vision Transformers Need Registers", ICLR 2024).

One concept per module:

- :mod:`.layer_scale`: :class:`LayerScale`, the learned per-channel gain of each branch;
- :mod:`.swiglu`: :class:`SwiGLUFFN`, the gated feed-forward network of ViT-g;
- :mod:`.block`: :class:`Dinov2Block`, ViT's pre-norm block with LayerScale;
- :mod:`.embeddings`: :class:`Dinov2Embeddings`, patch, class and register tokens and the
  interpolated positions;
- :mod:`.model`: :class:`Dinov2`, the backbone;
- :mod:`.convert`: :func:`convert_dinov2_state_dict`, transformers' names -> segedu's;
- :mod:`.build`: the registered ``dinov2_vit{s,b,l,g}14`` and ``dinov2_vit{s,b,l,g}14_reg``;
- :mod:`.linear_probe`: :class:`LinearProbe`, DINOv2's linear segmentation probe on frozen patch
  tokens (trained and scored on the synthetic scenes by :mod:`segedu.zoo.linear_probe`).
"""

from . import build
from .block import Dinov2Block
from .build import (
    HF_REPOS,
    dinov2_vitb14,
    dinov2_vitb14_reg,
    dinov2_vitg14,
    dinov2_vitg14_reg,
    dinov2_vitl14,
    dinov2_vitl14_reg,
    dinov2_vits14,
    dinov2_vits14_reg,
    hf_url,
)
from .convert import convert_dinov2_state_dict
from .embeddings import Dinov2Embeddings
from .layer_scale import LayerScale
from .linear_probe import LinearProbe
from .model import Dinov2
from .swiglu import SwiGLUFFN, swiglu_hidden_features

__all__ = [
    "LayerScale",
    "SwiGLUFFN",
    "swiglu_hidden_features",
    "Dinov2Block",
    "Dinov2Embeddings",
    "Dinov2",
    "LinearProbe",
    "convert_dinov2_state_dict",
    "build",
    "HF_REPOS",
    "hf_url",
    "dinov2_vits14",
    "dinov2_vitb14",
    "dinov2_vitl14",
    "dinov2_vitg14",
    "dinov2_vits14_reg",
    "dinov2_vitb14_reg",
    "dinov2_vitl14_reg",
    "dinov2_vitg14_reg",
]
