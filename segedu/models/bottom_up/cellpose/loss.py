r"""The Cellpose training loss: flow regression plus cell-probability classification.

Reference: Stringer et al., "Cellpose: a generalist algorithm for cellular segmentation", Nature
Methods 2021 (Methods: the flows are regressed with a mean squared error, the cell probability
with a binary cross-entropy); the code is ``cellpose.train._loss_fn_seg`` (4.2.1.1). The 2021
release's ``CellposeModel.loss_fn`` has the same formula; it halved the MSE only in its PyTorch
backend, not in its MXNet one:

.. math:: \mathcal{L} = \tfrac12\, \operatorname{MSE}\big(\hat u,\; 5\,u\big)
          + \operatorname{BCE}_\text{logits}\big(\hat c,\; [\ell > 0]\big)

with :math:`\hat u` the predicted flows ``(N, 2, H, W)``, :math:`u` the unit flows of the labels
(:func:`.flows.masks_to_flows`) scaled by 5 (Cellpose's choice, undone by the /5 before following),
:math:`\hat c` the cell-probability logits ``(N, 1, H, W)`` and both terms means over
all pixels (background pixels included, where the flow target is 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..flow_network import check_map_pairs

__all__ = ["FLOW_SCALE", "cellpose_loss"]

FLOW_SCALE = 5.0  # the network regresses 5x the unit flows


def cellpose_loss(outputs: dict[str, torch.Tensor],
                  targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Scalar loss of a batch.

    ``outputs``: ``{"flows": (N, 2, H, W), "cellprob": (N, 1, H, W) logits}``; ``targets``:
    ``{"flows": (N, 2, H, W)`` already scaled by :data:`FLOW_SCALE`, ``"cellprob": (N, 1, H, W)``
    in {0, 1}``}``.
    """
    check_map_pairs(outputs, targets, ("flows", "cellprob"))
    flow_loss = F.mse_loss(outputs["flows"], targets["flows"].to(outputs["flows"].dtype)) / 2.0
    prob_loss = F.binary_cross_entropy_with_logits(
        outputs["cellprob"], targets["cellprob"].to(outputs["cellprob"].dtype)
    )
    return flow_loss + prob_loss
