"""The registered DINOv2 backbones: ``dinov2_vit{s,b,l,g}14`` and ``dinov2_vit{s,b,l,g}14_reg``.

Oquab et al., "DINOv2", TMLR 2024 (Table 16's architectures: ViT-S/B/L/g with patch 14, trained
at 518 pixels, so a 37 x 37 positional grid); registers: Darcet et al., ICLR 2024 (4 registers).
ViT-g uses the SwiGLU feed-forward network. Every model is :class:`~.model.Dinov2`.

``get_model("dinov2_vits14", weights="official")`` downloads the HuggingFace Hub's
``model.safetensors`` of the repository named in :data:`HF_REPOS` (``facebook/dinov2-small`` ...,
``facebook/dinov2-with-registers-small`` ..., the repositories transformers' documentation uses)
and maps its names with :func:`~.convert.convert_dinov2_state_dict`; the outputs then equal
transformers' ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (tested on random weights). The
parameter counts below are each builder's, checked in the tests against transformers' model of the
same configuration (built on the meta device).
"""

from __future__ import annotations

from typing import Any

from ...registry import register_model
from .convert import convert_dinov2_state_dict
from .model import Dinov2

__all__ = [
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

HF_REPOS = {
    "dinov2_vits14": "facebook/dinov2-small",
    "dinov2_vitb14": "facebook/dinov2-base",
    "dinov2_vitl14": "facebook/dinov2-large",
    "dinov2_vitg14": "facebook/dinov2-giant",
    "dinov2_vits14_reg": "facebook/dinov2-with-registers-small",
    "dinov2_vitb14_reg": "facebook/dinov2-with-registers-base",
    "dinov2_vitl14_reg": "facebook/dinov2-with-registers-large",
    "dinov2_vitg14_reg": "facebook/dinov2-with-registers-giant",
}


def hf_url(name: str) -> str:
    """The address of model ``name``'s ``model.safetensors`` on the HuggingFace Hub."""
    return f"https://huggingface.co/{HF_REPOS[name]}/resolve/main/model.safetensors"


# width D, depth, heads of each size (DINOv2's Table 16)
_SIZES = {"s": (384, 12, 6), "b": (768, 12, 12), "l": (1024, 24, 16), "g": (1536, 40, 24)}


def _dinov2(size: str, registers: int, kwargs: dict[str, Any]) -> Dinov2:
    """The DINOv2 ViT of ``size`` with ``registers`` register tokens, ``kwargs`` overriding."""
    dim, depth, heads = _SIZES[size]
    defaults = dict(img_size=518, patch_size=14, embed_dim=dim, depth=depth, num_heads=heads,
                    swiglu=size == "g", num_register_tokens=registers)
    return Dinov2(**{**defaults, **kwargs})


def _official(name: str) -> dict[str, Any]:
    return dict(official=lambda: hf_url(name), convert=convert_dinov2_state_dict)


@register_model("dinov2_vits14", **_official("dinov2_vits14"))
def dinov2_vits14(**kwargs: Any) -> Dinov2:
    """ViT-S/14: D = 384, 12 blocks, 6 heads; 22,056,576 parameters."""
    return _dinov2("s", 0, kwargs)


@register_model("dinov2_vitb14", **_official("dinov2_vitb14"))
def dinov2_vitb14(**kwargs: Any) -> Dinov2:
    """ViT-B/14: D = 768, 12 blocks, 12 heads; 86,580,480 parameters."""
    return _dinov2("b", 0, kwargs)


@register_model("dinov2_vitl14", **_official("dinov2_vitl14"))
def dinov2_vitl14(**kwargs: Any) -> Dinov2:
    """ViT-L/14: D = 1024, 24 blocks, 16 heads; 304,368,640 parameters."""
    return _dinov2("l", 0, kwargs)


@register_model("dinov2_vitg14", **_official("dinov2_vitg14"))
def dinov2_vitg14(**kwargs: Any) -> Dinov2:
    """ViT-g/14: D = 1536, 40 blocks, 24 heads, SwiGLU; 1,136,480,768 parameters."""
    return _dinov2("g", 0, kwargs)


@register_model("dinov2_vits14_reg", **_official("dinov2_vits14_reg"))
def dinov2_vits14_reg(**kwargs: Any) -> Dinov2:
    """ViT-S/14 with 4 registers; 22,058,112 parameters."""
    return _dinov2("s", 4, kwargs)


@register_model("dinov2_vitb14_reg", **_official("dinov2_vitb14_reg"))
def dinov2_vitb14_reg(**kwargs: Any) -> Dinov2:
    """ViT-B/14 with 4 registers; 86,583,552 parameters."""
    return _dinov2("b", 4, kwargs)


@register_model("dinov2_vitl14_reg", **_official("dinov2_vitl14_reg"))
def dinov2_vitl14_reg(**kwargs: Any) -> Dinov2:
    """ViT-L/14 with 4 registers; 304,372,736 parameters."""
    return _dinov2("l", 4, kwargs)


@register_model("dinov2_vitg14_reg", **_official("dinov2_vitg14_reg"))
def dinov2_vitg14_reg(**kwargs: Any) -> Dinov2:
    """ViT-g/14 with 4 registers, SwiGLU; 1,136,486,912 parameters."""
    return _dinov2("g", 4, kwargs)
