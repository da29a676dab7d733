"""SAM's prompt encoder (Kirillov et al., ICCV 2023, section 3 and appendix A): points, boxes and
masks to embeddings for the mask decoder.

- **Sparse prompts** become tokens of width ``embed_dim`` (256):
  a point is its random Fourier position code (:mod:`.position_encoding`) plus a learned
  embedding of its label (``point_embeddings[1]`` foreground, ``point_embeddings[0]``
  background); a box is two tokens, its top-left and bottom-right corners, each its position
  code plus a learned corner embedding (``point_embeddings[2]``, ``[3]``); label ``-1`` marks a
  "not a point" token (``not_a_point_embed`` alone, no position). When there are points but no
  box, one such padding point is appended (SAM was trained that way: it tells the decoder that
  no box follows).
- **Dense prompts**: a low-resolution mask ``(B, 1, 4h, 4w)`` (256 x 256 for SAM, typically the
  logits of a previous prediction) is downscaled by two stride-2 convolutions and a 1 x 1 one to
  ``(B, embed_dim, h, w)``, to be added to the image embedding; without a mask, a learned
  ``no_mask_embed`` is broadcast instead.
- :meth:`PromptEncoder.get_dense_pe` gives the position code of every cell of the image
  embedding ``(1, embed_dim, h, w)``, the keys' positional encoding in the decoder.

Coordinates are pixels ``(x, y)`` of the resized, padded model input (``input_image_size``), and
are shifted by half a pixel to the pixel centre before encoding. Parameter names and results are
those of segment-anything's ``PromptEncoder`` (tested); the label embeddings are added with
``torch.where`` and masks instead of the reference's in-place indexing, same values.
"""

from __future__ import annotations

import torch
from torch import nn

from ....nn.layer_norm_2d import LayerNorm2d
from .position_encoding import PositionEmbeddingRandom

__all__ = ["PromptEncoder"]


class PromptEncoder(nn.Module):
    """Embed points, boxes and masks (module docstring).

    Args (keyword-only):
        embed_dim: width of the prompt embeddings (256 in SAM; the image embedding's channels).
        image_embedding_size: ``(h, w)`` of the image embedding (64, 64).
        input_image_size: ``(H, W)`` of the padded model input (1024, 1024).
        mask_in_chans: hidden channels of the mask downscaler (16).
        activation: activation of the mask downscaler (GELU).
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        if embed_dim % 2:
            raise ValueError(f"embed_dim must be even (sines and cosines), got {embed_dim}")
        self.embed_dim = embed_dim
        self.input_image_size = tuple(input_image_size)
        self.image_embedding_size = tuple(image_embedding_size)
        self.pe_layer = PositionEmbeddingRandom(num_pos_feats=embed_dim // 2)
        # negative point, positive point, box top-left corner, box bottom-right corner
        self.num_point_embeddings = 4
        self.point_embeddings = nn.ModuleList(
            nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings)
        )
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        # mask (4h, 4w) -> (h, w): two stride-2 convolutions, then a 1 x 1 to embed_dim
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(num_channels=mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(num_channels=mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Position code of every cell of the image embedding: ``(1, embed_dim, h, w)``."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """Points ``(B, N, 2)`` and labels ``(B, N)`` -> tokens
        ``(B, N (+1 if pad), embed_dim)``."""
        # pixel index -> pixel centre
        points = points + 0.5
        # append a "not a point" (label -1) when no box follows
        if pad:
            points = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        labels = labels[..., None]
        # position code of each point
        embedding = self.pe_layer.forward_with_coords(points, self.input_image_size)
        # padding points carry no position, only the "not a point" embedding
        embedding = torch.where(labels == -1, self.not_a_point_embed.weight, embedding)
        # add the label's embedding: background (0) or foreground (1)
        embedding = torch.where(labels == 0, embedding + self.point_embeddings[0].weight, embedding)
        return torch.where(labels == 1, embedding + self.point_embeddings[1].weight, embedding)

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes ``(B, 4)`` ``xyxy`` -> two corner tokens ``(B, 2, embed_dim)``."""
        # pixel index -> pixel centre; each box is two corner points
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        embedding = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        # tell the corners apart with learned embeddings
        corner_type = torch.cat(
            [self.point_embeddings[2].weight, self.point_embeddings[3].weight]
        )  # (2, D)
        return embedding + corner_type

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, 1, 4h, 4w)`` -> ``(B, embed_dim, h, w)``."""
        return self.mask_downscaling(masks)

    def _batch_size(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> int:
        """The number of prompts ``B``, read from the first prompt given (1 without prompts)."""
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed the prompts.

        Args:
            points: ``(coords (B, N, 2), labels (B, N))`` or ``None``; labels 1 foreground,
                0 background, -1 padding.
            boxes: ``(B, 4)`` ``xyxy`` or ``None``.
            masks: ``(B, 1, 4h, 4w)`` logits or ``None``.

        Returns:
            ``sparse (B, N_tokens, embed_dim)`` (points then box corners; ``N_tokens`` may be 0)
            and ``dense (B, embed_dim, h, w)``.
        """
        if points is not None and (points[1] is None or points[0].shape[:2] != points[1].shape[:2]):
            got = None if points[1] is None else tuple(points[1].shape)
            raise ValueError(
                f"point labels must have shape (B, N) = {tuple(points[0].shape[:2])}, got {got}"
            )
        bs = self._batch_size(points, boxes, masks)
        device = self.point_embeddings[0].weight.device
        # sparse tokens: points (padded if no box follows), then box corners
        tokens = [torch.empty((bs, 0, self.embed_dim), device=device)]
        if points is not None:
            tokens.append(self._embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            tokens.append(self._embed_boxes(boxes))
        sparse = torch.cat(tokens, dim=1)
        # dense embedding: the downscaled mask, or the learned "no mask" vector everywhere
        if masks is not None:
            dense = self._embed_masks(masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                bs, -1, *self.image_embedding_size
            )
        return sparse, dense
