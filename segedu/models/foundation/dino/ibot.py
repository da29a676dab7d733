"""Masked patch self-distillation: DINO's loss on the patch tokens (iBOT).

Zhou et al., "iBOT: Image BERT Pre-Training with Online Tokenizer", ICLR 2022
(https://arxiv.org/abs/2111.07832; https://github.com/bytedance/ibot, ``main_ibot.py``); DINOv2
keeps the same term. DINO (:mod:`.loss`) only asks the *class token* of one view to agree with the
teacher's class token of another view, so nothing in its loss speaks of the patch tokens that
k-means and probes read. iBOT adds a second self-distillation on the patches:

1. a random set of patches of each global view is **masked**: their tokens are replaced by a
   learned mask token before the transformer
   (:meth:`~segedu.nn.vit.VisionTransformer.prepare_tokens`), in rectangular blocks
   (:func:`block_mask`, BEiT's blockwise masking);
2. the **teacher** sees the same view unmasked; its patch tokens go through the head, are centred
   with their own centre and sharpened, as DINO does for the class token;
3. the **student** must give, at each masked patch, the teacher's distribution for that patch: it
   has to infer what is under the mask from the context, so patches of one object or stuff region
   are pushed to the same prototypes (:class:`MaskedPatchLoss`).

The class tokens keep DINO's cross-view loss, with the student on the masked views.
Compared with iBOT: the mask token lives in the wrapper, not in the backbone (so the backbone keeps
the keys of a plain ViT); the head is shared between class and patch tokens (iBOT's
``--shared_head``); each image is masked with probability ``mask_probability`` (iBOT: 0.5) at a
ratio drawn uniformly from ``mask_ratio`` (iBOT: 0.3 +- 0.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .loss import DINOLoss
from .training import update_student_and_teacher

__all__ = ["block_mask", "random_block_masks", "MaskedPatchWrapper", "MaskedPatchLoss",
           "ibot_loss", "ibot_training_step"]


def block_mask(grid: tuple[int, int], num_masked: int, *, generator: torch.Generator | None = None,
               min_block: int = 4, aspect: tuple[float, float] = (0.3, 1 / 0.3),
               max_tries: int = 10) -> torch.Tensor:
    """A ``(h, w)`` bool mask with about ``num_masked`` True patches, as rectangles (BEiT's
    blockwise masking).

    Rectangles of area ``min_block`` .. (what is left to mask) and aspect ratio log-uniform in
    ``aspect`` are placed at random; a rectangle counts only the patches it newly masks. It stops at
    ``num_masked`` or when ``max_tries`` rectangles in a row fail (so it may mask a few less, never
    more), as BEiT's ``MaskingGenerator``.
    """
    h, w = grid
    if not 0 <= num_masked <= h * w:
        raise ValueError(f"num_masked must be in [0, {h * w}] for a {h} x {w} grid, got "
                         f"{num_masked}")
    mask = torch.zeros(h, w, dtype=torch.bool)

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    count = 0
    while count < num_masked:
        added = 0
        for _ in range(max_tries):
            # 1. a rectangle: its area and aspect ratio at random, its size rounded
            area = uniform(min(min_block, num_masked - count), num_masked - count)
            ratio = math.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
            bh, bw = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if not (1 <= bh <= h and 1 <= bw <= w):
                continue
            # 2. a random place; keep it if it masks something new without going past num_masked
            top = int(torch.randint(0, h - bh + 1, (), generator=generator))
            left = int(torch.randint(0, w - bw + 1, (), generator=generator))
            new = int((~mask[top:top + bh, left:left + bw]).sum())
            if 0 < new <= num_masked - count:
                mask[top:top + bh, left:left + bw] = True
                added = new
                break
        if added == 0:
            break
        count += added
    return mask


def random_block_masks(batch: int, grid: tuple[int, int], *,
                       generator: torch.Generator | None = None,
                       probability: float = 0.5,
                       ratio: tuple[float, float] = (0.1, 0.5)) -> torch.Tensor:
    """``(B, h, w)`` bool masks: each image masked with ``probability``, at a ratio uniform
    in ``ratio``."""
    h, w = grid
    masks = torch.zeros(batch, h, w, dtype=torch.bool)
    for b in range(batch):
        if float(torch.rand((), generator=generator)) < probability:
            share = ratio[0] + (ratio[1] - ratio[0]) * float(torch.rand((), generator=generator))
            masks[b] = block_mask(grid, int(round(share * h * w)), generator=generator)
    return masks


class MaskedPatchWrapper(nn.Module):
    """A ViT with a shared head on its class and patch tokens, and iBOT's learned mask token.

    ``forward(images (B, 3, S, S), masks (B, h, w) | None)`` -> ``(class scores (B, K),
    patch scores (B, N, K))``.

    Args:
        backbone: a :class:`~segedu.nn.vit.VisionTransformer`.
        head: ``(M, D) -> (M, K)``, a :class:`~segedu.models.foundation.dino.head.DINOHead`.
    """

    def __init__(self, *, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.mask_token = nn.Parameter(torch.zeros(backbone.embed_dim))  # iBOT: zeros, learned

    def forward(self, images: torch.Tensor,
                masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # 1. tokens (B, 1 + N, D); masked patches enter as the mask token
        tokens = self.backbone.forward_features(images, mask=masks, mask_token=self.mask_token
                                                if masks is not None else None)
        b, n1, d = tokens.shape
        # 2. the head on every token at once: (B (1 + N), D) -> (B, 1 + N, K)
        scores = self.head(tokens.reshape(b * n1, d)).reshape(b, n1, -1)
        return scores[:, 0], scores[:, 1:]


class MaskedPatchLoss(nn.Module):
    """iBOT's patch loss, with its own centre ``(1, 1, K)``.

    For each view ``v``: ``sum over masked patches of H(teacher_v, student_v) / (number masked)``
    per image, averaged over the images (an image with no masked patch adds 0, as iBOT's
    ``clamp(min=1)``), then averaged over the views. The teacher's patch scores are centred
    (all patches of the batch, masked or not, update the centre with momentum ``center_momentum``)
    and sharpened at ``teacher_temp``; the student's at ``student_temp``.
    """

    def __init__(self, *, out_dim: int, student_temp: float = 0.1,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, 1, out_dim))

    def forward(self, student_patches: Sequence[torch.Tensor],
                teacher_patches: Sequence[torch.Tensor],
                masks: Sequence[torch.Tensor], *, teacher_temp: float) -> torch.Tensor:
        """``student_patches``, ``teacher_patches``: per view ``(B, N, K)``; ``masks``: per view
        ``(B, h, w)`` bool."""
        if not (len(student_patches) == len(teacher_patches) == len(masks)) or not len(masks):
            raise ValueError(f"need one student output, teacher output and mask per view, got "
                             f"{len(student_patches)}, {len(teacher_patches)}, {len(masks)}")
        total = student_patches[0].new_zeros(())
        for s, t, m in zip(student_patches, teacher_patches, masks, strict=True):
            if s.shape != t.shape or m.shape[0] != s.shape[0] or m[0].numel() != s.shape[1]:
                raise ValueError(f"student {tuple(s.shape)}, teacher {tuple(t.shape)} and mask "
                                 f"{tuple(m.shape)} do not match (B, N, K), (B, N, K), (B, h, w) "
                                 "with N = h w")
            # 1. teacher: centre, sharpen, softmax (no gradient); student: log-softmax
            p_t = F.softmax((t - self.center) / teacher_temp, dim=-1).detach()
            log_p_s = F.log_softmax(s / self.student_temp, dim=-1)
            # 2. cross-entropy at each patch (B, N), kept on the masked ones, averaged per image
            m = m.flatten(1).to(s.dtype)
            per_patch = (-p_t * log_p_s).sum(-1)
            total = total + ((per_patch * m).sum(1) / m.sum(1).clamp(min=1.0)).mean()
        self.update_center(teacher_patches)
        return total / len(masks)

    @torch.no_grad()
    def update_center(self, teacher_patches: Sequence[torch.Tensor]) -> None:
        """``c <- m c + (1 - m) * mean``, the mean over views, images and patches of the teacher's
        patch scores."""
        batch_mean = torch.cat(list(teacher_patches)).mean(dim=(0, 1), keepdim=True)
        self.center.mul_(self.center_momentum).add_((1 - self.center_momentum) * batch_mean)


def ibot_loss(student: MaskedPatchWrapper, teacher: MaskedPatchWrapper, class_loss: DINOLoss,
              patch_loss: MaskedPatchLoss, views: Sequence[torch.Tensor],
              masks: Sequence[torch.Tensor], *, teacher_temp: float,
              patch_teacher_temp: float | None = None, patch_weight: float = 1.0,
              all_patches: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DINO + masked patch self-distillation on the 2 global ``views`` ``(B, 3, S, S)``.

    ``masks``: one ``(B, h, w)`` bool mask per view (:func:`random_block_masks`). ``all_patches``:
    the patch loss on every patch, the visible ones too (iBOT++, TIPSv2), not only on the masked
    ones; the student still sees the masked views. Returns the scalar ``loss`` and its two terms
    ``{"class_loss", "patch_loss"}``; the losses' centres move (as in DINO's forward).
    """
    if len(views) != 2 or len(masks) != 2:
        raise ValueError(f"need the 2 global views and their 2 masks, got {len(views)} and "
                         f"{len(masks)}")
    # 1. teacher on the unmasked views, without gradients
    with torch.no_grad():
        teacher_out = [teacher(v) for v in views]
    # 2. student on the masked views
    student_out = [student(v, m) for v, m in zip(views, masks, strict=True)]
    # 3. DINO on the class tokens (across views), iBOT on the masked patches (same view)
    cls = class_loss([s[0] for s in student_out], [t[0] for t in teacher_out],
                     teacher_temp=teacher_temp)
    weighted = [torch.ones_like(m) for m in masks] if all_patches else masks
    patch = patch_loss([s[1] for s in student_out], [t[1] for t in teacher_out], weighted,
                       teacher_temp=teacher_temp if patch_teacher_temp is None
                       else patch_teacher_temp)
    return cls + patch_weight * patch, {"class_loss": cls, "patch_loss": patch}


