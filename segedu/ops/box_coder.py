r"""Box coding: how R-CNN detectors express a box relative to an anchor (or proposal).

A regressor does not predict box corners directly; it predicts four *deltas* that move and
rescale a reference box :math:`P` (centre :math:`p_x, p_y`, size :math:`p_w, p_h`) onto the target
:math:`G`:

.. math:: t_x = w_x \frac{g_x - p_x}{p_w}, \quad t_y = w_y \frac{g_y - p_y}{p_h}, \quad
          t_w = w_w \log\frac{g_w}{p_w}, \quad t_h = w_h \log\frac{g_h}{p_h},

which makes the targets invariant to translation and scale. ``weights`` :math:`(w_x, w_y, w_w,
w_h)` rescale the deltas to a convenient range (Faster R-CNN's second stage uses
``(10, 10, 5, 5)``). Decoding inverts it:

.. math:: \hat g_x = \frac{t_x}{w_x} p_w + p_x, \quad
          \hat g_w = \exp\!\Big(\min\big(\tfrac{t_w}{w_w}, c\big)\Big)\, p_w, \ \ldots

where the clamp :math:`c = \log(1000 / 16)` (``bbox_xform_clip``) keeps an untrained network
from exploding :math:`\exp`: no box grows more than 62.5 times its reference.

These equal torchvision's ``BoxCoder.encode_single`` / ``decode_single``
(``torchvision.models.detection._utils``), operation for operation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["encode_boxes", "decode_boxes", "BBOX_XFORM_CLIP"]

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _centres_and_sizes(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``xyxy`` ``(N, 4)`` -> centre x, centre y, width, height, each ``(N,)``."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


def _check(name: str, t: torch.Tensor, columns: str = "4") -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    ok = t.ndim == 2 and (t.shape[1] == 4 if columns == "4" else t.shape[1] % 4 == 0)
    if not ok:
        raise ValueError(f"{name} must have shape (N, {columns}), got {tuple(t.shape)}")


def _check_weights(weights: Sequence[float]) -> None:
    if len(weights) != 4 or any(w == 0 for w in weights):
        raise ValueError(f"weights must be four non-zero numbers (wx, wy, ww, wh), got {weights!r}")


def encode_boxes(
    reference_boxes: torch.Tensor,
    proposals: torch.Tensor,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> torch.Tensor:
    """Deltas ``(N, 4)`` that take each of the ``proposals (N, 4)`` onto the matching
    ``reference_boxes (N, 4)`` (the ground truth), both ``xyxy`` (formula in the module docstring).

    The argument order is torchvision's: the *target* boxes come first.
    """
    _check("reference_boxes", reference_boxes)
    _check("proposals", proposals)
    _check_weights(weights)
    if len(reference_boxes) != len(proposals):
        raise ValueError(
            "need as many reference_boxes as proposals, "
            f"got {len(reference_boxes)} and {len(proposals)}"
        )
    wx, wy, ww, wh = weights
    px, py, pw, ph = _centres_and_sizes(proposals)
    gx, gy, gw, gh = _centres_and_sizes(reference_boxes)
    # centre offsets in units of the proposal's size; log size ratios
    dx = wx * (gx - px) / pw
    dy = wy * (gy - py) / ph
    dw = ww * torch.log(gw / pw)
    dh = wh * torch.log(gh / ph)
    return torch.stack([dx, dy, dw, dh], dim=1)


def decode_boxes(
    rel_codes: torch.Tensor,
    boxes: torch.Tensor,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    bbox_xform_clip: float = BBOX_XFORM_CLIP,
) -> torch.Tensor:
    """Apply deltas ``rel_codes (N, 4 k)`` to the reference ``boxes (N, 4)``: ``(N, 4 k)``
    ``xyxy`` boxes.

    ``k > 1`` holds one set of deltas per class (Faster R-CNN's box head): each is applied to the
    same reference box. ``t_w / w_w`` and ``t_h / w_h`` are clamped from above at
    ``bbox_xform_clip`` before the exponential. ``boxes`` is cast to ``rel_codes``' dtype.
    """
    _check("rel_codes", rel_codes, columns="4k")
    _check("boxes", boxes)
    _check_weights(weights)
    if len(rel_codes) != len(boxes):
        raise ValueError(
            f"need one row of rel_codes per box, got {len(rel_codes)} and {len(boxes)}"
        )
    boxes = boxes.to(rel_codes.dtype)
    px, py, pw, ph = (v[:, None] for v in _centres_and_sizes(boxes))  # (N, 1): broadcast over k
    wx, wy, ww, wh = weights
    # undo the weights; clamp the log-sizes
    dx = rel_codes[:, 0::4] / wx
    dy = rel_codes[:, 1::4] / wy
    dw = (rel_codes[:, 2::4] / ww).clamp(max=bbox_xform_clip)
    dh = (rel_codes[:, 3::4] / wh).clamp(max=bbox_xform_clip)
    # new centre and size
    cx = dx * pw + px
    cy = dy * ph + py
    half_w = 0.5 * (torch.exp(dw) * pw)
    half_h = 0.5 * (torch.exp(dh) * ph)
    corners = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=2)  # (N, k, 4)
    return corners.reshape(rel_codes.shape)
