r"""Mask2Former (Cheng, Misra, Schwing, Kirillov & Girdhar, "Masked-attention Mask Transformer for
Universal Image Segmentation", CVPR 2022): the network.

One architecture for semantic, instance and panoptic segmentation: the model predicts a *set* of
``Q`` masks, each with a class (or "no object"); the three tasks differ only in how the set is
trained and read out (see the matcher, criterion and inference modules of this package)::

    images (B, 3, H, W)
      -> backbone (ResNet)      res2 .. res5, strides 4, 8, 16, 32     (:mod:`.backbone`)
      -> pixel decoder          mask features (B, D, H/4, W/4)         (:mod:`.pixel_decoder`)
                                + 3 maps at strides 32, 16, 8
      -> transformer decoder    Q queries, masked attention, N layers  (:mod:`.transformer_decoder`)
      -> pred_logits (B, Q, K + 1), pred_masks (B, Q, H/4, W/4), aux_outputs (N earlier predictions)

Input: float images in ``[0, 1]``, normalised inside with the ImageNet mean and std (the original
does the same on ``[0, 255]`` images with ``PIXEL_MEAN/STD`` = 255 x these). Images whose sides are
not multiples of 32 are zero-padded at the bottom and right (after normalisation, as detectron2's
``ImageList`` with ``SIZE_DIVISIBILITY: 32``) and the masks are cropped back to
``(ceil(H / 4), ceil(W / 4))``.

State-dict names follow the original checkpoint's: ``sem_seg_head.pixel_decoder.*`` and
``sem_seg_head.predictor.*`` are the original's names exactly; ``backbone.*`` uses torchvision's
ResNet names (see :mod:`.backbone`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.resnet_backbone import build_backbone
from ...registry import register_model
from ..base import UniversalModel, check_image_batch
from .inference import QueryInference
from .pixel_decoder import MSDeformAttnPixelDecoder
from .query_training import QueryTraining
from .transformer_decoder import MultiScaleMaskedTransformerDecoder

__all__ = ["Mask2Former", "Mask2FormerHead", "mask2former", "mask2former_resnet50"]


class Mask2FormerHead(nn.Module):
    """The pixel decoder and the transformer decoder (detectron2's ``MaskFormerHead``, the
    ``sem_seg_head`` of the checkpoint): ``[res2 .. res5] -> predictions``."""

    def __init__(self, *, pixel_decoder: MSDeformAttnPixelDecoder,
                 predictor: MultiScaleMaskedTransformerDecoder) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor

    def forward(self, features: list[torch.Tensor]) -> dict:
        mask_features, multi_scale_features = self.pixel_decoder(features)
        return self.predictor(multi_scale_features, mask_features)


class Mask2Former(QueryInference, QueryTraining, UniversalModel):
    """Mask2Former with a ResNet backbone (see the module docstring); a
    :class:`~segedu.models.universal.base.UniversalModel`: ``targets`` gives the segments of
    a panoptic map and ``loss`` is :class:`.MaskSetCriterion`'s (both from
    :class:`.query_training.QueryTraining`), ``postprocess`` the readouts of
    :class:`.inference.QueryInference`.

    Args (keyword-only):
        num_classes: ``K`` object/stuff classes, *without* "no object" (the class head has
            ``K + 1``).
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        backbone_width: first-stage width of the ResNet (64 is the published network).
        frozen_batch_norm: freeze the backbone's batch norms (the paper, with ImageNet weights).
        hidden_dim: width of the pixel decoder (``conv_dim``), of its mask features (``mask_dim``)
            and of the transformer decoder.
        num_queries: ``Q``.
        num_heads: attention heads of the encoder and the decoder.
        encoder_layers, encoder_ffn_dim: deformable encoder depth and feed-forward width.
        decoder_layers, decoder_ffn_dim: transformer decoder depth ``N`` and feed-forward width.
        num_points: sampling points per head and level of the deformable attention.
        num_groups: groups of the pixel decoder's GroupNorms.
        size_divisibility: pad the images to a multiple of this (32: the backbone's total stride).
        criterion: keyword arguments of the :class:`.MaskSetCriterion` of :meth:`loss`
            (``num_classes`` is the model's), e.g. ``num_points``.
    """

    def __init__(self, *, num_classes: int, backbone: str = "resnet50", backbone_width: int = 64,
                 frozen_batch_norm: bool = True, hidden_dim: int = 256, num_queries: int = 100,
                 num_heads: int = 8,
                 encoder_layers: int = 6, encoder_ffn_dim: int = 1024, decoder_layers: int = 9,
                 decoder_ffn_dim: int = 2048, num_points: int = 4, num_groups: int = 32,
                 size_divisibility: int = 32, criterion: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("num_classes (without 'no object') must be a positive int, got "
                             f"{num_classes!r}")
        self.num_classes, self.num_queries = num_classes, num_queries
        self.size_divisibility = size_divisibility
        self.criterion_options = dict(criterion or {})
        self.backbone = build_backbone(name=backbone, width=backbone_width,
                                       frozen_batch_norm=frozen_batch_norm)
        pixel_decoder = MSDeformAttnPixelDecoder(
            in_channels=self.backbone.stage_channels, conv_dim=hidden_dim, mask_dim=hidden_dim,
            num_encoder_layers=encoder_layers, encoder_ffn_dim=encoder_ffn_dim, num_heads=num_heads,
            num_points=num_points, num_groups=num_groups)
        predictor = MultiScaleMaskedTransformerDecoder(
            in_channels=hidden_dim, num_classes=num_classes, hidden_dim=hidden_dim,
            num_queries=num_queries,
            num_heads=num_heads, ffn_dim=decoder_ffn_dim, num_layers=decoder_layers,
            mask_dim=hidden_dim)
        self.sem_seg_head = Mask2FormerHead(pixel_decoder=pixel_decoder, predictor=predictor)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, images: torch.Tensor) -> dict:
        """``images (B, 3, H, W)`` float in ``[0, 1]`` ->

        ``{"pred_logits": (B, Q, K + 1), "pred_masks": (B, Q, ceil(H/4), ceil(W/4)),
        "aux_outputs": [{"pred_logits", "pred_masks"}] * N}`` (logits; the last class is
        "no object").
        """
        check_image_batch(images)
        height, width = images.shape[-2:]
        # 1. normalise, pad to a multiple of 32 at the bottom and right
        x = (images - self.pixel_mean) / self.pixel_std
        d = self.size_divisibility
        x = F.pad(x, (0, (d - width % d) % d, 0, (d - height % d) % d))
        # 2. backbone: res2 .. res5
        features = self.backbone.forward_stages(x)
        # 3. pixel decoder and transformer decoder
        outputs = self.sem_seg_head(features)
        # 4. crop the masks back to the image (stride 4)
        h, w = -(-height // 4), -(-width // 4)
        outputs["pred_masks"] = outputs["pred_masks"][..., :h, :w]
        for aux in outputs["aux_outputs"]:
            aux["pred_masks"] = aux["pred_masks"][..., :h, :w]
        return outputs


@register_model("mask2former")
def mask2former(**kwargs) -> Mask2Former:
    """Slim Mask2Former for segedu's zoo (128 px synthetic scenes, trained on a CPU).

    ResNet-18 of width 16 (stages of 16, 32, 64, 128 channels) with trainable batch norm, hidden
    width 64 (pixel decoder, mask features and queries), 4 heads, 3 deformable encoder layers (FFN
    256), 6 decoder layers (FFN 256), 50 queries, ``num_classes=6`` (the synthetic scenes' sky,
    grass, water, circle, rectangle, triangle). 1,332,743 parameters: backbone 702,096, pixel
    decoder 210,480, transformer decoder 420,167. Every argument of :class:`Mask2Former` can be
    overridden.
    """
    config = dict(num_classes=6, backbone="resnet18", backbone_width=16, frozen_batch_norm=False,
                  hidden_dim=64, num_queries=50, num_heads=4,
                  encoder_layers=3, encoder_ffn_dim=256, decoder_layers=6, decoder_ffn_dim=256)
    return Mask2Former(**{**config, **kwargs})


@register_model("mask2former_resnet50")
def mask2former_resnet50(**kwargs) -> Mask2Former:
    """The paper's Mask2Former R50: ResNet-50 (frozen BN), hidden 256, 8 heads, 6 deformable encoder
    layers (FFN 1024), 9 decoder layers (FFN 2048), 100 queries, ``num_classes=133``
    (COCO panoptic).

    43,983,878 parameters (the paper's "44M"): backbone 23,454,912 (torchvision's 25,557,032 less
    the classifier and the batch-norm affines, which frozen batch norm keeps as buffers), pixel
    decoder 6,035,904, transformer decoder 14,493,062 (the pixel decoder equals ``transformers``'
    ``Mask2FormerPixelDecoder`` in count, the decoder its ``Mask2FormerTransformerModule`` plus
    ``class_predictor``). Every argument of :class:`Mask2Former` can be overridden.
    """
    config = dict(num_classes=133, backbone="resnet50", backbone_width=64, frozen_batch_norm=True,
                  hidden_dim=256, num_queries=100, num_heads=8,
                  encoder_layers=6, encoder_ffn_dim=1024, decoder_layers=9, decoder_ffn_dim=2048)
    return Mask2Former(**{**config, **kwargs})
