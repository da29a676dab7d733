"""A tiny, learnable segmentation problem shared by the engine tests (and the DDP worker).

Images are random ``(3, 8, 8)``; the class of a pixel is its brightest channel, which a 1x1
convolution can learn in a few dozen steps on a CPU.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

NUM_CLASSES = 3


class TinySegNet(nn.Module):
    """``(N, 3, H, W)`` images -> ``(N, NUM_CLASSES, H, W)`` logits."""

    def __init__(self, *, hidden: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(hidden, NUM_CLASSES, kernel_size=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


def make_data(*, n: int = 32, size: int = 8, seed: int = 0) -> TensorDataset:
    """``n`` pairs ``(image (3, size, size), labels (size, size))``."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=generator)
    return TensorDataset(images, images.argmax(dim=1))


class Augmented(Dataset):
    """Random flips and noise drawn from the *global* torch, NumPy and Python generators, as
    student augmentations do: resuming must restore all three to replay them."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        image, labels = self.base[i]
        if torch.rand(()) < 0.5:
            image, labels = image.flip(-1), labels.flip(-1)
        if random.random() < 0.5:
            image, labels = image.flip(-2), labels.flip(-2)
        noise = torch.from_numpy(np.random.normal(0, 0.01, size=image.shape).astype(np.float32))
        return image + noise, labels


class DictTargets(Dataset):
    """Items ``(image, {"semantic": labels, "extra": [labels]})``: nested targets, as segedu's."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        image, labels = self.base[i]
        return image, {"semantic": labels, "extra": [labels]}


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter and buffer."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), (
            f"{k} differs: max |diff| {float((a[k] - b[k]).abs().max())}")
