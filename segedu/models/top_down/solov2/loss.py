r"""SOLOv2's loss: the focal loss on the grid's categories plus :math:`\lambda` times the Dice
loss of the positive cells' masks.

SOLO's paper (Wang et al., ECCV 2020; SOLOv2 keeps its loss) writes

.. math::
    L = L_{cate} + \lambda L_{mask}, \qquad
    L_{mask} = \frac{1}{N_{pos}} \sum_k \mathbb{1}_{\{p^*_{i,j} > 0\}}\,
               d_{mask}(m_k, m^*_k), \qquad \lambda = 3,

- :math:`L_{cate}`: the sigmoid focal loss (:func:`segedu.losses.sigmoid_focal_loss`,
  :math:`\alpha = 0.25`, :math:`\gamma = 2`) over every cell of every level and every class,
  summed and divided by :math:`N_{pos} + 1` (mmdetection's ``avg_factor``:
  the ``+ 1`` keeps an image without objects finite);
- :math:`d_{mask} = L_{Dice} = 1 - D(p, q)` with the Dice coefficient of the predicted
  probabilities :math:`p = \sigma(\text{logits})` and the target :math:`q`, computed with
  **squared** sums (the V-Net form that the paper prints):

  .. math:: D(p, q) = \frac{2 \sum_{x,y} p_{x,y}\, q_{x,y}}
                           {\sum_{x,y} p_{x,y}^2 + \sum_{x,y} q_{x,y}^2};

- :math:`N_{pos}`: the positive cells of the batch (:mod:`.targets`).

Why not :func:`segedu.losses.dice_loss`: its denominator is :math:`\sum p + \sum q` (the F1
form); the two agree for binary :math:`p` and differ for soft ones, and SOLO trains the squared
form. Like the official code (mmdetection's ``DiceLoss(naive_dice=False)``, read for
this) each squared sum gets ``eps = 0.001``, so two empty masks give a
loss of 1 - 0 / 0.002 = 1 instead of 0 / 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ....losses import sigmoid_focal_loss
from .dynamic_conv import dynamic_masks

__all__ = ["solov2_dice_loss", "solov2_loss", "LOSS_OPTIONS"]

# the paper's weights and focal-loss settings
LOSS_OPTIONS = {"mask_weight": 3.0, "focal_alpha": 0.25, "focal_gamma": 2.0}


def solov2_dice_loss(probabilities: torch.Tensor, targets: torch.Tensor, *,
                     eps: float = 1e-3) -> torch.Tensor:
    """``1 - D(p, q)`` per mask (see the module docstring): ``probabilities (P, h, w)`` in
    ``[0, 1]`` and ``targets (P, h, w)`` -> ``(P,)``."""
    if probabilities.shape != targets.shape:
        raise ValueError(f"probabilities {tuple(probabilities.shape)} and targets "
                         f"{tuple(targets.shape)} must have one shape")
    p = probabilities.flatten(1)  # (P, h * w)
    q = targets.flatten(1).to(p.dtype)
    intersection = (p * q).sum(dim=1)  # (P,)
    return 1 - 2 * intersection / ((p * p).sum(dim=1) + eps + (q * q).sum(dim=1) + eps)


def solov2_loss(category_logits: torch.Tensor, kernels: torch.Tensor,
                mask_features: torch.Tensor, targets: list[dict[str, torch.Tensor]], *,
                mask_weight: float = 3.0, focal_alpha: float = 0.25,
                focal_gamma: float = 2.0) -> dict[str, torch.Tensor]:
    """The SOLOv2 loss of a batch (see the module docstring).

    Args:
        category_logits: ``(N, G, C)``, every cell of every level (level after level,
            row-major), ``C`` foreground classes.
        kernels: ``(N, G, E)``, the dynamic kernel of every cell.
        mask_features: ``(N, E, h, w)``.
        targets: :func:`.targets.solov2_targets`' dict per image (``grid_labels (G,)``,
            ``positive (P,)``, ``mask_targets (P, h, w)``).
        mask_weight: :math:`\\lambda` (3).
        focal_alpha, focal_gamma: the focal loss's :math:`\\alpha` and :math:`\\gamma`.

    Returns:
        ``{"loss_category": L_cate, "loss_mask": lambda * L_mask}``, scalars.
    """
    n, cells, num_classes = category_logits.shape
    if len(targets) != n:
        raise ValueError(f"got {len(targets)} targets for a batch of {n} images")
    # 1. the masks of the positive cells: their kernels on their image's mask features
    dice, num_positives = [], 0
    for i, target in enumerate(targets):
        positive = target["positive"]  # (P,)
        num_positives += len(positive)
        if len(positive):
            logits = dynamic_masks(mask_features[i], kernels[i, positive])  # (P, h, w)
            dice.append(solov2_dice_loss(logits.sigmoid(), target["mask_targets"]))
    if num_positives:
        loss_mask = torch.cat(dice).sum() / num_positives
    else:  # zero, but in the graph
        loss_mask = (kernels.sum() + mask_features.sum()) * 0
    # 2. the category targets, one-hot over the foreground classes (background: all zeros)
    labels = torch.stack([t["grid_labels"] for t in targets])  # (N, G)
    if labels.shape != (n, cells):
        raise ValueError(f"grid_labels must be ({cells},) per image, got {tuple(labels.shape)}")
    one_hot = F.one_hot(labels, num_classes + 1)[..., 1:].to(category_logits.dtype)  # (N, G, C)
    focal = sigmoid_focal_loss(category_logits, one_hot, alpha=focal_alpha, gamma=focal_gamma,
                               reduction="sum")
    return {"loss_category": focal / (num_positives + 1), "loss_mask": mask_weight * loss_mask}
