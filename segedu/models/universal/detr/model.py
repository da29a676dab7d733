r"""DETR (Carion, Massa, Synnaeve, Usunier, Kirillov & Zagoruyko, "End-to-End Object Detection with
Transformers", ECCV 2020): the network.

A detector without anchors, proposals or non-maximum suppression: ``Q`` learned object queries
each predict one box and its class, or "no object"::

    images (B, 3, H, W) in [0, 1], normalised inside (ImageNet mean and std)
      -> backbone (ResNet)           (B, C_b, H/32, W/32)        the last stage only
      -> input projection (1x1)      (B, C, H/32, W/32)          C = hidden_dim
      -> + sine position code        (B, C, H/32, W/32)          added inside every attention
      -> transformer encoder         (B, h w, C)                  pixels attend to pixels
      -> transformer decoder         (L, B, Q, C)                 Q queries attend to the pixels
      -> class head (Linear)         pred_logits (B, Q, K + 1)    the last class "no object"
         box head (3-layer MLP)      pred_boxes  (B, Q, 4)        sigmoid: (cx, cy, w, h) in [0, 1]

The heads read every decoder layer; the last layer's predictions are the output, the ``L - 1``
earlier ones its ``aux_outputs`` (the paper's auxiliary decoding losses). This is the input of
:class:`~segedu.models.universal.detr.HungarianMatcher` and
:class:`~segedu.models.universal.detr.SetCriterion`. Boxes are relative to the image.

Relation to the references: the arithmetic of facebookresearch/detr's ``DETR`` (post-norm, sine
code with ``normalize=True``, zero decoder input) in evaluation (no dropout), and of
``transformers``' ``DetrForObjectDetection``; ``tests/models/universal/detr/test_model.py``
loads the same weights into both (:func:`.convert.convert_transformers_state_dict`) and compares
their outputs. Left out: the padding mask of a batch of images of different sizes (one tensor of
equal images here, so no pixel is padding) and the panoptic mask head.
"""

from __future__ import annotations

import torch
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.mlp import MLP
from ....nn.position_encoding import PositionEmbeddingSine
from ....nn.resnet_backbone import build_backbone
from ..base import check_image_batch
from .transformer import DetrTransformer

__all__ = ["DETR"]


class DETR(nn.Module):
    """DETR with a ResNet backbone (see the module docstring).

    Args (keyword-only):
        num_classes: ``K`` object classes, *without* "no object" (the class head has ``K + 1``).
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (the paper: ResNet-50).
        backbone_width: first-stage width of the ResNet (64 is the published network).
        frozen_batch_norm: freeze the backbone's batch norms (the paper, with ImageNet weights).
        hidden_dim: the transformer's width ``C`` (256), a multiple of 4 (the sine code has
            ``C / 2`` channels for y and for x, alternating sines and cosines).
        num_heads: attention heads (8).
        encoder_layers, decoder_layers: transformer depths (6 and 6).
        ffn_dim: feed-forward width of every layer (2048).
        num_queries: ``Q`` (100), more than the objects an image holds.
        aux_loss: also return the predictions of the earlier decoder layers (``aux_outputs``).
    """

    def __init__(self, *, num_classes: int, backbone: str = "resnet50", backbone_width: int = 64,
                 frozen_batch_norm: bool = True, hidden_dim: int = 256, num_heads: int = 8,
                 encoder_layers: int = 6, decoder_layers: int = 6, ffn_dim: int = 2048,
                 num_queries: int = 100, aux_loss: bool = True) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("num_classes (without 'no object') must be a positive int, got "
                             f"{num_classes!r}")
        if hidden_dim % 4:
            raise ValueError(f"hidden_dim must be a multiple of 4, got {hidden_dim}")
        if num_queries < 1:
            raise ValueError(f"num_queries must be positive, got {num_queries}")
        self.num_classes, self.aux_loss = num_classes, aux_loss
        self.backbone = build_backbone(name=backbone, width=backbone_width,
                                       frozen_batch_norm=frozen_batch_norm)
        self.input_proj = nn.Conv2d(self.backbone.out_channels, hidden_dim, 1)
        self.position_embedding = PositionEmbeddingSine(num_pos_feats=hidden_dim // 2,
                                                        normalize=True)
        self.transformer = DetrTransformer(dim=hidden_dim, num_heads=num_heads,
                                           encoder_layers=encoder_layers,
                                           decoder_layers=decoder_layers, ffn_dim=ffn_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.bbox_embed = MLP(input_dim=hidden_dim, hidden_dim=hidden_dim, output_dim=4,
                              num_layers=3)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, images: torch.Tensor) -> dict:
        """``images (B, 3, H, W)`` float in ``[0, 1]`` ->

        ``{"pred_logits": (B, Q, K + 1), "pred_boxes": (B, Q, 4), "aux_outputs": [{"pred_logits",
        "pred_boxes"}] * (L - 1)}`` (logits, the last class "no object"; boxes ``(cx, cy, w, h)``
        relative to the image, in ``[0, 1]``; ``aux_outputs`` only with ``aux_loss``).
        """
        check_image_batch(images)
        # 1. normalise; the backbone's last stage: (B, C_b, H/32, W/32)
        x = (images - self.pixel_mean) / self.pixel_std
        features = self.backbone.forward_stages(x)[-1]
        # 2. project to the transformer's width, and the sine code of each pixel: (B, C, h, w)
        src = self.input_proj(features)
        pos = self.position_embedding(src)
        # 3. pixels as tokens (B, hw, C); the transformer gives every decoder layer (L, B, Q, C)
        hidden = self.transformer(src.flatten(2).transpose(1, 2), pos.flatten(2).transpose(1, 2),
                                  self.query_embed.weight)
        # 4. heads on every layer: class logits, and boxes squashed into the image by a sigmoid
        logits = self.class_embed(hidden)
        boxes = self.bbox_embed(hidden).sigmoid()
        outputs = {"pred_logits": logits[-1], "pred_boxes": boxes[-1]}
        if self.aux_loss:
            outputs["aux_outputs"] = [{"pred_logits": c, "pred_boxes": b}
                                      for c, b in zip(logits[:-1], boxes[:-1], strict=True)]
        return outputs
