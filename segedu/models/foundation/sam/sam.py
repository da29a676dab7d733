"""The Segment Anything Model (Kirillov et al., "Segment Anything", ICCV 2023).

SAM answers *prompts* (points, boxes, a rough mask) with masks::

    image (3, H, W), long side resized to 1024  --image encoder (once per image)-->  (256, 64, 64)
    prompts                                     --prompt encoder-->  sparse tokens, dense map
    both                                        --mask decoder-->  3 (or 1) mask logits (256 x 256)
                                                                   + a predicted IoU per mask
    logits --upscale to 1024, crop the padding, resize to (H, W), threshold at 0--> masks

The heavy image encoder (:mod:`.image_encoder`) runs once; the prompt encoder
(:mod:`.prompt_encoder`) and the mask decoder (:mod:`.mask_decoder`) are light enough to answer
each click interactively (:mod:`.predictor`). The builders ``sam_vit_b``, ``sam_vit_l``,
``sam_vit_h`` and ``sam_tiny`` are in :mod:`.build`.

:class:`Sam` has segment-anything's interface: ``forward(batched_input, multimask_output)`` takes
a list of dicts (``image``, ``original_size``, optional ``point_coords``, ``point_labels``,
``boxes``, ``mask_inputs``) and returns a list of dicts (``masks``, ``iou_predictions``,
``low_res_logits``), with the same parameter names and the same results (tested).
As there, ``forward`` runs under ``torch.no_grad()`` (it is the inference entry point); training
code calls the three parts directly. Added: clear errors for malformed inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder

__all__ = ["Sam", "PIXEL_MEAN", "PIXEL_STD"]

PIXEL_MEAN = (123.675, 116.28, 103.53)  # ImageNet mean and std, in 0..255 RGB
PIXEL_STD = (58.395, 57.12, 57.375)


class Sam(nn.Module):
    """SAM (module docstring).

    Args (keyword-only):
        image_encoder, prompt_encoder, mask_decoder: the three parts.
        pixel_mean, pixel_std: per-channel normalisation of 0..255 RGB input.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        *,
        image_encoder: ImageEncoderViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: Sequence[float] = PIXEL_MEAN,
        pixel_std: Sequence[float] = PIXEL_STD,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        # not saved in checkpoints (persistent=False), as in segment-anything
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1), False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1), False
        )

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def img_size(self) -> int:
        """Side of the square, padded model input (1024 for the official models)."""
        return self.image_encoder.img_size

    def _check_record(self, i: int, record: dict[str, Any]) -> None:
        """Clear errors for a malformed entry of ``batched_input``."""
        for key in ("image", "original_size"):
            if key not in record:
                raise ValueError(f"batched_input[{i}] has no {key!r}")
        image = record["image"]
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"batched_input[{i}]['image'] must be a (3, H, W) tensor, got {shape}")
        if max(image.shape[1:]) > self.img_size:
            raise ValueError(
                f"batched_input[{i}]['image'] is {tuple(image.shape[1:])}; resize its long side to "
                f"{self.img_size} first (ResizeLongestSide)"
            )
        if ("point_coords" in record) != ("point_labels" in record):
            raise ValueError(f"batched_input[{i}]: point_coords and point_labels go together")

    @torch.no_grad()
    def forward(
        self, batched_input: list[dict[str, Any]], multimask_output: bool
    ) -> list[dict[str, torch.Tensor]]:
        """Predict masks for a batch of images, each with its own prompts.

        Args:
            batched_input: one dict per image with
                ``image``: ``(3, H, W)`` tensor, 0..255 RGB, long side already resized to
                ``img_size`` (:class:`~.transforms.ResizeLongestSide`);
                ``original_size``: ``(H0, W0)`` before resizing;
                optional prompts, in the resized frame: ``point_coords (B, N, 2)`` pixels
                ``(x, y)`` with ``point_labels (B, N)`` (1 foreground, 0 background),
                ``boxes (B, 4)`` ``xyxy``, ``mask_inputs (B, 1, 256, 256)`` logits.
            multimask_output: three masks per prompt (ambiguity) instead of one.

        Returns:
            one dict per image with ``masks`` ``(B, M, H0, W0)`` bool, ``iou_predictions``
            ``(B, M)`` and ``low_res_logits`` ``(B, M, 256, 256)`` (``M`` = 3 or 1; 256 is
            ``4 * img_size / patch_size``).
        """
        for i, record in enumerate(batched_input):
            self._check_record(i, record)
        # encode all images at once
        input_images = torch.stack(
            [self.preprocess(record["image"]) for record in batched_input], dim=0
        )
        image_embeddings = self.image_encoder(input_images)
        outputs = []
        for record, embedding in zip(batched_input, image_embeddings, strict=True):
            # embed this image's prompts
            points = (
                (record["point_coords"], record["point_labels"])
                if "point_coords" in record
                else None
            )
            sparse, dense = self.prompt_encoder(
                points=points, boxes=record.get("boxes"), masks=record.get("mask_inputs")
            )
            # decode masks and IoUs
            low_res_masks, iou_predictions = self.mask_decoder(
                image_embeddings=embedding.unsqueeze(0),
                image_pe=self.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
            )
            # back to the original image size, thresholded
            masks = self.postprocess_masks(
                low_res_masks,
                input_size=tuple(record["image"].shape[-2:]),
                original_size=tuple(record["original_size"]),
            )
            outputs.append(
                {
                    "masks": masks > self.mask_threshold,
                    "iou_predictions": iou_predictions,
                    "low_res_logits": low_res_masks,
                }
            )
        return outputs

    def postprocess_masks(
        self, masks: torch.Tensor, input_size: tuple[int, ...], original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """Mask logits ``(B, M, h, w)`` -> ``(B, M, H0, W0)``: upscale bilinearly to the padded
        input ``(img_size, img_size)``, crop away the padding (``input_size``, the resized image),
        then resize bilinearly to ``original_size``."""
        masks = F.interpolate(
            masks, (self.img_size, self.img_size), mode="bilinear", align_corners=False
        )
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise 0..255 RGB ``(3, h, w)`` (or ``(B, 3, h, w)``) with the pixel mean and std,
        then zero-pad at the bottom and right to ``(img_size, img_size)``."""
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.img_size - w, 0, self.img_size - h))

    # the training path: the steps of forward, with gradients and all four masks

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings ``(B, C, h, w)`` of 0..255 RGB images ``(B, 3, H, W)`` whose long side
        is already ``img_size``: :meth:`preprocess` then the image encoder, with gradients (what
        :meth:`forward` does first, without them)."""
        return self.image_encoder(self.preprocess(images))

    def decode_all_masks(
        self,
        image_embeddings: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        *,
        input_size: tuple[int, int],
        original_size: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All four masks of every prompt of one image, with gradients: what :meth:`forward`
        computes after the prompt encoder, without choosing among the outputs (a training loss
        sees all four; Kirillov et al. 2023, https://arxiv.org/abs/2304.02643).

        Args:
            image_embeddings: ``(1, C, h, w)``, from :meth:`embed_images`.
            sparse_prompt_embeddings, dense_prompt_embeddings: ``(P, N, C)`` and
                ``(P, C, h, w)``, from the prompt encoder.
            input_size, original_size: as :meth:`postprocess_masks`.

        Returns:
            mask logits ``(P, 4, H0, W0)`` (:meth:`postprocess_masks`), low-resolution logits
            ``(P, 4, 4h, 4w)`` and predicted IoUs ``(P, 4)``; mask 0 is the single-mask output,
            masks 1..3 the multimask outputs.
        """
        low_res, iou_predictions = self.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        masks = self.postprocess_masks(low_res, input_size=input_size, original_size=original_size)
        return masks, low_res, iou_predictions
