r"""Omnipose's training targets and the three core terms of its loss.

Reference: Cutler et al., Nature Methods 2022 (Methods: "Loss functions"); reference
implementation ``omnipose.core.batch_labels`` (the targets) and ``omnipose.core.loss`` with
``omnipose.loss.WeightedMSELoss`` (omnipose 1.1.4).

The network predicts four maps per pixel: the flows ``(dy, dx)``, the distance field and a
boundary logit. The targets of a label image are

- flows: :math:`5\,u`, the unit flows of :mod:`.flows` (zero on the background);
- distance: the smooth distance field :math:`T` of :mod:`.distance_field` on the objects and
  :math:`-5` on the background (Omnipose's ``dist_bg``: the background is pushed below the
  threshold as far as the flows are scaled);
- boundary: Omnipose's boundary pixels (:func:`.neighbours.boundary`), 0 or 1;
- weight: :math:`w = (1 + [\ell > 0]) / 2`, i.e. 1 in the objects and 1/2 outside.

The loss here is the sum of the three terms that train those maps,

.. math:: \mathcal{L} = \overline{w\,|\hat u - 5u|^2} + \overline{w\,(\hat T - T)^2}
          + \operatorname{BCE}_\text{logits}(\hat b, b),

each a mean over every pixel (and, for the flows, both components). Omnipose 1.1.4's loss
(``omnipose.core``, ``loss``) sums nine terms, seven beyond the two mean squared errors here (a
sine-squared angle loss, a norm loss, the distance field's derivatives, an affinity loss, an Euler
loss through ``torchvf``, a boundary term from the affinities, a divergence loss), and rescales
them as training goes; it computes the boundary's cross-entropy but leaves it out of that sum.
Those seven are refinements for its large training runs, not part of the idea, and are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..flow_network import check_map_pairs

__all__ = ["BACKGROUND_DISTANCE", "omnipose_targets", "weighted_mse", "omnipose_loss"]

BACKGROUND_DISTANCE = -5.0  # the distance target on the background (``dist_bg``)

KEYS = ("flows", "distance", "boundary")


def omnipose_targets(unit_flows: torch.Tensor, field: torch.Tensor, boundary: torch.Tensor,
                     labels: torch.Tensor, flow_scale: float) -> dict[str, torch.Tensor]:
    """The target maps of one image: flows ``(2, H, W)``, distance, boundary and weight
    ``(1, H, W)``, all float32."""
    inside = labels > 0
    return {
        "flows": flow_scale * unit_flows.float(),
        "distance": torch.where(inside, field, BACKGROUND_DISTANCE).float().unsqueeze(0),
        "boundary": boundary.float().unsqueeze(0),
        "weight": ((1 + inside.float()) / 2).unsqueeze(0),
    }


def weighted_mse(prediction: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
    """``mean(weight * (prediction - target)^2)`` over all elements (``weight`` broadcasts)."""
    return (weight * (prediction - target).square()).mean()


def omnipose_loss(outputs: dict[str, torch.Tensor],
                  targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Scalar loss of a batch (see the module docstring).

    ``outputs``: ``{"flows": (N, 2, H, W), "distance": (N, 1, H, W), "boundary": (N, 1, H, W)
    logits}``; ``targets``: the same keys (batched :func:`omnipose_targets`) plus ``"weight"``.
    """
    check_map_pairs(outputs, targets, KEYS)
    # in float32, whatever the outputs' precision (float16 under a GPU's autocast)
    weight = targets["weight"].float()
    flow_loss = weighted_mse(outputs["flows"].float(), targets["flows"].float(), weight)
    distance_loss = weighted_mse(outputs["distance"].float(), targets["distance"].float(), weight)
    boundary_loss = F.binary_cross_entropy_with_logits(outputs["boundary"].float(),
                                                       targets["boundary"].float())
    return flow_loss + distance_loss + boundary_loss
