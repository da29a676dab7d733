"""The training forward of the zoo's SAM: prompts of one image -> masks, with gradients.

SAM's :meth:`~segedu.models.foundation.sam.sam.Sam.forward` runs under ``torch.no_grad()`` (it is
the inference entry point), so training calls its public steps: the prompt encoder and
``Sam.decode_all_masks`` (:func:`decode`), the same computation as the official path, with
gradients and all four masks; :func:`prompt_tokens` embeds mixed point and box prompts so that
they decode in one call, and :func:`image_step` is the loss of one image over its rounds.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..scores import SIZE
from .data import correction_points, sample_prompts
from .loss import mask_loss

__all__ = ["decode", "prompt_tokens", "image_step"]


def decode(model: torch.nn.Module, embedding: torch.Tensor, *,
           points: tuple[torch.Tensor, torch.Tensor] | None,
           boxes: torch.Tensor | None, masks: torch.Tensor | None,
           size: tuple[int, int] = (SIZE, SIZE)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prompts of one image -> all four masks: what :meth:`Sam.forward` computes after the image
    encoder, with gradients and without the selection of the multimask outputs.

    Args:
        embedding: ``(1, C, h, w)`` image embedding.
        points: ``(coords (P, N, 2), labels (P, N))`` or None; boxes ``(P, 4)`` or None; masks
            ``(P, 1, 4h, 4w)`` low-resolution logits or None (as the prompt encoder takes them).
        size: the image's ``(H, W)`` (no resizing: the scenes are already ``img_size``).

    Returns logits ``(P, 4, H, W)`` (up-sampled as :meth:`Sam.postprocess_masks`), low-resolution
    logits ``(P, 4, 4h, 4w)`` and predicted IoUs ``(P, 4)``.
    """
    # embed the prompts: sparse tokens (points, boxes), dense map (mask or no-mask embedding)
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks)
    # decode all four masks, up-sample them to the image
    return model.decode_all_masks(embedding, sparse, dense, input_size=size, original_size=size)


def prompt_tokens(model: torch.nn.Module, prompts: dict[str, torch.Tensor],
                  extra: tuple[torch.Tensor, torch.Tensor] | None,
                  masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse and dense embeddings of mixed point/box prompts of one image, every prompt with the
    same number of tokens, so that they decode in one call.

    First round (``extra`` None): a point prompt is ``[point, not-a-point]``, a box prompt its two
    corners. Correction round (``extra`` = new points ``(P, 2)`` and labels ``(P,)``): a point
    prompt is ``[point, new point, not-a-point]``, a box prompt ``[new point, corner, corner]``.
    Each group is embedded by the prompt encoder exactly as it would be alone (the padding rule
    included), then the rows are put back in prompt order.
    """
    is_point = prompts["is_point"]
    groups = []
    # prompts that are points: their points (+ the correction), padded (no box follows)
    if is_point.any():
        coords = prompts["points"][is_point][:, None]
        labels = torch.ones(coords.shape[:2], device=coords.device)
        if extra is not None:
            coords = torch.cat([coords, extra[0][is_point][:, None]], dim=1)
            labels = torch.cat([labels, extra[1][is_point][:, None]], dim=1)
        m = None if masks is None else masks[is_point]
        groups.append((is_point,
                       model.prompt_encoder(points=(coords, labels), boxes=None, masks=m)))
    # prompts that are boxes: the box (+ the correction point, before it, as SAM orders them)
    if (~is_point).any():
        points = None
        if extra is not None:
            points = (extra[0][~is_point][:, None], extra[1][~is_point][:, None])
        m = None if masks is None else masks[~is_point]
        embedded = model.prompt_encoder(points=points, boxes=prompts["boxes"][~is_point], masks=m)
        groups.append((~is_point, embedded))
    # back to prompt order: row j of the concatenation is prompt position[j]
    position = torch.cat([torch.nonzero(where)[:, 0] for where, _ in groups]).argsort()
    sparse = torch.cat([embedded[0] for _, embedded in groups])[position]
    dense = torch.cat([embedded[1] for _, embedded in groups])[position]
    return sparse, dense


def image_step(model: torch.nn.Module, embedding: torch.Tensor, segments: torch.Tensor,
               rng: np.random.Generator, *,
               prompts: int = 8, rounds: int = 2) -> dict[str, torch.Tensor]:
    """The loss of one image: ``prompts`` targets, a first round and ``rounds - 1`` correction
    rounds (each: the first prompt, one correction point from the previous round's error, the
    previous round's low-resolution logits as mask prompt; single-mask output). Returns the
    losses of :func:`mask_loss` averaged over the rounds (``total`` = mask + iou).

    With ``rounds > 2`` each round keeps only the latest correction point (every prompt then has
    three tokens and all decode in one call); the paper accumulates the points of all rounds.
    The default, one correction round, is the same either way."""
    drawn = sample_prompts(segments, prompts, rng)
    truth = segments[drawn["index"]].to(embedding.device)
    drawn = {k: v.to(embedding.device) for k, v in drawn.items()}
    out: dict[str, torch.Tensor] = {}
    extra, mask_prompt, multimask = None, None, drawn["is_point"]
    for r in range(rounds):
        # embed the prompts and decode all four masks
        sparse, dense = prompt_tokens(model, drawn, extra, mask_prompt)
        logits, low_res, iou_pred = model.decode_all_masks(embedding, sparse, dense,
                                                           input_size=(SIZE, SIZE),
                                                           original_size=(SIZE, SIZE))
        losses = mask_loss(logits.float(), iou_pred.float(), truth, multimask)
        for key in ("mask", "focal", "dice", "iou"):
            out[key] = out.get(key, 0) + losses[key] / rounds
        if r + 1 < rounds:
            # next round: the mask SAM would show (highest predicted IoU among the used ones),
            # a click in its error region, its logits as the mask prompt; then a single mask
            with torch.no_grad():
                used = torch.stack([~multimask, multimask, multimask, multimask], dim=1)
                shown = iou_pred.detach().float().masked_fill(~used, -math.inf).argmax(dim=1)
                rows = torch.arange(len(shown), device=shown.device)
                points, labels = correction_points((logits[rows, shown] > 0).cpu(), truth.cpu(),
                                                   rng)
            extra = (points.to(embedding.device), labels.to(embedding.device))
            mask_prompt = low_res[rows, shown][:, None].detach()
            multimask = torch.zeros_like(multimask)
    out["total"] = out["mask"] + out["iou"]
    return out
