"""DINOv2's linear segmentation probe: frozen features read as the backbone gives them, the
padding cropped where it was added, and the head (only the head) trained on the zoo's scenes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segedu.data import IMAGENET_MEAN, IMAGENET_STD, SyntheticScenes
from segedu.models import get_model
from segedu.models.foundation.dinov2 import Dinov2, LinearProbe
from segedu.zoo.linear_probe import probe_scenes, train_linear_probe
from segedu.zoo.scores import scene_tensors

TINY = dict(embed_dim=32, depth=3, num_heads=2, img_size=56, patch_size=14,
            layerscale_init=0.3)


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return Dinov2(**TINY, num_register_tokens=4).eval()


def normalised(images):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


@torch.no_grad()
def test_features_are_the_backbones_patch_tokens(backbone):
    """126 px (9 x 9 patches) needs no padding; 128 px is padded by 6 pixels of zeros on each
    side to 140 (10 x 10 patches); the registers and the class token are dropped."""
    probe = LinearProbe(backbone=backbone, num_classes=6, layers=2)
    x = torch.rand(2, 3, 126, 126)
    expected = backbone.patch_tokens(normalised(x), 2).permute(0, 3, 1, 2)
    assert probe.features(x).shape == (2, 64, 9, 9)
    torch.testing.assert_close(probe.features(x), expected)
    x = torch.rand(2, 3, 128, 128)
    padded = F.pad(normalised(x), (6, 6, 6, 6))
    torch.testing.assert_close(probe.features(x),
                               backbone.patch_tokens(padded, 2).permute(0, 3, 1, 2))


@torch.no_grad()
def test_logits_are_upsampled_and_cropped_where_the_padding_was(backbone):
    probe = LinearProbe(backbone=backbone, num_classes=6).eval()
    x = torch.rand(2, 3, 128, 100)  # padded to 140 x 112: 6 rows each side, 6 columns each side
    features = probe.features(x)
    full = F.interpolate(probe.head(features), size=(140, 112), mode="bilinear",
                         align_corners=False)
    out = probe(x)["out"]
    assert out.shape == (2, 6, 128, 100)
    torch.testing.assert_close(out, full[..., 6:134, 6:106])
    assert not torch.allclose(out, full[..., :128, :100])  # another crop would not do


def test_backbone_is_frozen_and_stays_in_eval_mode(backbone):
    probe = LinearProbe(backbone=backbone, num_classes=3).train()
    assert not backbone.training and probe.head.training
    assert not any(p.requires_grad for p in backbone.parameters())
    probe(torch.rand(2, 3, 28, 28))["out"].sum().backward()
    assert all(p.grad is not None for p in probe.head.parameters())


def test_dino_v1_vit_backbone():
    """DINO's ViT (one prefix token, patch 8) serves as well: 64 px is an 8 x 8 grid."""
    vit = get_model("dino_vit_tiny", depth=1).eval()
    probe = LinearProbe(backbone=vit, num_classes=6)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = vit.get_intermediate_layers(normalised(x), 1)[0][:, 1:]
        torch.testing.assert_close(probe.features(x), expected.transpose(1, 2).reshape(1, -1, 8, 8))


def test_bad_arguments_are_named(backbone):
    with pytest.raises(ValueError, match=r"layers must be in 1..3"):
        LinearProbe(backbone=backbone, num_classes=6, layers=4)
    with pytest.raises(TypeError, match="get_intermediate_layers"):
        LinearProbe(backbone=torch.nn.Linear(3, 3), num_classes=6)
    with pytest.raises(ValueError, match=r"float \(B, 3, H, W\)"):
        LinearProbe(backbone=backbone, num_classes=6)(torch.rand(3, 28, 28))
    probe = LinearProbe(backbone=backbone, num_classes=6)
    with pytest.raises(ValueError, match="must match"):
        train_linear_probe(probe, torch.rand(4, 3, 28, 28), torch.zeros(3, 28, 28).long(),
                           steps=1)


def test_training_changes_only_the_head_and_lowers_the_loss(backbone):
    """On 16 scenes of 56 px, 40 steps (the loss is recorded every 10)."""
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(0)
    probe = LinearProbe(backbone=backbone, num_classes=len(SyntheticScenes.classes))
    head = [p.clone() for p in probe.head.parameters()]
    images, labels = scene_tensors(seed=0, length=16, size=56)
    history = train_linear_probe(probe, images, labels, steps=40, lr=1e-2)
    losses = history.losses
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())
    assert not any(torch.equal(a, b) for a, b in zip(head, probe.head.parameters(), strict=True))


def test_probe_scenes_scores_on_the_held_out_split(backbone):
    _, score = probe_scenes(backbone, scenes=8, test_scenes=4, steps=5)
    assert set(score) == {*SyntheticScenes.classes, "miou"}
    assert 0 <= score["miou"] <= 1
