"""``convnext_tiny`` against torchvision's ``convnext_tiny`` given torchvision's weights.

torchvision's ConvNeXt-T with random weights (every tensor perturbed, so that the LayerNorms are
not the identity and the layer scales not 1e-6) is saved to a file in torchvision's names;
``get_model("convnext_tiny", weights=file)`` converts and loads it. Logits and the four stages'
maps are compared on random inputs: 64 x 64 in a batch of two, 70 x 90 (sides not multiples of
32: each strided layer drops the last odd row or column, as torchvision's) in a batch of one.

Where the two differ, and why: segedu's LayerNorm over channels (:class:`segedu.nn.LayerNorm2d`,
SAM's, written out as mean, variance, normalise) and torchvision's (``F.layer_norm``, one fused
kernel) round differently in the last bits, about 1e-6 of the logits here; with
``F.layer_norm`` put in its place the networks agree bitwise
(:func:`test_the_difference_is_the_layer_norms_rounding`). The tolerance is float32's default
relative one (1.3e-6) and 1e-5 absolute.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.convnext import CNBlockConfig

from segedu.models import get_model
from segedu.nn.convnext import ConvNeXtBlock, convnext_tiny
from segedu.nn.layer_norm_2d import LayerNorm2d
from tests.models.classification.torchvision_pairs import reference_stages, torchvision_pair

INPUTS = {"batch 2, 64 x 64": (2, 3, 64, 64), "batch 1, 70 x 90": (1, 3, 70, 90)}
TOLERANCE = dict(rtol=1.3e-6, atol=1e-5)
SLIM = dict(dims=(8, 16, 32, 64), depths=(1, 1, 2, 1), num_classes=5)  # for the loading tests


def _slim_reference() -> torch.nn.Module:
    """torchvision's ConvNeXt in :data:`SLIM`'s configuration."""
    torch.manual_seed(3)
    dims, depths = SLIM["dims"], SLIM["depths"]
    return torchvision.models.convnext.ConvNeXt(
        [CNBlockConfig(c, nxt, n) for c, nxt, n in zip(dims, (*dims[1:], None), depths,
                                                       strict=True)], num_classes=5).eval()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(torchvision's convnext_tiny, segedu's loaded from its state dict file), in eval mode."""
    return torchvision_pair(torchvision.models.convnext_tiny, "convnext_tiny",
                            tmp_path_factory.mktemp("convnext"))


def _reference_stages(reference, x: torch.Tensor) -> list[torch.Tensor]:
    return reference_stages(reference, x)


@pytest.mark.parametrize("shape", INPUTS.values(), ids=INPUTS.keys())
def test_logits_and_stage_maps_equal_torchvisions(pair, shape):
    reference, ours = pair
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), **TOLERANCE)
        maps = ours.forward_stages(x)
        for mine, theirs in zip(maps, _reference_stages(reference, x), strict=True):
            torch.testing.assert_close(mine, theirs, **TOLERANCE)
    assert [tuple(m.shape[1:]) for m in maps] == [
        (c, shape[2] // s, shape[3] // s) for c, s in zip((96, 192, 384, 768), (4, 8, 16, 32),
                                                           strict=True)]


def test_the_difference_is_the_layer_norms_rounding(pair, monkeypatch):
    reference, ours = pair

    def fused(self, x):  # torchvision's LayerNorm2d: channels last, F.layer_norm, back
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)

    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(LayerNorm2d, "forward", fused)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


@pytest.mark.parametrize("key, index", [
    ("stages.0.downsample.conv.weight", (0, 0, 0, 0)),  # the stem
    ("stages.1.blocks.2.gamma", (5,)),  # a layer scale
    ("stages.2.downsample.norm.bias", (7,)),
])
def test_one_changed_weight_breaks_the_equality(pair, key, index):
    reference, ours = pair
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    weight = ours.state_dict()[key]
    old = weight[index].item()
    try:
        weight[index] += 0.5
        with torch.no_grad(), pytest.raises(AssertionError, match="not close"):
            torch.testing.assert_close(ours(x), reference(x), **TOLERANCE)
    finally:
        weight[index] = old


def test_the_parameter_count_is_torchvisions(pair):
    reference, ours = pair
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 28_589_128


def test_a_foreign_file_is_refused_by_name(tmp_path):
    torch.save({"features.0.9.weight": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="neither ConvNeXt's names nor the official ones"):
        get_model("convnext_tiny", weights=tmp_path / "foreign.pth", **SLIM)


def test_the_block_starts_near_the_identity_and_drops_its_branch_in_training():
    """Layer scale 1e-6: a new block barely changes its input; with stochastic depth 0.5 in
    training, some samples pass through unchanged (their branch dropped)."""
    torch.manual_seed(0)
    block = ConvNeXtBlock(dim=8, drop_path=0.5)
    x = torch.randn(64, 8, 5, 5)
    torch.testing.assert_close(block.eval()(x), x, rtol=0, atol=1e-4)
    with torch.no_grad():
        block.gamma.fill_(1.0)
        out = block.train()(x)
    unchanged = (out == x).flatten(1).all(1)
    assert 0 < unchanged.sum() < 64


def test_bad_configurations_are_clear_errors():
    with pytest.raises(ValueError, match="need one value per stage"):
        convnext_tiny(dims=(8, 16), depths=(1, 1, 1))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvNeXtBlock(dim=8, kernel_size=4)


def test_official_weights_are_torchvisions_converted(monkeypatch):
    """``weights="official"``: torchvision's checkpoint (here a random slim one) is read from
    torchvision's address and converted."""
    reference = _slim_reference()
    asked = []

    def fake_download(url, **kwargs):
        asked.append(url)
        return reference.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    model = get_model("convnext_tiny", weights="official", **SLIM).eval()
    assert asked == [torchvision.models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1.url]
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), **TOLERANCE)
