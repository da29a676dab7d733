r"""DenoiSeg's joint loss: Noise2Void's masked denoising term plus the three-class segmentation
cross-entropy on the few labelled images.

Reference: T.-O. Buchholz, M. Prakash, D. Schmidt, A. Krull, F. Jug, "DenoiSeg: joint denoising
and segmentation", ECCV 2020 workshops (BioImage Computing), arXiv:2005.02987; reference
implementation ``denoiseg.internals.losses.loss_denoiseg`` with ``n2v``'s ``loss_mse`` and
``denoiseg.utils.seg_utils`` (denoiseg 0.3.1, TensorFlow; it does not install beside this
project's pinned ``csbdeep`` 0.8, so the tests check hand-derived cases).

.. math:: \mathcal{L} = \alpha\, \frac{\sum_p m_p\,(x_p - \hat x_p)^2}{\sum_p m_p}
          + (1 - \alpha)\, \frac{1}{|P|} \sum_{p \in P} [\text{labelled}_p]\; w_{c_p}\,
            \operatorname{CE}(\hat s_p, c_p)

- :math:`m` the blind-spot mask (:mod:`.blind_spot`), :math:`x` the noisy image *before* masking,
  :math:`\hat x` the network's denoised output: the mean squared error on the masked pixels only;
- :math:`c_p \in \{0, 1, 2\}` the class of a labelled pixel (background, foreground, border),
  :math:`w = (1, 1, 5)` DenoiSeg's class weights, :math:`\hat s_p` the three logits; the sum runs
  over the labelled pixels but the mean is over *all* pixels :math:`P` of the batch, labelled or
  not (DenoiSeg's ``K.mean``): the fewer labelled images a batch holds, the smaller its
  segmentation term;
- :math:`\alpha = 0.5`, the paper's choice (the term weights are :math:`\alpha` and
  :math:`1 - \alpha`).

An unlabelled image has class ``-1`` at every pixel: it contributes only the denoising term.
When no pixel is masked (evaluation mode: nothing is hidden) the denoising term is 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from skimage.segmentation import find_boundaries

__all__ = ["UNLABELLED", "CLASS_WEIGHTS", "three_class_labels", "n2v_loss",
           "segmentation_loss", "denoiseg_loss"]

UNLABELLED = -1  # the class of every pixel of an image without labels
CLASS_WEIGHTS = (1.0, 1.0, 5.0)  # background, foreground, border


def three_class_labels(instances: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` int64 classes of a label image: 0 background, 1 foreground, 2 border (the
    outer boundaries, ``skimage.segmentation.find_boundaries(mode="outer")``, as DenoiSeg's
    ``add_boundary_label``). An all-zero image is *unlabelled*: ``-1`` everywhere (DenoiSeg
    encodes its unlabelled images as empty label images)."""
    if not instances.any():
        return torch.full(instances.shape, UNLABELLED, dtype=torch.long)
    classes = (instances > 0).long()
    border = find_boundaries(instances.cpu().numpy(), mode="outer")
    classes[torch.from_numpy(border)] = 2
    return classes


def n2v_loss(denoised: torch.Tensor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``denoised`` against ``images`` ``(N, C, H, W)`` on the pixels where
    ``mask`` ``(N, 1, H, W)`` is true (all channels); 0 when nothing is masked."""
    weight = mask.to(denoised.dtype).expand_as(denoised)
    count = weight.sum()
    if count == 0:
        return denoised.sum() * 0  # nothing hidden, nothing to score (keeps the graph)
    return ((images - denoised) * weight).square().sum() / count


def segmentation_loss(logits: torch.Tensor, classes: torch.Tensor,
                      class_weights: tuple[float, float, float] = CLASS_WEIGHTS) -> torch.Tensor:
    """DenoiSeg's weighted cross-entropy: ``logits`` ``(N, 3, H, W)``, ``classes`` ``(N, H, W)``
    in {-1, 0, 1, 2}; summed over labelled pixels, divided by the number of all pixels."""
    weights = torch.tensor(class_weights, dtype=logits.dtype, device=logits.device)
    labelled = classes != UNLABELLED
    safe = torch.where(labelled, classes, 0)  # any valid class where unlabelled, zeroed below
    per_pixel = F.cross_entropy(logits, safe, reduction="none") * weights[safe]
    return (per_pixel * labelled).sum() / classes.numel()


def denoiseg_loss(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], *,
                  alpha: float = 0.5,
                  class_weights: tuple[float, float, float] = CLASS_WEIGHTS) -> torch.Tensor:
    """``alpha * n2v_loss + (1 - alpha) * segmentation_loss`` of a batch.

    ``outputs``: ``{"denoised": (N, C, H, W), "segmentation": (N, 3, H, W) logits,
    "noisy": (N, C, H, W) the images before masking, "n2v_mask": (N, 1, H, W) bool}``
    (:class:`.model.DenoiSeg`'s forward); ``targets``: ``{"classes": (N, H, W)}``.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    for key in ("denoised", "segmentation", "noisy", "n2v_mask"):
        if key not in outputs:
            raise KeyError(f"outputs must have a {key!r} entry")
    if "classes" not in targets:
        raise KeyError("targets must have a 'classes' entry")
    classes = targets["classes"].to(outputs["segmentation"].device)
    if classes.shape != outputs["segmentation"].shape[:1] + outputs["segmentation"].shape[2:]:
        raise ValueError(f"classes of shape {tuple(classes.shape)} do not match the "
                         f"segmentation logits {tuple(outputs['segmentation'].shape)}")
    denoise = n2v_loss(outputs["denoised"], outputs["noisy"], outputs["n2v_mask"])
    segment = segmentation_loss(outputs["segmentation"], classes, class_weights)
    return alpha * denoise + (1 - alpha) * segment
