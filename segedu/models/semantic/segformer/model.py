"""SegFormer (Xie, Wang, Yu, Anandkumar, Alvarez & Luo, "SegFormer: Simple and Efficient Design
for Semantic Segmentation with Transformers", NeurIPS 2021): the network and its builders.

A hierarchical transformer encoder without position embeddings and a decoder of four linear
layers::

    images (B, 3, H, W)
      -> Mix Transformer (.mix_transformer)   4 maps at strides 4, 8, 16, 32
      -> all-MLP decoder (.decoder)           logits (B, K, H/4, W/4)
      -> bilinear up-sampling                 out    (B, K, H, W)

The semantic family's contract (:mod:`segedu.models.semantic.base`) asks for logits at the input's
size: the reference (``transformers``' ``SegformerForSemanticSegmentation``, and the NVlabs code)
returns them at 1/4 of it and up-samples them bilinearly (``align_corners=False``) for its loss and
its post-processing; :class:`Segformer` does that up-sampling in ``forward``, and
:meth:`Segformer.decode` gives the reference's 1/4-resolution logits.

Inputs are used as given, as by the other semantic models: the official checkpoints expect images
normalised with ImageNet's mean and standard deviation (``transformers``' image processor does
it); the zoo's model is trained on scenes in ``[0, 1]``.

Builders (:func:`segedu.models.get_model`): ``segformer_b0`` ... ``segformer_b5``, the published
sizes (:data:`.config.SEGFORMER_SIZES`) whose ``weights="official"`` are NVIDIA's ADE20K
checkpoints on the HuggingFace Hub, converted by :func:`.convert.convert_transformers_state_dict`;
``segformer_tiny``, a slim one for segedu's zoo; ``segformer``, any size given as a
:class:`.config.SegformerConfig`'s fields. Parameter counts with 150 classes (measured, equal to
``transformers``'; ``tests/models/semantic/test_segformer.py``): B0 3,752,694, B1 13,715,798,
B5 84,708,694 (the paper: 3.8 M, 13.7 M, 84.7 M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ....nn.vit import check_images
from ...registry import register_model
from ..base import SemanticOutput, SemanticSegmenter
from .config import SEGFORMER_SIZES, SegformerConfig
from .convert import convert_transformers_state_dict
from .decoder import AllMLPDecoder
from .mix_transformer import MixTransformer

__all__ = ["Segformer", "segformer", "segformer_b0", "segformer_b1", "segformer_b2",
           "segformer_b3", "segformer_b4", "segformer_b5", "segformer_tiny", "OFFICIAL_REPOS"]


class Segformer(SemanticSegmenter):
    """Mix Transformer encoder and all-MLP decoder (see the module docstring).

    ``forward``: images ``(N, C_in, H, W)`` (any ``H, W``) -> ``{"out": (N, K, H, W)}``.

    Args (keyword-only):
        config: the sizes (:class:`.config.SegformerConfig`; default B0 with 150 classes).
    """

    def __init__(self, *, config: SegformerConfig | None = None) -> None:
        super().__init__()
        self.config = config = SegformerConfig() if config is None else config
        self.encoder = MixTransformer(config=config)
        self.decode_head = AllMLPDecoder(in_channels=config.hidden_sizes, dim=config.decoder_dim,
                                         num_classes=config.num_classes,
                                         dropout=config.classifier_dropout)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C_in, H, W)`` -> the reference's logits ``(N, K, h_1, w_1)`` at stride 4
        (``h_1 = ceil(H / 4)`` for the published first stage)."""
        check_images(x, in_chans=self.config.in_channels, patch_size=1)
        return self.decode_head(self.encoder(x))

    def forward(self, x: torch.Tensor) -> SemanticOutput:
        # 1. the four stages' maps, decoded to logits at stride 4: (N, K, H/4, W/4)
        logits = self.decode(x)
        # 2. up-sampled to the input's size, as the reference does for its loss: (N, K, H, W)
        return {"out": F.interpolate(logits, size=x.shape[-2:], mode="bilinear",
                                     align_corners=False)}


# NVIDIA's checkpoints fine-tuned on ADE20K (150 classes), as transformers' documentation names them
OFFICIAL_REPOS = {
    "b0": "nvidia/segformer-b0-finetuned-ade-512-512",
    "b1": "nvidia/segformer-b1-finetuned-ade-512-512",
    "b2": "nvidia/segformer-b2-finetuned-ade-512-512",
    "b3": "nvidia/segformer-b3-finetuned-ade-512-512",
    "b4": "nvidia/segformer-b4-finetuned-ade-512-512",
    "b5": "nvidia/segformer-b5-finetuned-ade-640-640",
}


def _official(size: str):
    """The address of the ``model.safetensors`` of size ``size``'s official checkpoint."""
    return lambda: f"https://huggingface.co/{OFFICIAL_REPOS[size]}/resolve/main/model.safetensors"


def _build(size: str, changes: dict) -> Segformer:
    """A :class:`Segformer` of the published size ``size`` with ``changes`` to its fields."""
    return Segformer(config=SEGFORMER_SIZES[size].updated(**changes))


@register_model("segformer")
def segformer(**fields) -> Segformer:
    """SegFormer of any size: ``fields`` of :class:`.config.SegformerConfig` (default: B0)."""
    return Segformer(config=SegformerConfig().updated(**fields))


@register_model("segformer_b0", official=_official("b0"), convert=convert_transformers_state_dict)
def segformer_b0(**changes) -> Segformer:
    """SegFormer-B0 (MiT-B0, widths 32-256, decoder 256; 150 classes unless changed)."""
    return _build("b0", changes)


@register_model("segformer_b1", official=_official("b1"), convert=convert_transformers_state_dict)
def segformer_b1(**changes) -> Segformer:
    """SegFormer-B1 (MiT-B1, widths 64-512, depths 2-2-2-2, decoder 256)."""
    return _build("b1", changes)


@register_model("segformer_b2", official=_official("b2"), convert=convert_transformers_state_dict)
def segformer_b2(**changes) -> Segformer:
    """SegFormer-B2 (MiT-B2, depths 3-4-6-3, decoder 768)."""
    return _build("b2", changes)


@register_model("segformer_b3", official=_official("b3"), convert=convert_transformers_state_dict)
def segformer_b3(**changes) -> Segformer:
    """SegFormer-B3 (MiT-B3, depths 3-4-18-3, decoder 768)."""
    return _build("b3", changes)


@register_model("segformer_b4", official=_official("b4"), convert=convert_transformers_state_dict)
def segformer_b4(**changes) -> Segformer:
    """SegFormer-B4 (MiT-B4, depths 3-8-27-3, decoder 768)."""
    return _build("b4", changes)


@register_model("segformer_b5", official=_official("b5"), convert=convert_transformers_state_dict)
def segformer_b5(**changes) -> Segformer:
    """SegFormer-B5 (MiT-B5, depths 3-6-40-3, decoder 768; ADE20K at 640 x 640)."""
    return _build("b5", changes)


@register_model("segformer_tiny")
def segformer_tiny(**changes) -> Segformer:
    """segedu's slim SegFormer for the zoo's 128 x 128 scenes (6 classes; widths 16-128, decoder
    64; :data:`.config.SEGFORMER_SIZES`), trained on a CPU."""
    return _build("tiny", changes)
