"""The bottom-up family's contract: pixel maps, grouped into objects afterwards.

Every model of :mod:`segedu.models.bottom_up` (the U-Net with the border weight map, StarDist,
Cellpose, Omnipose, DenoiSeg, spatial embeddings) is a :class:`BottomUpModel`. Its ``forward``
maps images ``(N, C, H, W)`` to a dict of per-pixel maps ``(N, *, H, W)`` (which maps depends on
the model), and it has four instance methods with one signature for the whole family:

- ``targets(instances)``: the training targets of ONE ``(H, W)`` integer label image (0 is the
  background, 1..K the objects) as a dict of tensors, for a dataset's ``__getitem__`` (the
  ``DataLoader`` stacks them into the batch's dict);
- ``loss(outputs, targets)``: the scalar loss of a batch, from ``forward``'s dict and the
  batched targets;
- ``postprocess(outputs, **options)``: the objects of every image of a batch of outputs: one
  ``(H, W)`` int64 label image each (0 background, 1..K), with the model's own keyword-only
  options (thresholds);
- ``predict_instances(images, **options)``: ``postprocess(forward(images))`` in eval mode
  without gradients, the training mode restored afterwards.

References: Ronneberger et al. 2015 (U-Net, weight map), Schmidt et al. 2018 (StarDist),
Stringer et al. 2021 (Cellpose), Cutler et al. 2022 (Omnipose), Buchholz et al. 2020 (DenoiSeg),
Neven et al. 2019 (spatial embeddings).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BottomUpModel", "check_instances", "renumber"]


def check_instances(instances: torch.Tensor, name: str = "instances") -> torch.Tensor:
    """Check that ``instances`` is an ``(H, W)`` integer label image with ids >= 0 (the input of
    ``targets``); return it. ``TypeError`` for a non-tensor or a float, complex or bool dtype,
    ``ValueError`` for another shape or a negative id; each message names ``name``."""
    if not isinstance(instances, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (H, W), got "
                        f"{type(instances).__name__}")
    if instances.dim() != 2:
        raise ValueError(f"{name} must be an (H, W) label image, got shape "
                         f"{tuple(instances.shape)}")
    if (instances.dtype.is_floating_point or instances.dtype.is_complex
            or instances.dtype == torch.bool):
        raise TypeError(
            f"{name} must have an integer dtype (0 background, 1..K objects), got {instances.dtype}"
        )
    if instances.numel() and int(instances.min()) < 0:
        raise ValueError(f"{name} must be >= 0 (0 is background), got a minimum of "
                         f"{int(instances.min())}")
    return instances


def renumber(labels: torch.Tensor) -> torch.Tensor:
    """Relabel ``labels`` (any shape, ints >= 0) to ``1..K`` in order of first appearance.

    The first object met in a row-major scan becomes 1, the next new one 2, ...; 0 stays 0
    (``fastremap.renumber``'s order, which Cellpose and Omnipose use for their masks). Returns an
    int64 tensor of the same shape.
    """
    flat = labels.reshape(-1).long()
    ids, inverse = torch.unique(flat, return_inverse=True)  # sorted ids, and each pixel's slot
    # first position of every id in the scan
    first = torch.full((len(ids),), flat.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(flat.numel()), reduce="amin")
    # objects (id > 0) ranked by first position get 1..K; the background keeps 0
    new_ids = torch.zeros(len(ids), dtype=torch.long)
    objects = (ids > 0).nonzero().squeeze(1)
    order = objects[torch.argsort(first[objects])]
    new_ids[order] = torch.arange(1, len(order) + 1)
    return new_ids[inverse].reshape(labels.shape)


class BottomUpModel(nn.Module):
    """Base class of the bottom-up family (see the module docstring for the contract).

    Subclasses implement ``forward``, ``targets``, ``loss`` and ``postprocess``;
    :meth:`predict_instances` is shared, and so are :func:`check_instances` (the input of
    ``targets``) and :func:`renumber` (label images numbered 1..K).
    """

    def targets(self, instances: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training targets of one ``(H, W)`` integer label image."""
        raise NotImplementedError(f"{type(self).__name__} must implement targets")

    def loss(self, outputs: dict[str, torch.Tensor],
             targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar loss of a batch: ``forward``'s dict against the batched ``targets``."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss")

    def postprocess(self, outputs: dict[str, torch.Tensor], **options) -> list[torch.Tensor]:
        """One ``(H, W)`` int64 label image per image of a batch of ``forward``'s outputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")

    def predict_instances(self, images: torch.Tensor, **options) -> list[torch.Tensor]:
        """Label images ``(H, W)`` int64 for ``images (N, C, H, W)``: :meth:`postprocess` of the
        network's outputs in eval mode without gradients (``options`` go to ``postprocess``)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.postprocess(self(images), **options)
        finally:
            self.train(was_training)
