"""Train a linear segmentation probe on frozen ViT features and score it on the held-out scenes.

The probe is :class:`segedu.models.foundation.dinov2.LinearProbe` (DINOv2's "linear" evaluation:
a BatchNorm and a 1 x 1 convolution on the patch tokens, bilinear up-sampling). Its backbone is
frozen and there is no augmentation, so the features of the training scenes are computed once
and cached; only the head is trained on them, with :func:`segedu.engine.fit` (AdamW, cosine decay,
pixel-wise cross-entropy on the up-sampled logits, as DINOv2's linear head). The score is the
zoo's: per-class IoU and mIoU on the held-out split (:func:`segedu.zoo.semantic.evaluate`, 500
scenes of seed 1 at 128 x 128; training scenes come from seed 0).

segedu ships no pretrained DINOv2 (its weights are ``get_model("dinov2_vits14",
weights="official")``, online), so offline the probe runs on a backbone at **random
initialisation**: a baseline that says what a linear map of random ViT features of each patch gets,
not what DINOv2's features get. (The zoo's ``dino_vit_tiny``, trained by :mod:`segedu.zoo.dino` on
the synthetic scenes, has its own patch-level probe in its card.) At DINOv2's initialisation the
LayerScale gains are 1e-5, so the blocks barely change the tokens: a random DINOv2 is close to a
LayerNorm of a random linear projection of each 14 x 14 patch plus its position embedding (measured
on a random ``dinov2_vits14`` and four random 140-pixel images: its final tokens differ from the
final LayerNorm of its input tokens by at most 1.1e-3, on entries up to 4.8 in size).
Recorded scores: ``benchmarks/results/dinov2_linear_probe.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..data import SyntheticScenes
from ..engine import History, WarmupCosine, fit
from ..models.foundation.dinov2 import LinearProbe
from .scores import SIZE, TEST_SCENES, scene_tensors
from .semantic import evaluate

__all__ = ["cached_features", "pixel_cross_entropy", "train_linear_probe", "probe_scenes"]


@torch.no_grad()
def cached_features(probe: LinearProbe, images: torch.Tensor, *, chunk: int = 32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """The probe's frozen features of ``images (L, 3, H, W)``, computed ``chunk`` at a time:
    ``(L, C, h, w)`` on the CPU."""
    probe.to(device)
    return torch.cat([probe.features(images[i:i + chunk].to(device)).cpu()
                      for i in range(0, len(images), chunk)])


class _OnFeatures(nn.Module):
    """The probe's head on cached features: ``(B, C, h, w) -> {"out": (B, K, H, W)}``."""

    def __init__(self, probe: LinearProbe, size: tuple[int, int]) -> None:
        super().__init__()
        self.probe, self.size = probe, size

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.probe.decode(features, self.size)}


def pixel_cross_entropy(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the up-sampled logits ``outputs["out"] (B, K, H, W)`` against the classes
    ``(B, H, W)``: torch's fused kernel, which :func:`segedu.losses.cross_entropy` writes out
    (equal, and slower on the 6 x 128 x 128 logits of a scene)."""
    return F.cross_entropy(outputs["out"], target)


def train_linear_probe(probe: LinearProbe, images: torch.Tensor, labels: torch.Tensor, *,
                       steps: int, batch: int = 16, lr: float = 1e-3, weight_decay: float = 1e-4,
                       seed: int = 0, device: torch.device | str = "cpu") -> History:
    """Train ``probe``'s head on ``images (L, 3, H, W)`` in [0, 1] and their classes
    ``labels (L, H, W)``: features cached once, then ``steps`` AdamW steps of ``batch`` with
    cosine decay and cross-entropy. Returns :func:`segedu.engine.fit`'s history."""
    if images.shape[0] != labels.shape[0] or images.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"images (L, 3, H, W) and labels (L, H, W) must match, got "
                         f"{tuple(images.shape)} and {tuple(labels.shape)}")
    features = cached_features(probe, images, device=device)
    model = _OnFeatures(probe, tuple(labels.shape[-2:]))
    optimizer = torch.optim.AdamW(probe.head.parameters(), lr=lr, weight_decay=weight_decay)
    loader = DataLoader(TensorDataset(features, labels), batch_size=batch, shuffle=True)
    return fit(model, loader, loss_fn=pixel_cross_entropy,
               optimizer=optimizer, scheduler=WarmupCosine(optimizer, steps), max_steps=steps,
               device=device, seed=seed, progress=False, live_plot=False)


def probe_scenes(backbone: nn.Module, *, scenes: int = 500, test_scenes: int = TEST_SCENES,
                 steps: int = 1000, layers: int = 1, seed: int = 0,
                 device: torch.device | str = "cpu") -> tuple[LinearProbe, dict[str, float]]:
    """A linear probe on ``backbone``'s frozen features, trained on ``scenes`` synthetic scenes
    of seed 0 (``SIZE`` pixels) and scored on the first ``test_scenes`` held-out scenes.

    Returns the probe and its score: the IoU of each class (``"sky"``, ...) and ``"miou"``.
    The head's initialisation and the data order follow ``seed``.
    """
    torch.manual_seed(seed)
    probe = LinearProbe(backbone=backbone, num_classes=len(SyntheticScenes.classes),
                        layers=layers)
    images, labels = scene_tensors(seed=0, length=scenes, size=SIZE)
    train_linear_probe(probe, images, labels, steps=steps, seed=seed, device=device)
    return probe, evaluate(probe, device, length=test_scenes)
