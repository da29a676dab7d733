"""The universal family's contract: one model, read out as semantic, instance or panoptic maps.

Every model of :mod:`segedu.models.universal` (DETR, Mask2Former, EoMT, OneFormer, Panoptic
FPN) is a :class:`UniversalModel`. Its ``forward`` is the model's own (Mask2Former: images
``(B, 3, H, W)`` -> query logits; Panoptic FPN: Mask R-CNN's list of images -> losses in
training, detections in evaluation); the family shares three instance methods with one
signature:

- ``targets(target)``: the training target of ONE image from its panoptic ground truth, a
  ``(H, W, 2)`` int64 map of ``(category_id, instance_id)`` (the format of
  :func:`segedu.metrics.panoptic_quality`; instance id 0 on stuff, a category outside the
  model's classes is void), as a dict of tensors in the model's own training format;
- ``loss(outputs, targets)``: a dict of named scalar losses of a batch, from the network's
  training outputs (Mask2Former: ``forward``'s dict; Panoptic FPN: its ``network_outputs``) and
  the per-image targets of :meth:`targets`; training minimises :meth:`total_loss` of it (their
  sum, unless the model weights them: Mask2Former's set criterion does);
- ``postprocess(outputs, *, task, **options)``: ``forward``'s evaluation outputs of a batch of
  ``B`` images read out for ``task``:

  - ``"semantic"``: ``B`` label maps ``(H, W)`` int64 of category ids;
  - ``"instance"``: ``B`` dicts of ``masks`` ``(N, H, W)`` bool, ``scores`` ``(N,)`` float,
    ``labels`` ``(N,)`` int64 category ids and ``boxes`` ``(N, 4)`` xyxy (the input of
    :func:`segedu.metrics.mean_average_precision`); DETR, which predicts boxes only, gives no
    ``masks`` and raises for the two other tasks;
  - ``"panoptic"``: ``B`` maps ``(H, W, 2)`` int64 of ``(category_id, instance_id)``;

  maps are stacked into one ``(B, H, W[, 2])`` tensor when the model takes one batch tensor
  (Mask2Former), a list otherwise (Panoptic FPN's images may differ in size). ``options`` are
  the model's own keyword-only options (thresholds, ``things``, ``output_size``).

References: Carion et al. 2020 (DETR), Cheng et al. 2022 (Mask2Former), Kirillov et al. 2019
(Panoptic FPN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...nn import distinct_pairs

__all__ = ["UniversalModel", "TASKS", "check_image_batch"]

TASKS = ("semantic", "instance", "panoptic")


def check_image_batch(images: object) -> None:
    """Raise a clear error unless ``images`` is a non-empty float ``(B, 3, H, W)`` tensor (the
    input of the query models, Mask2Former and DETR)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a (B, 3, H, W) tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be float in [0, 1], got {images.dtype}")
    if images.shape[0] == 0 or min(images.shape[-2:]) < 1:
        raise ValueError(f"images must be non-empty, got shape {tuple(images.shape)}")


class UniversalModel(nn.Module):
    """Base class of the universal family (see the module docstring for the contract).

    Subclasses implement ``forward``, ``targets``, ``loss`` and ``postprocess``;
    :meth:`total_loss` is shared.
    """

    def targets(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training target of one image from its ``(H, W, 2)`` panoptic ground truth."""
        raise NotImplementedError(f"{type(self).__name__} must implement targets")

    def loss(self, outputs: Any, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Named scalar losses of a batch: ``forward``'s outputs against the images' targets."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss")

    def postprocess(self, outputs: Any, *, task: str, **options) -> Any:
        """``forward``'s evaluation outputs read out as ``task`` (semantic, instance, panoptic)."""
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar that training minimises: the sum of :meth:`loss`'s dict (a model whose
        losses need weights overrides this)."""
        return sum(losses.values())

    @staticmethod
    def panoptic_segments(
        target: torch.Tensor, keep: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The segments of one panoptic ground truth ``(H, W, 2)`` (integer ``(category_id,
        instance_id)``; another shape or dtype raises), for a model's :meth:`targets`.

        Returns ``category`` and ``instance`` ``(H, W)`` int64, then ``pairs`` ``(M, 2)``, the
        distinct ``(instance, category)`` of the pixels where ``keep(category, instance)`` is
        true, sorted (instance first), and their ``masks`` ``(M, H, W)`` bool.
        """
        if not isinstance(target, torch.Tensor) or target.ndim != 3 or target.shape[-1] != 2:
            raise ValueError("target must be an (H, W, 2) panoptic map of (category_id, "
                             f"instance_id), got {getattr(target, 'shape', type(target))}")
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"target must be an integer panoptic map, got {target.dtype}")
        category, instance = target[..., 0].long(), target[..., 1].long()
        kept = keep(category, instance)
        pairs = distinct_pairs(instance[kept], category[kept])  # (M, 2), sorted
        masks = (instance[None] == pairs[:, 0, None, None]) \
            & (category[None] == pairs[:, 1, None, None])
        return category, instance, pairs, masks

    @staticmethod
    def check_task(task: str) -> str:
        """``task`` if it is one of :data:`TASKS`, else a ``ValueError`` naming them."""
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        return task
