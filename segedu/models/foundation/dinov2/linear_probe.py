r"""A linear segmentation probe on a frozen ViT's patch tokens (DINOv2's "linear" evaluation).

Oquab et al., "DINOv2", TMLR 2024, section 7.4 (semantic segmentation, "Linear: a linear layer is
trained to predict class logits from patch tokens. It is used to produce a low-resolution logit
map ..., which is then upsampled to full resolution"), and their code
(``dinov2/eval/segmentation``: ``BNHead``, a BatchNorm then a 1 x 1 convolution on the patch
tokens, with ``CenterPadding`` of the image to a multiple of the patch size). For images
``(B, 3, H, W)`` in [0, 1]::

    normalise          ImageNet mean and standard deviation (what DINOv2 was trained on)
    pad                centred, with zeros, to multiples of the patch size p: (Hp, Wp)
    frozen backbone    the last ``layers`` blocks' normalised patch tokens, concatenated
                                                              (B, layers * D, Hp / p, Wp / p)
    head               BatchNorm2d, then a 1 x 1 convolution: one linear classifier per patch
                                                              (B, K, Hp / p, Wp / p)
    upsample           bilinear to (Hp, Wp), then the padding cropped off  -> (B, K, H, W)

The backbone is never trained (its parameters are frozen and it stays in eval mode, whatever
``train()`` says), so the probe measures what the features already hold: at evaluation the
BatchNorm is a fixed per-channel affine map, so the whole head is one linear map per patch.
Unlike DINOv2's code, which resizes the padded logits to the unpadded size, the padding is cropped
off after the upsampling so that every logit stays over its own pixels. ``layers=4`` is the
paper's concatenation of the last four blocks (its "+ms" setting also adds test-time multi-scale,
left out here).

The backbone is anything with DINO's ``get_intermediate_layers(x, n)`` (normalised tokens of the
last ``n`` blocks), ``patch_size``, ``embed_dim`` and, when it has register tokens,
``num_prefix_tokens``: :class:`~.model.Dinov2` and DINO's :class:`segedu.nn.vit.VisionTransformer`.
The output is the semantic family's ``{"out": logits (B, K, H, W)}``. Training the head on cached
features and scoring it on the zoo's held-out scenes: :mod:`segedu.zoo.linear_probe`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ....data import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["LinearProbe"]


class LinearProbe(nn.Module):
    """Images ``(B, 3, H, W)`` in [0, 1] -> ``{"out": logits (B, K, H, W)}`` from frozen features.

    Args:
        backbone: the frozen ViT (see the module docstring); the probe freezes it.
        num_classes: ``K``.
        layers: how many of the last blocks' patch tokens are concatenated (1 or DINOv2's 4).
        batch_norm: BatchNorm before the linear layer, as DINOv2's ``BNHead``.
        normalize: normalise [0, 1] images with the ImageNet statistics first.
    """

    def __init__(self, *, backbone: nn.Module, num_classes: int, layers: int = 1,
                 batch_norm: bool = True, normalize: bool = True) -> None:
        super().__init__()
        depth = len(getattr(backbone, "blocks", ()))
        if not all(hasattr(backbone, a) for a in ("get_intermediate_layers", "patch_size",
                                                  "embed_dim")):
            raise TypeError(f"the backbone must have get_intermediate_layers, patch_size and "
                            f"embed_dim (a segedu ViT), got {type(backbone).__name__}")
        if not 1 <= layers <= depth:
            raise ValueError(f"layers must be in 1..{depth} (the backbone's blocks), got {layers}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.backbone = backbone.requires_grad_(False).eval()
        self.layers = layers
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        channels = layers * backbone.embed_dim
        self.head = nn.Sequential(nn.BatchNorm2d(channels) if batch_norm else nn.Identity(),
                                  nn.Conv2d(channels, num_classes, kernel_size=1))

    def train(self, mode: bool = True) -> LinearProbe:
        """Train or evaluate the head; the backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def _padding(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(left, right, top, bottom)``: centred zeros up to multiples of the patch size."""
        p = self.backbone.patch_size
        (h, w) = size
        ph, pw = -h % p, -w % p
        return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The frozen patch features ``(B, layers * D, Hp / p, Wp / p)`` of images
        ``(B, 3, H, W)`` in [0, 1] (normalised and padded as in the module docstring)."""
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"images must be float (B, 3, H, W) in [0, 1], got {images.dtype} "
                             f"{tuple(images.shape)}")
        # 1. the statistics the backbone was trained with, then centred zero padding
        x = (images - self.mean) / self.std if self.normalize else images
        x = F.pad(x, self._padding(images.shape[-2:]))
        h, w = x.shape[-2] // self.backbone.patch_size, x.shape[-1] // self.backbone.patch_size
        # 2. the last `layers` blocks' normalised tokens, class token and registers dropped
        prefix = getattr(self.backbone, "num_prefix_tokens", 1)
        tokens = self.backbone.get_intermediate_layers(x, self.layers)
        patches = torch.cat([t[:, prefix:] for t in tokens], dim=-1)  # (B, h w, layers D)
        # 3. back onto the patch grid, channels first
        return patches.transpose(1, 2).reshape(x.shape[0], -1, h, w)

    def decode(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` of images of ``size`` ``(H, W)`` from their
        :meth:`features`."""
        p = self.backbone.patch_size
        left, _, top, _ = self._padding(size)
        # 1. one linear classifier per patch: (B, K, h, w)
        logits = self.head(features)
        # 2. bilinear up-sampling to the padded image, then the padding cropped off
        logits = F.interpolate(logits, scale_factor=p, mode="bilinear", align_corners=False)
        return logits[..., top:top + size[0], left:left + size[1]]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.decode(self.features(images), tuple(images.shape[-2:]))}
