r"""SOLOv2's inference: from the grid's scores and kernels to a few masks, without boxes and
without greedy NMS.

For one image (the paper's inference and Matrix NMS sections, and mmdetection's
``SOLOV2Head._predict_by_feat_single``, read for this):

1. **Scores.** The sigmoid of the category logits; a cell keeps its score only where it is the
   largest of the 2 x 2 window it closes (itself, the cells above, left and above-left: SOLO's
   ``points_nms``, a max pooling), so that neighbouring cells of one object do not all compete.
2. **Candidates.** Every (cell, class) pair scoring above ``score_thresh`` (0.1).
3. **Masks.** Each candidate cell's kernel on the mask features (:mod:`.dynamic_conv`), the
   sigmoid, binarised at ``mask_thresh`` (0.5); a mask of no more pixels (at 1/4 scale) than
   its level's stride is dropped.
4. **Maskness.** Each score is multiplied by the mean probability inside its binary mask (how
   sure the mask is of itself).
5. **Matrix NMS** (:func:`segedu.ops.matrix_nms`) on the best ``pre_nms_top_k`` (500):
   decay the scores of overlapping masks of one class (Gaussian, :math:`\sigma = 2`), keep those
   still at or above ``update_thresh`` (0.05), the best ``detections_per_img`` (100).
6. **Full size.** The kept masks' probabilities are up-sampled (bilinear) to the padded
   batch's size, then cut to the image's own size.

The contract of the family asks for boxes as well: each is the box around its binary mask
(:func:`segedu.ops.masks_to_boxes` with pixel edges, segedu's detection-target convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ....ops import masks_to_boxes, matrix_nms
from .dynamic_conv import dynamic_masks

__all__ = ["solov2_detections", "points_nms", "INFERENCE_OPTIONS"]

# SOLOv2's test settings (mmdetection's solov2 configs)
INFERENCE_OPTIONS = {"score_thresh": 0.1, "mask_thresh": 0.5, "nms_kernel": "gaussian",
                     "nms_sigma": 2.0, "update_thresh": 0.05, "pre_nms_top_k": 500,
                     "detections_per_img": 100}


def points_nms(scores: torch.Tensor) -> torch.Tensor:
    """``scores (C, S, S)`` with every cell that is not the largest of its 2 x 2 window (itself
    and the cells above, left, above-left) set to 0."""
    window_max = F.max_pool2d(scores[None], 2, stride=1, padding=1)[0, :, :-1, :-1]  # (C, S, S)
    return scores * (window_max == scores)


def solov2_detections(category_logits: torch.Tensor, kernels: torch.Tensor,
                      mask_features: torch.Tensor, *, grid_sizes: Sequence[int],
                      strides: Sequence[int], image_size: tuple[int, int],
                      batch_size: tuple[int, int], score_thresh: float = 0.1,
                      mask_thresh: float = 0.5, nms_kernel: str = "gaussian",
                      nms_sigma: float = 2.0, update_thresh: float = 0.05,
                      pre_nms_top_k: int = 500,
                      detections_per_img: int = 100) -> dict[str, torch.Tensor]:
    """One image's detections (see the module docstring).

    Args:
        category_logits: ``(G, C)`` for the ``G = sum S_l^2`` cells, level after level.
        kernels: ``(G, E)``.
        mask_features: ``(E, h, w)``.
        grid_sizes: ``S`` of each level; strides: each level's stride (for the area check).
        image_size: the image's ``(H_i, W_i)``; batch_size: the padded ``(H, W)`` the mask
            features cover.

    Returns:
        ``boxes (n, 4)``, ``scores (n,)``, ``labels (n,)`` in ``1 .. C`` and
        ``masks (n, 1, H_i, W_i)`` probabilities, best first.
    """
    # 1. scores, with the 2x2 local-maximum test on each level's grid
    scores, start = [], 0
    for s in grid_sizes:
        level = category_logits[start:start + s * s].sigmoid().T.reshape(-1, s, s)  # (C, S, S)
        scores.append(points_nms(level).reshape(-1, s * s).T)  # (S^2, C)
        start += s * s
    scores = torch.cat(scores)  # (G, C)
    cell_stride = torch.cat([torch.full((s * s,), float(st), device=scores.device)
                             for s, st in zip(grid_sizes, strides, strict=True)])  # (G,)
    # 2. candidate (cell, class) pairs
    cells, classes = (scores > score_thresh).nonzero(as_tuple=True)  # (n,), (n,)
    probs = dynamic_masks(mask_features, kernels[cells]).sigmoid()  # (n, h, w)
    # 3. binary masks, large enough for their level
    binary = probs > mask_thresh
    area = binary.sum(dim=(1, 2)).to(probs.dtype)  # (n,)
    keep = area > cell_stride[cells]
    probs, binary, area, cells, classes = (probs[keep], binary[keep], area[keep], cells[keep],
                                           classes[keep])
    # 4. maskness: the mean probability inside the mask
    score = scores[cells, classes] * (probs * binary).sum(dim=(1, 2)) / area
    # 5. Matrix NMS on the best pre_nms_top_k, then the update threshold and the best few
    best = score.argsort(descending=True)[:pre_nms_top_k]
    probs, binary, classes, score = probs[best], binary[best], classes[best], score[best]
    decayed = matrix_nms(binary, score, classes, kernel=nms_kernel, sigma=nms_sigma)
    kept = (decayed >= update_thresh).nonzero().squeeze(1)
    kept = kept[decayed[kept].argsort(descending=True)][:detections_per_img]
    probs, classes, decayed = probs[kept], classes[kept], decayed[kept]
    # 6. up-sample to the padded batch, cut to the image
    height, width = image_size
    if len(probs):
        probs = F.interpolate(probs[:, None], size=batch_size, mode="bilinear",
                              align_corners=False)[:, :, :height, :width]  # (n, 1, H_i, W_i)
    else:
        probs = probs.new_zeros((0, 1, height, width))
    boxes = masks_to_boxes(probs[:, 0] > mask_thresh, pixel_edges=True)
    return {"boxes": boxes, "scores": decayed, "labels": classes + 1, "masks": probs}
