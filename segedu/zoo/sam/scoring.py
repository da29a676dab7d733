"""The score of the zoo's SAM on the held-out scenes (seed 1).

Over all segments of the first ``length`` held-out scenes, the mean IoU of (a) one click at the
segment's most interior pixel, keeping the mask SAM ranks best by predicted IoU; (b) the same
click with the oracle best of the three masks; (c) the exact box with the single mask; and the
Pearson correlation between predicted and true IoU over the three masks of (a).
"""

from __future__ import annotations

import torch

from ...ops import masks_to_boxes
from .data import EVAL_SCENES, held_out_segments, interior_point
from .forward import prompt_tokens
from .loss import mask_iou

__all__ = ["sam_answers", "score_answers", "evaluate_sam", "evaluate", "METRIC_NAMES"]


@torch.no_grad()
def sam_answers(model: torch.nn.Module, image: torch.Tensor, segments: torch.Tensor,
                embedding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """SAM's answers for the segments ``(M, H, W)`` of one image ``(3, H, W)`` in [0, 1]:
    ``point_masks`` ``(M, 3, H, W)`` bool and ``point_iou`` ``(M, 3)`` (multimask output for a
    click at :func:`interior_point`), ``box_masks`` ``(M, H, W)`` bool (single mask for the exact
    box)."""
    device = next(model.parameters()).device
    if embedding is None:
        embedding = model.embed_images(image[None].to(device) * 255)  # SAM takes 0..255
    points = torch.stack([interior_point(s) for s in segments]).to(device)
    boxes = masks_to_boxes(segments).to(device)  # (M, 4) inclusive pixel indices
    # both prompt kinds in one decoder call (two tokens each), as in training
    prompts = {"is_point": torch.arange(2 * len(segments), device=device) < len(segments),
               "points": torch.cat([points, points]), "boxes": torch.cat([boxes, boxes])}
    sparse, dense = prompt_tokens(model, prompts, None, None)
    size = tuple(image.shape[-2:])
    logits, _, iou_pred = model.decode_all_masks(embedding, sparse, dense, input_size=size,
                                                 original_size=size)
    m = len(segments)
    return {"point_masks": (logits[:m, 1:] > 0).cpu(), "point_iou": iou_pred[:m, 1:].float().cpu(),
            "box_masks": (logits[m:, 0] > 0).cpu()}


def score_answers(answers: list[dict[str, torch.Tensor]],
                  segments: list[torch.Tensor]) -> dict[str, float]:
    """mIoU over all segments of (a) the point prompt, mask ranked best by predicted IoU
    (``miou_point``), (b) the point prompt, oracle best of 3 (``miou_point_oracle``), (c) the box
    (``miou_box``), (a) split into things and stuff is not made here (a segment is a segment);
    and ``iou_correlation``, Pearson's r between predicted and true IoU of every point mask."""
    best, oracle, box, predicted, true = [], [], [], [], []
    for answer, truth in zip(answers, segments, strict=True):
        iou = mask_iou(answer["point_masks"], truth[:, None])  # (M, 3)
        ranked = answer["point_iou"].argmax(dim=1)
        best.append(iou.gather(1, ranked[:, None])[:, 0])
        oracle.append(iou.max(dim=1).values)
        box.append(mask_iou(answer["box_masks"], truth))
        predicted.append(answer["point_iou"].flatten())
        true.append(iou.flatten())
    predicted, true = torch.cat(predicted).double(), torch.cat(true).double()
    if predicted.std() > 0 and true.std() > 0:
        correlation = float(torch.corrcoef(torch.stack([predicted, true]))[0, 1])
    else:
        correlation = float("nan")
    return {"miou_point": float(torch.cat(best).mean()),
            "miou_point_oracle": float(torch.cat(oracle).mean()),
            "miou_box": float(torch.cat(box).mean()), "iou_correlation": correlation}


@torch.no_grad()
def evaluate_sam(model: torch.nn.Module, *, length: int = EVAL_SCENES,
                 device: torch.device | str = "cpu",
                 batch: int = 16) -> dict[str, float]:
    """Score a SAM on the first ``length`` held-out scenes (seed 1): :func:`score_answers` of
    :func:`sam_answers` for every segment (module docstring). Deterministic."""
    device = torch.device(device)
    model.to(device).eval()
    images, segments = held_out_segments(length)
    answers = []
    for start in range(0, length, batch):
        chunk = images[start:start + batch]
        embeddings = model.embed_images(torch.stack(chunk).to(device) * 255)  # SAM takes 0..255
        for image, seg, e in zip(chunk, segments[start:start + batch], embeddings, strict=True):
            answers.append(sam_answers(model, image, seg, embedding=e[None]))
    return score_answers(answers, segments)


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = EVAL_SCENES) -> dict[str, float]:
    """:func:`evaluate_sam`: the recipe's score."""
    return evaluate_sam(model, length=length, device=device)


METRIC_NAMES = {"miou_point": "mIoU, 1 point, mask ranked best by SAM",
                "miou_point_oracle": "mIoU, 1 point, oracle best of 3",
                "miou_box": "mIoU, box", "iou_correlation": "correlation predicted / true IoU"}