def ibot_training_step(student: MaskedPatchWrapper, teacher: MaskedPatchWrapper,
                       class_loss: DINOLoss,
                       patch_loss: MaskedPatchLoss, views: Sequence[torch.Tensor],
                       masks: Sequence[torch.Tensor],
                       optimizer: torch.optim.Optimizer, momentum: float, *, teacher_temp: float,
                       patch_teacher_temp: float | None = None, patch_weight: float = 1.0,
                       clip_grad: float | None = None, freeze_last_layer: bool = False,
                       all_patches: bool = False) -> dict[str, float]:
    """One whole step: :func:`ibot_loss`, then the student's update and the teacher's EMA
    (:func:`~.training.update_student_and_teacher`). Returns the ``loss`` and its two terms
    ``class_loss`` and ``patch_loss`` as floats.
    """
    loss, parts = ibot_loss(student, teacher, class_loss, patch_loss, views, masks,
                            teacher_temp=teacher_temp, patch_teacher_temp=patch_teacher_temp,
                            patch_weight=patch_weight, all_patches=all_patches)
    # gradient step on the student, then the teacher follows (EMA), as in DINO's step
    update_student_and_teacher(student, teacher, loss, optimizer, momentum, clip_grad=clip_grad,
                               freeze_last_layer=freeze_last_layer)
    return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}}
