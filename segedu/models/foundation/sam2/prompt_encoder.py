"""SAM 2's prompt encoder: SAM's (:class:`segedu.models.foundation.sam.PromptEncoder`), with
one change in how a box enters.

SAM embeds a box as two extra corner tokens after the points. SAM 2 turns a box into two
*points* with labels 2 (top-left corner) and 3 (bottom-right corner), put before the clicks, and
embeds all points the same way: the position code plus ``point_embeddings[label]``, with one
"not a point" token (label -1) appended, since no separate box tokens follow. The tokens are thus
``[corner, corner, clicks..., pad]`` where SAM has ``[clicks..., pad?, corner, corner]``; the
weights and their names are SAM's (facebookresearch/sam2 reuses SAM's ``PromptEncoder``).

Results are those of ``transformers``' ``Sam2PromptEncoder`` (tested through the whole model).
"""

from __future__ import annotations

import torch

from ..sam.prompt_encoder import PromptEncoder

__all__ = ["Sam2PromptEncoder", "box_to_points"]


def box_to_points(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes ``(B, 4)`` ``xyxy`` -> corner points ``(B, 2, 2)`` with labels ``(B, 2)`` = (2, 3)."""
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (B, 4) xyxy, got shape {tuple(boxes.shape)}")
    labels = torch.tensor([2, 3], device=boxes.device).expand(boxes.shape[0], 2)
    return boxes.reshape(-1, 2, 2), labels


class Sam2PromptEncoder(PromptEncoder):
    """SAM's prompt encoder whose points may also be box corners (labels 2 and 3); same
    arguments as :class:`~segedu.models.foundation.sam.PromptEncoder`. Pass boxes through
    :func:`box_to_points`, before the clicks."""

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """Points ``(B, N, 2)``, labels ``(B, N)`` in {-1, 0, 1, 2, 3} -> ``(B, N (+1), C)``."""
        embedding = super()._embed_points(points, labels, pad)
        if pad:
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        labels = labels[..., None]
        # SAM's encoder added the click labels 0 and 1; SAM 2 adds the two box corners
        embedding = torch.where(labels == 2, embedding + self.point_embeddings[2].weight, embedding)
        return torch.where(labels == 3, embedding + self.point_embeddings[3].weight, embedding)
