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

__all__ = ["BottomUpModel"]


class BottomUpModel(nn.Module):
    """Base class of the bottom-up family (see the module docstring for the contract).

    Subclasses implement ``forward``, ``targets``, ``loss`` and ``postprocess``;
    :meth:`predict_instances` is shared.
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
