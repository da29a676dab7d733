"""The SpatialEmbedding module: the common interface of segedu's bottom-up cell models."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import default_collate

from segedu.data.synthetic_cells import SyntheticCells
from segedu.models.bottom_up.spatial_embedding import (
    PIXEL_SIZE,
    SpatialEmbedding,
    spatial_embedding,
)
from segedu.models.registry import get_model
from segedu.models.semantic.unet import UNet


def test_parameter_count():
    """482,500 = the U-Net of depth 3 and width 16 without its 1x1 classifier (16 * 16 + 16), plus
    the 1x1 heads: offsets 16 * 2 + 2, sigma 16 + 1, seed 16 + 1."""
    model = get_model("spatial_embedding")
    count = sum(p.numel() for p in model.parameters())
    unet = sum(p.numel()
               for p in UNet(in_channels=1, num_classes=16, depth=3, width=16).parameters())
    assert count == unet - (16 * 16 + 16) + (16 * 2 + 2) + (16 + 1) + (16 + 1) == 482_500
    two = sum(p.numel() for p in spatial_embedding(n_sigma=2, in_channels=3).parameters())
    assert two == 482_500 + 17 + 2 * 9 * 16  # one more sigma channel, two more input channels


def test_forward_shapes_and_initial_outputs():
    """As the reference initialises them: offsets 0 (embedding = coordinate), sigma 1."""
    model = SpatialEmbedding(n_sigma=2)
    out = model(torch.rand(2, 1, 32, 40))
    assert out["offsets"].shape == out["embeddings"].shape == (2, 2, 32, 40)
    assert out["sigma"].shape == (2, 2, 32, 40) and out["seed"].shape == (2, 1, 32, 40)
    assert out["offsets"].abs().max() == 0 and torch.all(out["sigma"] == 1.0)
    assert out["embeddings"][0, 0, 3, 7].item() == pytest.approx(7 * PIXEL_SIZE)
    assert out["embeddings"][0, 1, 3, 7].item() == pytest.approx(3 * PIXEL_SIZE)
    assert ((out["seed"] > 0) & (out["seed"] < 1)).all()


def test_targets_collate_and_loss():
    ds = SyntheticCells(size=64, length=2, seed=0)
    model = spatial_embedding()
    targets = default_collate([model.targets(ds[i][1]["instances"]) for i in range(2)])
    assert targets["instances"].shape == (2, 64, 64) and targets["instances"].dtype == torch.int64
    images = torch.stack([ds[i][0] for i in range(2)])
    loss = model.loss(model(images), targets)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.offset_head.weight.grad.abs().max() > 0


def test_loss_decreases():
    """40 Adam steps on 4 fixed 64 x 64 crops of synthetic cells lower the loss by more than
    a third."""
    torch.manual_seed(0)
    ds = SyntheticCells(size=128, length=4, seed=0)
    images = torch.stack([ds[i][0][:, 32:96, 32:96] for i in range(4)])
    model = spatial_embedding(width=8)
    targets = default_collate([model.targets(ds[i][1]["instances"][32:96, 32:96])
                               for i in range(4)])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model.loss(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.67 * sum(losses[:5]) / 5, losses


def test_predict_instances():
    model = spatial_embedding().train()
    images = SyntheticCells(size=32, length=2, seed=0)[0][0][None].repeat(2, 1, 1, 1)
    labels = model.predict_instances(images)
    assert len(labels) == 2 and all(lab.shape == (32, 32) and lab.dtype == torch.int64
                                    for lab in labels)
    assert model.training  # the mode is restored


def test_bad_input():
    model = spatial_embedding()
    with pytest.raises(ValueError, match="multiple of 2\\*\\*3"):
        model(torch.rand(1, 1, 36, 32))
    with pytest.raises(ValueError, match="1 channels"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        model(torch.rand(1, 32, 32))
    with pytest.raises(TypeError, match="integer"):
        model.targets(torch.zeros(8, 8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        model.targets(torch.zeros(1, 8, 8, dtype=torch.int64))
    with pytest.raises(KeyError, match="instances"):
        model.loss(model(torch.rand(2, 1, 8, 8)),
                   {"labels": torch.zeros(2, 8, 8, dtype=torch.int64)})
    with pytest.raises(ValueError, match="n_sigma"):
        SpatialEmbedding(n_sigma=3)
    with pytest.raises(ValueError, match="center"):
        SpatialEmbedding(center="medoid")
