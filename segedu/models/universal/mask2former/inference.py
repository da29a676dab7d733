r"""Mask2Former's inference: from ``Q`` (class, mask) pairs to semantic, instance and panoptic
outputs.

Mask2Former (Cheng et al., CVPR 2022) gives, per image, ``Q`` queries, each with class logits
``(C + 1)`` (the last class is "no object") and mask logits ``(H, W)``. One trained model serves
the three tasks; only this last step differs (MaskFormer, Cheng et al. 2021, section 3.4):

- **semantic** (:meth:`semantic_scores`, :meth:`semantic_inference`): each pixel's score for
  class ``c`` adds every query's vote, its probability of ``c`` times its mask probability at the
  pixel,

  .. math:: S_c(x) = \sum_q \mathrm{softmax}(z_q)_c \; \sigma(m_q(x)),

  one ``einsum``; no-object is dropped before, not renormalised. The label is
  :math:`\arg\max_c S_c(x)`.
- **instance** (:meth:`instance_inference`): every (query, class) pair is a candidate, scored by
  its class probability; the ``topk`` best (100) are kept (a query may appear with two classes).
  A candidate's mask is ``m_q > 0`` and its final score the class probability times the mean mask
  probability inside that binary mask (a mask that is sure of itself ranks higher).
- **panoptic** (:meth:`panoptic_inference`): keep the queries whose top class is not no-object
  with probability ``> object_mask_threshold`` (0.8); give each pixel to the kept query with the
  largest ``score x mask probability``, if that query's mask probability there is ``>= 0.5``
  (else the pixel is void); drop a query whose pixels so won are less than ``overlap_threshold``
  (0.8) of its own mask (``probability >= 0.5``), i.e. a mostly hidden one; all queries of one
  *stuff* class make one segment.

Outputs follow segedu's conventions: semantic maps ``(B, H, W)`` of class ids for
:mod:`segedu.metrics`; instances as torchvision-style dicts (``masks`` bool ``(N, H, W)``,
``scores``, ``labels``, ``boxes``) for :func:`segedu.metrics.mean_average_precision`; panoptic maps
``(B, H, W, 2)`` of ``(category_id, instance_id)`` for :func:`segedu.metrics.panoptic_quality`,
as :class:`segedu.data.SyntheticScenes` writes them: class ids are the model's class indices,
thing segments get instance ids 1, 2, ... (in query order), stuff segments instance id 0, and
void pixels the category ``void_category`` (-1, outside any ``things``/``stuffs``: the metric
treats them as void).

The methods of :class:`QueryInference`, which
:class:`~segedu.models.universal.mask2former.model.Mask2Former` inherits, follow
``semantic_inference``, ``instance_inference`` and ``panoptic_inference`` of
facebookresearch/Mask2Former (``mask2former_model.py``), with ``output_size`` playing the part of
its ``sem_seg_postprocess`` run *before* inference (the mask logits are resized bilinearly,
``align_corners=False``, first). Instance candidates come sorted by class score, with boxes
computed from their masks. How this differs from the original and from transformers'
``Mask2FormerImageProcessor.post_process_*_segmentation`` is listed in the docstring of
``tests/models/universal/mask2former/test_inference.py``, whose tests pin each difference.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import torch
import torch.nn.functional as F

from ....ops import masks_to_boxes
from ..base import UniversalModel

__all__ = ["QueryInference"]


def _check(class_logits: torch.Tensor, mask_logits: torch.Tensor, batched: bool = True) -> None:
    """Shapes ``(B, Q, C + 1)`` and ``(B, Q, H, W)`` (or without ``B``), float, ``Q >= 1``,
    ``C >= 1``."""
    ndim = 3 if batched else 2
    names = "(B, Q, C + 1) and (B, Q, H, W)" if batched else "(Q, C + 1) and (Q, H, W)"
    for name, t in (("class_logits", class_logits), ("mask_logits", mask_logits)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got "
                            f"{t.dtype if isinstance(t, torch.Tensor) else type(t).__name__}")
    if class_logits.ndim != ndim or mask_logits.ndim != ndim + 1 \
            or class_logits.shape[:-1] != mask_logits.shape[:-2]:
        raise ValueError(f"class_logits and mask_logits must be {names}, got shapes "
                         f"{tuple(class_logits.shape)} and {tuple(mask_logits.shape)}")
    if class_logits.shape[-2] == 0 or class_logits.shape[-1] < 2:
        raise ValueError("need at least one query and one class besides no-object, got "
                         f"class_logits of shape {tuple(class_logits.shape)}")


def _resize(mask_logits: torch.Tensor, output_size: tuple[int, int] | None) -> torch.Tensor:
    """Mask logits ``(..., Q, H, W)`` -> float32, bilinearly resized to ``output_size``."""
    mask_logits = mask_logits.float()
    if output_size is None or tuple(mask_logits.shape[-2:]) == tuple(output_size):
        return mask_logits
    if len(output_size) != 2:
        raise ValueError(f"output_size must be (H, W), got {output_size!r}")
    lead = mask_logits.shape[:-2]
    resized = F.interpolate(mask_logits.reshape(-1, 1, *mask_logits.shape[-2:]),
                            size=tuple(output_size),
                            mode="bilinear", align_corners=False)
    return resized.reshape(*lead, *output_size)


class QueryInference:
    """Mask2Former's readouts as methods (module docstring), inherited by
    :class:`~segedu.models.universal.mask2former.model.Mask2Former`; they read only their
    arguments, not the weights."""

    def semantic_scores(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, *,
                        output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Per-class scores ``S_c(x) = sum_q softmax(z_q)_c sigmoid(m_q(x))``.

        Args:
            class_logits: ``(B, Q, C + 1)``, the last class no-object.
            mask_logits: ``(B, Q, H, W)``.
            output_size: resize the mask logits to ``(H', W')`` first (bilinear).

        Returns:
            ``(B, C, H', W')`` float32 scores (each in ``[0, Q]``; not probabilities).
        """
        _check(class_logits, mask_logits)
        # 1. class probabilities without no-object, mask probabilities
        class_probs = class_logits.float().softmax(-1)[..., :-1]  # (B, Q, C)
        mask_probs = _resize(mask_logits, output_size).sigmoid()  # (B, Q, H, W)
        # 2. every query votes for every class at every pixel
        return torch.einsum("bqc,bqhw->bchw", class_probs, mask_probs)


    def semantic_inference(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, *,
                           output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Semantic label maps ``(B, H', W')`` int64: the argmax of :meth:`semantic_scores`."""
        return self.semantic_scores(class_logits, mask_logits, output_size=output_size).argmax(1)


    def instance_inference(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, *,
                           topk: int = 100, things: Collection[int] | None = None,
                           output_size: tuple[int, int] | None = None
                           ) -> list[dict[str, torch.Tensor]]:
        """Instances: the ``topk`` best (query, class) pairs of each image.

        Args:
            class_logits: ``(B, Q, C + 1)``; mask_logits: ``(B, Q, H, W)``.
            topk: candidates kept per image (at most ``Q * C``; Mask2Former: 100).
            things: if given, candidates of other classes (stuff) are dropped afterwards, as the
                original does when it also runs panoptic inference.
            output_size: resize the mask logits to ``(H', W')`` first (bilinear).

        Returns:
            Per image, a dict (``N <= topk``, by decreasing class score): ``masks``
            ``(N, H', W')`` bool, ``scores`` ``(N,)`` float32 (class probability x mean mask
            probability inside the mask), ``labels`` ``(N,)`` int64, ``boxes`` ``(N, 4)`` xyxy
            around the masks (whole pixels, ``x2, y2`` one past the last pixel, as detectron2's
            ``BitMasks.get_bounding_boxes``; zeros for an empty mask).
        """
        _check(class_logits, mask_logits)
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
            raise ValueError(f"topk must be a positive int, got {topk!r}")
        num_classes = class_logits.shape[-1] - 1
        mask_logits = _resize(mask_logits, output_size)
        thing_ids = None if things is None else torch.tensor(sorted(things), dtype=torch.int64)
        results = []
        for logits, masks in zip(class_logits.float(), mask_logits, strict=True):
            # 1. every (query, class) pair is a candidate, scored by its class probability
            probs = logits.softmax(-1)[:, :-1]  # (Q, C)
            k = min(topk, probs.numel())
            class_scores, flat = probs.flatten().topk(k, sorted=True)  # (k,)
            labels = flat % num_classes  # the flat index is query * C + class
            query = torch.div(flat, num_classes, rounding_mode="floor")
            # 2. optionally keep things only
            if thing_ids is not None:
                keep = torch.isin(labels, thing_ids.to(labels.device))
                class_scores, labels, query = class_scores[keep], labels[keep], query[keep]
            # 3. binary masks, and the mean mask probability inside each
            logit = masks[query]  # (N, H, W)
            binary = logit > 0
            inside = binary.flatten(1).float()
            mask_scores = (logit.sigmoid().flatten(1) * inside).sum(1) / (inside.sum(1) + 1e-6)
            # 4. boxes on the pixels' far edges (empty masks keep the zero box)
            boxes = masks_to_boxes(binary, pixel_edges=True)
            results.append({"masks": binary, "scores": class_scores * mask_scores, "labels": labels,
                            "boxes": boxes})
        return results


    def panoptic_inference_single(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, *,
                                  things: Collection[int], object_mask_threshold: float = 0.8,
                                  overlap_threshold: float = 0.8, void_category: int = -1
                                  ) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        """Panoptic segmentation of one image (module docstring).

        Args:
            class_logits: ``(Q, C + 1)``; mask_logits: ``(Q, H, W)``.
            things: the thing class ids; every other class is stuff (one segment per image).
            object_mask_threshold: a query is kept when its top class is not no-object and its
                probability is ``> object_mask_threshold``.
            overlap_threshold: a kept query is dropped when the pixels it wins are fewer than this
                fraction of its own mask.
            void_category: the category of pixels no segment takes.

        Returns:
            ``panoptic`` ``(H, W, 2)`` int64 ``(category_id, instance_id)``, and one dict per
            segment, in query order: ``id`` (1, 2, ..., the original's segment id), ``category_id``,
            ``isthing``, ``instance_id`` (1, 2, ... over things; 0 for stuff) and ``score``.
        """
        _check(class_logits, mask_logits, batched=False)
        num_classes = class_logits.shape[-1] - 1
        thing_set = {int(t) for t in things}
        h, w = mask_logits.shape[-2:]
        panoptic = torch.empty((h, w, 2), dtype=torch.int64, device=mask_logits.device)
        panoptic[..., 0] = void_category
        panoptic[..., 1] = 0
        # 1. keep confident queries whose top class is an object
        scores, labels = class_logits.float().softmax(-1).max(-1)  # (Q,)
        keep = (labels != num_classes) & (scores > object_mask_threshold)
        # probs (K, H, W)
        scores, labels, probs = scores[keep], labels[keep], mask_logits[keep].float().sigmoid()
        segments: list[dict[str, Any]] = []
        if probs.shape[0] == 0:
            return panoptic, segments
        # 2. each pixel goes to the kept query with the largest score x mask probability
        owner = (scores[:, None, None] * probs).argmax(0)  # (H, W)
        stuff_segment: dict[int, dict[str, Any]] = {}  # class -> its (single) segment
        num_things = 0
        for k in range(probs.shape[0]):
            category = int(labels[k])
            won = owner == k
            own = probs[k] >= 0.5
            region = won & own  # won pixels where the query itself is sure
            won_area, own_area = int(won.sum()), int(own.sum())
            # 3. skip empty queries and mostly hidden ones
            if won_area == 0 or own_area == 0 or not bool(region.any()):
                continue
            if won_area / own_area < overlap_threshold:
                continue
            # 4. stuff: all queries of a class make one segment
            if category not in thing_set and category in stuff_segment:
                panoptic[region] = torch.tensor([category, 0], device=panoptic.device)
                continue
            isthing = category in thing_set
            if isthing:
                num_things += 1
            instance_id = num_things if isthing else 0
            panoptic[region] = torch.tensor([category, instance_id], device=panoptic.device)
            segment = {"id": len(segments) + 1, "category_id": category, "isthing": isthing,
                       "instance_id": instance_id, "score": float(scores[k])}
            segments.append(segment)
            if not isthing:
                stuff_segment[category] = segment
        return panoptic, segments


    def panoptic_inference(self, class_logits: torch.Tensor, mask_logits: torch.Tensor, *,
                           things: Collection[int],
                           object_mask_threshold: float = 0.8, overlap_threshold: float = 0.8,
                           void_category: int = -1,
                           output_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Panoptic maps ``(B, H', W', 2)`` int64 of ``(category_id, instance_id)``, ready for
        :func:`segedu.metrics.panoptic_quality`.

        Args:
            class_logits: ``(B, Q, C + 1)``; mask_logits: ``(B, Q, H, W)``.
            things, object_mask_threshold, overlap_threshold, void_category: as
                :meth:`panoptic_inference_single` (per image).
            output_size: resize the mask logits to ``(H', W')`` first (bilinear).
        """
        _check(class_logits, mask_logits)
        mask_logits = _resize(mask_logits, output_size)
        maps = [self.panoptic_inference_single(c, m, things=things,
                                          object_mask_threshold=object_mask_threshold,
                                          overlap_threshold=overlap_threshold,
                                          void_category=void_category)[0]
                for c, m in zip(class_logits, mask_logits, strict=True)]
        return torch.stack(maps) if maps else torch.zeros((0, *mask_logits.shape[-2:], 2),
                                                          dtype=torch.int64)

    def postprocess(self, outputs: dict, *, task: str,
                    output_size: tuple[int, int] | None = None, **options) -> Any:
        """The universal family's readout (:mod:`segedu.models.universal.base`) of ``forward``'s
        ``{"pred_logits": (B, Q, C + 1), "pred_masks": (B, Q, H, W), ...}``.

        Args:
            outputs: ``forward``'s dict (``aux_outputs`` is not read).
            task: ``"semantic"`` (:meth:`semantic_inference`, ``(B, H', W')`` int64),
                ``"instance"`` (:meth:`instance_inference`, ``B`` dicts) or ``"panoptic"``
                (:meth:`panoptic_inference`, ``(B, H', W', 2)`` int64; needs ``things``).
            output_size: resize the mask logits to ``(H', W')`` first (bilinear), e.g. the
                images' size (the masks are at stride 4).
            options: the keyword options of that method (``topk``, ``things``,
                ``object_mask_threshold``, ...).
        """
        readout = {"semantic": self.semantic_inference, "instance": self.instance_inference,
                   "panoptic": self.panoptic_inference}
        UniversalModel.check_task(task)
        if not isinstance(outputs, dict) or not {"pred_logits", "pred_masks"} <= set(outputs):
            raise ValueError("outputs must be Mask2Former's dict with 'pred_logits' and "
                             "'pred_masks'")
        return readout[task](outputs["pred_logits"], outputs["pred_masks"],
                             output_size=output_size, **options)
