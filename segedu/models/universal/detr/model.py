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

The universal contract (:mod:`segedu.models.universal.base`): ``targets`` gives a box for every
segment of a panoptic ground truth, stuff and things (the paper's panoptic training, Sec. 4.4;
:func:`.boxes.panoptic_box_targets`), ``loss`` is :class:`~..set_prediction.SetCriterion`'s
(Hungarian matching, class, L1 and GIoU losses on every decoder layer) and ``postprocess`` reads
the detections out (``task="instance"``, boxes without masks, :func:`.boxes.box_detections`); the
semantic and panoptic read-outs need the mask head that is left out, and raise.

Registered builders: ``detr_resnet50`` (the paper's network) and ``detr`` (slim, for 128-pixel
synthetic scenes).
"""

from __future__ import annotations

import torch
from torch import nn

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ....nn.mlp import MLP
from ....nn.position_encoding import PositionEmbeddingSine
from ....nn.resnet_backbone import build_backbone
from ...registry import register_model
from ..base import UniversalModel, check_image_batch
from ..set_prediction import SetCriterion, cached_criterion
from .boxes import box_detections, panoptic_box_targets
from .transformer import DetrTransformer

__all__ = ["DETR", "detr", "detr_resnet50"]


class DETR(UniversalModel):
    """DETR with a ResNet backbone (see the module docstring), a
    :class:`~segedu.models.universal.base.UniversalModel` whose read-out is boxes.

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
        criterion: keyword arguments of the :class:`~..set_prediction.SetCriterion` of
            :meth:`loss` (``num_classes`` is the model's), e.g. ``eos_coef``.
    """

    def __init__(self, *, num_classes: int, backbone: str = "resnet50", backbone_width: int = 64,
                 frozen_batch_norm: bool = True, hidden_dim: int = 256, num_heads: int = 8,
                 encoder_layers: int = 6, decoder_layers: int = 6, ffn_dim: int = 2048,
                 num_queries: int = 100, aux_loss: bool = True,
                 criterion: dict | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError("num_classes (without 'no object') must be a positive int, got "
                             f"{num_classes!r}")
        if hidden_dim % 4:
            raise ValueError(f"hidden_dim must be a multiple of 4, got {hidden_dim}")
        if num_queries < 1:
            raise ValueError(f"num_queries must be positive, got {num_queries}")
        self.num_classes, self.aux_loss = num_classes, aux_loss
        self.criterion_options = dict(criterion or {})
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

    def targets(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The boxes of one image's panoptic ground truth ``(H, W, 2)`` int64 ``(category_id,
        instance_id)``: ``labels (M,)`` int64 and ``boxes (M, 4)`` ``(cx, cy, w, h)`` relative to
        the image, one per segment (stuff and things) whose category is one of the model's ``0 ..
        num_classes - 1`` (others are void), sorted by instance id, then category."""
        _, _, pairs, masks = self.panoptic_segments(
            target, lambda category, _: (category >= 0) & (category < self.num_classes))
        return panoptic_box_targets(masks, pairs[:, 1])

    def loss(self, outputs: dict, targets: list[dict[str, torch.Tensor]]
             ) -> dict[str, torch.Tensor]:
        """The unweighted losses of :class:`~..set_prediction.SetCriterion` (the model's
        ``num_classes``, the constructor's ``criterion`` options) of ``forward``'s outputs
        against one :meth:`targets` dict per image; :meth:`total_loss` weights and adds them."""
        return self._criterion(outputs["pred_logits"].device)(outputs, targets)

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """:meth:`SetCriterion.total <..set_prediction.SetCriterion.total>`: class 1, L1 5,
        GIoU 2 (DETR's weights), on every layer; the logged errors left out."""
        return self._criterion(next(iter(losses.values())).device).total(losses)

    def postprocess(self, outputs: dict, *, task: str,
                    output_size: tuple[int, int] | None = None,
                    threshold: float = 0.0) -> list[dict[str, torch.Tensor]]:
        """The detections of ``forward``'s outputs: for ``task="instance"``, one dict per image
        with ``scores (n,)``, ``labels (n,)`` and ``boxes (n, 4)`` ``xyxy`` (pixels of
        ``output_size = (H, W)``, else relative), no masks (:func:`.boxes.box_detections`).
        ``"semantic"`` and ``"panoptic"`` raise: they need DETR's mask head, left out here."""
        self.check_task(task)
        if task != "instance":
            raise ValueError(f"DETR predicts boxes only (its panoptic mask head is left out): "
                             f"task must be 'instance', got {task!r}")
        return box_detections(outputs, output_size=output_size, threshold=threshold)

    def _criterion(self, device: torch.device) -> SetCriterion:
        # built on demand and kept out of the module's state dict (the converter's keys stay)
        return cached_criterion(self, lambda: SetCriterion(
            num_classes=self.num_classes, **self.criterion_options), device)


@register_model("detr_resnet50")
def detr_resnet50(**kwargs) -> DETR:
    """The paper's DETR (Table 1, "DETR"): ResNet-50 with frozen batch norms, width 256, 8 heads,
    6 encoder and 6 decoder layers (FFN 2048), 100 queries, ``num_classes=91`` (COCO's category
    ids); 41,524,768 parameters, as ``transformers``' ``DetrForObjectDetection`` with its own
    ResNet-50, whose weights :func:`.convert.convert_transformers_state_dict` loads (the
    converter maps that backbone only; a timm backbone's keys raise, so no official checkpoint
    is registered). Every argument of :class:`DETR` can be overridden."""
    return DETR(**{"num_classes": 91, **kwargs})


@register_model("detr")
def detr(**kwargs) -> DETR:
    """Slim DETR for segedu's 128-pixel synthetic scenes: ResNet-18 of width 16 with trainable
    batch norm, width 64, 4 heads, 2 encoder and 3 decoder layers (FFN 256), 20 queries,
    ``num_classes=6`` (the scenes' sky, grass, water, circle, rectangle, triangle; DETR's
    panoptic targets give stuff boxes too). 1,021,019 parameters. Every argument of
    :class:`DETR` can be overridden."""
    config = dict(num_classes=6, backbone="resnet18", backbone_width=16, frozen_batch_norm=False,
                  hidden_dim=64, num_heads=4, encoder_layers=2, decoder_layers=3, ffn_dim=256,
                  num_queries=20)
    return DETR(**{**config, **kwargs})
