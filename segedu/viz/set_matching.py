"""The one-to-one matching of a set of predictions to the ground-truth objects (DETR, Carion et
al., ECCV 2020; Mask2Former), drawn twice: as boxes on the image, each object joined to the
query that was matched to it, and as the cost matrix with the matched cells outlined.

The function draws a matching that it is given, the cost matrix and the pairs of a matcher
(``HungarianMatcher.cost_matrix`` and its ``forward``), so the figure shows what the matcher
decided; the tests check that the drawn pairs are the cheapest assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from .palette import palette

__all__ = ["SetMatching", "draw_set_matching"]

#: A light box behind the labels, readable over the other boxes' lines.
LABEL_BOX = {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75}


@dataclass(frozen=True)
class SetMatching:
    """What :func:`draw_set_matching` drew.

    Attributes:
        pairs: ``(query, object)`` of each drawn match, in the order given.
        total: the sum of the cost over the drawn pairs.
        axes: the panels: boxes (``None`` when no boxes were given), then the cost matrix.
    """

    pairs: list[tuple[int, int]]
    total: float
    axes: tuple[Axes | None, Axes]


def _check(cost: torch.Tensor, pred_idx: torch.Tensor, target_idx: torch.Tensor) -> None:
    if not isinstance(cost, torch.Tensor) or cost.ndim != 2:
        raise ValueError(f"cost must be a (Q, M) tensor, got {getattr(cost, 'shape', type(cost))}")
    queries, objects = cost.shape
    if len(pred_idx) != len(target_idx) or len(pred_idx) != min(queries, objects):
        raise ValueError(f"a one-to-one matching of a {queries} x {objects} cost has "
                         f"{min(queries, objects)} pairs, got {len(pred_idx)} and "
                         f"{len(target_idx)}")
    if (len(set(pred_idx.tolist())) != len(pred_idx)
            or len(set(target_idx.tolist())) != len(target_idx)):
        raise ValueError("the matching must be one to one: a query or an object appears twice")
    if len(pred_idx) and (pred_idx.max() >= queries or target_idx.max() >= objects
                          or min(pred_idx.min(), target_idx.min()) < 0):
        raise ValueError("the pairs point outside the cost matrix")


def draw_set_matching(
    cost: torch.Tensor,
    matching: tuple[torch.Tensor, torch.Tensor],
    *,
    pred_boxes: torch.Tensor | None = None,
    target_boxes: torch.Tensor | None = None,
    object_names: Sequence[str] | None = None,
    axes: tuple[Axes, Axes] | None = None,
) -> SetMatching:
    """Draw a one-to-one matching of ``Q`` predictions (queries) to ``M`` objects.

    Left (when boxes are given): the objects' boxes, solid, each in its own colour; every
    predicted box thin and grey, labelled with its query number; a matched prediction dashed in
    its object's colour, joined to the object's box by a line. Right: the ``(Q, M)`` cost matrix
    with its values, the matched cells outlined in the object's colour, the unmatched queries
    marked ``∅`` (trained to say "no object").

    Args:
        cost: ``(Q, M)`` matching cost (rows: predictions, columns: objects).
        matching: ``(pred_idx, target_idx)``, int tensors of length ``min(Q, M)``, as
            ``HungarianMatcher`` returns for one image.
        pred_boxes: ``(Q, 4)`` predicted boxes, ``xyxy`` normalised to ``[0, 1]``; optional.
        target_boxes: ``(M, 4)`` the objects' boxes, same format; with ``pred_boxes``.
        object_names: a column label per object; ``"object j"`` by default.
        axes: two axes (boxes, cost) to draw on; a new figure when ``None``.

    Returns:
        :class:`SetMatching`, what was drawn.
    """
    pred_idx, target_idx = (torch.as_tensor(v, dtype=torch.int64) for v in matching)
    cost = cost.detach().cpu().double() if isinstance(cost, torch.Tensor) else cost
    _check(cost, pred_idx, target_idx)
    queries, objects = cost.shape
    if (pred_boxes is None) != (target_boxes is None):
        raise ValueError("give both pred_boxes and target_boxes, or neither")
    if pred_boxes is not None and (pred_boxes.shape != (queries, 4)
                                   or target_boxes.shape != (objects, 4)):
        raise ValueError(f"pred_boxes must be ({queries}, 4) and target_boxes ({objects}, 4), got "
                         f"{tuple(pred_boxes.shape)} and {tuple(target_boxes.shape)}")
    names = list(object_names) if object_names is not None else [f"object {j}" for j in
                                                                   range(objects)]
    if len(names) != objects:
        raise ValueError(f"object_names must have {objects} entries, got {len(names)}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [1.2, 1]})
    box_ax, cost_ax = axes
    colors = palette(objects)
    pairs = list(zip(pred_idx.tolist(), target_idx.tolist(), strict=True))
    match_of_query = {q: j for q, j in pairs}

    if pred_boxes is not None:
        # 1. boxes: every prediction thin and grey, the objects solid, matches dashed in colour
        preds, targets = pred_boxes.detach().cpu().numpy(), target_boxes.detach().cpu().numpy()
        for q, (x1, y1, x2, y2) in enumerate(preds):
            matched = q in match_of_query
            color = colors[match_of_query[q]] if matched else "0.6"
            box_ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=color,
                                       lw=1.8 if matched else 0.8, ls="--" if matched else ":",
                                       alpha=1.0 if matched else 0.5))
            if matched:  # the unmatched queries' numbers would only clutter the picture
                box_ax.text(x1, y1, f"q{q}", fontsize=8, color=color, va="bottom",
                            fontweight="bold", bbox=LABEL_BOX)
        for j, (x1, y1, x2, y2) in enumerate(targets):
            box_ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colors[j],
                                       lw=3))
            box_ax.text(x1, y1, names[j], fontsize=8, color=colors[j], ha="left",
                        va="top", fontweight="bold", bbox=LABEL_BOX)  # inside, top left
        for q, j in pairs:  # the object's centre to its query's centre
            (px1, py1, px2, py2), (tx1, ty1, tx2, ty2) = preds[q], targets[j]
            box_ax.plot([(px1 + px2) / 2, (tx1 + tx2) / 2], [(py1 + py2) / 2, (ty1 + ty2) / 2],
                        color=colors[j], lw=1.5, marker="o", ms=3)
        box_ax.set_xlim(0, 1)
        box_ax.set_ylim(1, 0)  # image coordinates: y down
        box_ax.set_aspect("equal")
        box_ax.set_title(f"{objects} objects (solid) and {queries} predicted boxes: matched "
                         "(dashed), unmatched (dotted)", fontsize=9)
        box_ax.tick_params(labelsize=7)
    elif box_ax is not None:
        box_ax.axis("off")

    # 2. the cost matrix, matched cells outlined
    values = cost.numpy()
    cost_ax.imshow(values, cmap="Greys", aspect="auto")
    middle = (values.max() + values.min()) / 2
    for (q, j), v in np.ndenumerate(values):
        cost_ax.text(j, q, f"{v:.2f}", ha="center", va="center", fontsize=7,
                     color="white" if v > middle else "black")
    for q, j in pairs:
        cost_ax.add_patch(Rectangle((j - 0.5, q - 0.5), 1, 1, fill=False, ec=colors[j], lw=3))
    cost_ax.set_xticks(range(objects), names, fontsize=8)
    cost_ax.set_yticks(range(queries),
                       [f"q{q}" if q in match_of_query else f"q{q}  ∅" for q in range(queries)],
                       fontsize=7)
    total = float(sum(values[q, j] for q, j in pairs))
    cost_ax.set_title(f"matching cost; matched pairs outlined, total {total:.2f}", fontsize=9)
    return SetMatching(pairs, total, (box_ax if pred_boxes is not None else None, cost_ax))
