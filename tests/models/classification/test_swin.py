"""``swin_t`` against torchvision's ``swin_t`` given torchvision's weights.

torchvision's Swin-T with random weights (every tensor perturbed, so that no LayerNorm is the
identity and a swapped pair of norms would show) is saved to a file in torchvision's names;
``get_model("swin_t", weights=file)`` converts and loads it. The logits and the four stages'
maps are then equal to torchvision's on random inputs: 64 x 64 (a stage-1 grid of 16 x 16, padded
to 21 x 21 for the 7 x 7 windows, with shifted windows and their mask in stages 1 and 2), 70 x 90
(no side a multiple of the window, nor of the patch merging's 2: both pad) and a batch of one.
The two networks compute the same operations in the same order, so they agree to the last bit
on this CPU; the comparison keeps float32's default tolerance (1.3e-6 relative) for other CPUs.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from segedu.models import get_model
from segedu.nn.swin import relative_position_index, shifted_window_mask, swin_t
from tests.models.classification.torchvision_pairs import reference_stages, torchvision_pair

INPUTS = {"batch 2, 64 x 64": (2, 3, 64, 64), "batch 1, 70 x 90": (1, 3, 70, 90)}
# a slim Swin for the tests of loading alone (torchvision's class takes the same configuration)
SLIM = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4,
            num_classes=5)


def _slim_reference() -> torch.nn.Module:
    torch.manual_seed(3)
    return torchvision.models.swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8],
        window_size=[4, 4], num_classes=5).eval()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(torchvision's swin_t, segedu's loaded from its state dict file), both in eval mode."""
    return torchvision_pair(torchvision.models.swin_t, "swin_t", tmp_path_factory.mktemp("swin"))


def _reference_stages(reference, x: torch.Tensor) -> list[torch.Tensor]:
    return reference_stages(reference, x, channels_last=True)


@pytest.mark.parametrize("shape", INPUTS.values(), ids=INPUTS.keys())
def test_logits_and_stage_maps_equal_torchvisions(pair, shape):
    reference, ours = pair
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))
        maps = ours.forward_stages(x)
        for mine, theirs in zip(maps, _reference_stages(reference, x), strict=True):
            torch.testing.assert_close(mine, theirs)
    side = shape[2] // 4
    assert maps[0].shape[-2:] == (side, shape[3] // 4)  # stride 4
    assert [m.shape[1] for m in maps] == [96, 192, 384, 768]


@pytest.mark.parametrize("key, index", [
    ("patch_embed.proj.weight", (0, 0, 0, 0)),
    ("stages.0.blocks.1.attn.relative_position_bias_table", (5, 1)),  # a shifted block
    ("stages.2.blocks.4.mlp.fc2.bias", (10,)),
])
def test_one_changed_weight_breaks_the_equality(pair, key, index):
    reference, ours = pair
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    weight = ours.state_dict()[key]
    old = weight[index].item()
    try:
        weight[index] += 0.5
        with torch.no_grad(), pytest.raises(AssertionError, match="not close"):
            torch.testing.assert_close(ours(x), reference(x))
    finally:
        weight[index] = old


def test_the_parameter_count_is_torchvisions(pair):
    reference, ours = pair
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 28_288_354


def test_a_file_in_segedus_names_loads_too_and_a_foreign_one_is_refused(tmp_path):
    torch.manual_seed(0)
    ours = get_model("swin_t", **SLIM)
    torch.save(ours.state_dict(), tmp_path / "ours.pth")
    again = get_model("swin_t", weights=tmp_path / "ours.pth", **SLIM)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 ours.state_dict().values(), strict=True))
    torch.save({"features.0.0.weight": torch.zeros(16, 3, 4, 4), "fc.weight": torch.zeros(2)},
               tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="foreign.pth does not fit SwinTransformer"):
        get_model("swin_t", weights=tmp_path / "foreign.pth", **SLIM)


def test_the_shift_mask_separates_the_regions_the_roll_brought_together():
    """A 4 x 4 grid, 2 x 2 windows shifted by 1: after the roll, the top-left window holds
    tokens of one region (no mask); the bottom-right one holds four tokens from the four corners
    of the image, none of which may attend to another."""
    mask = shifted_window_mask(4, 4, (2, 2), (1, 1))
    assert mask.shape == (4, 4, 4)
    assert torch.equal(mask[0], torch.zeros(4, 4))
    assert torch.equal(mask[3], -100.0 * (1 - torch.eye(4)))
    # the top-right window: columns 2 and 3 come from different regions, rows do not
    same_column_band = torch.tensor([[0, -100, 0, -100], [-100, 0, -100, 0]] * 2,
                                    dtype=torch.float32)
    assert torch.equal(mask[1], same_column_band)


def test_the_relative_position_index_counts_offsets():
    """In a 2 x 2 window the (2*2 - 1)^2 = 9 offsets are indexed row-major from (-1, -1);
    a token's offset to itself is (0, 0), the table's centre row 4."""
    index = relative_position_index((2, 2))
    assert torch.equal(index.diagonal(), torch.full((4,), 4))
    assert index[0, 3].item() == 0 and index[3, 0].item() == 8  # offsets (-1, -1) and (1, 1)


def test_bad_configurations_are_clear_errors():
    with pytest.raises(ValueError, match="need one value per stage"):
        swin_t(depths=(2, 2), num_heads=(3, 6, 12))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        swin_t(embed_dim=10, num_heads=(3, 6, 12, 24))
    with pytest.raises(TypeError, match="window_size must be an int or a pair"):
        swin_t(window_size=7.0)


def test_official_weights_are_torchvisions_converted(monkeypatch):
    """``weights="official"``: torchvision's checkpoint (here a random slim one) is read from
    torchvision's address and converted."""
    reference = _slim_reference()
    asked = []

    def fake_download(url, **kwargs):
        asked.append(url)
        return reference.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    model = get_model("swin_t", weights="official", **SLIM).eval()
    assert asked == [torchvision.models.Swin_T_Weights.IMAGENET1K_V1.url]
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
