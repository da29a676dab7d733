"""segedu.ops anchors against torchvision's AnchorGenerator."""

import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator
from torchvision.models.detection.image_list import ImageList

from segedu.ops import AnchorGenerator, generate_anchors, grid_anchors


def random_config(g, levels):
    sizes, ratios = [], []
    for _ in range(levels):
        sizes.append(
            tuple(
                float(v)
                for v in (
                    torch.rand(int(torch.randint(1, 4, (1,), generator=g)), generator=g) * 300 + 4
                ).round()
            )
        )
        ratios.append(
            tuple(
                float(v)
                for v in torch.rand(int(torch.randint(1, 4, (1,), generator=g)), generator=g) * 3
                + 0.25
            )
        )
    return tuple(sizes), tuple(ratios)


def test_generate_anchors_matches_torchvision():
    # 120 random configurations: sizes in [4, 304], aspect ratios in [0.25, 3.25]
    reference = TVAnchorGenerator()
    for seed in range(120):
        g = torch.Generator().manual_seed(seed)
        (sizes,), (ratios,) = random_config(g, 1)
        ours = generate_anchors(sizes=sizes, aspect_ratios=ratios)
        torch.testing.assert_close(ours, reference.generate_anchors(sizes, ratios), rtol=0, atol=0)
        ours64 = generate_anchors(sizes=sizes, aspect_ratios=ratios, dtype=torch.float64)
        torch.testing.assert_close(
            ours64, reference.generate_anchors(sizes, ratios, dtype=torch.float64), rtol=0, atol=0
        )


def test_generate_anchors_by_hand():
    # size 32, ratio h / w = 1: a 32x32 square centred on 0; ratio 4: h = 32 * 2 = 64, w = 16
    anchors = generate_anchors(sizes=(32,), aspect_ratios=(1.0, 4.0))
    assert anchors.tolist() == [[-16, -16, 16, 16], [-8, -32, 8, 32]]
    # rounding is torch.round, halves to even: size 3 gives +-1.5 -> +-2; size 5 gives +-2.5 -> +-2
    assert generate_anchors(sizes=(3, 5), aspect_ratios=(1.0,)).tolist() == [
        [-2, -2, 2, 2],
        [-2, -2, 2, 2],
    ]
    # order: aspect-ratio-major, then size
    anchors = generate_anchors(sizes=(16, 32), aspect_ratios=(1.0, 4.0))
    assert anchors.tolist() == [
        [-8, -8, 8, 8],
        [-16, -16, 16, 16],
        [-4, -16, 4, 16],
        [-8, -32, 8, 32],
    ]


def test_grid_anchors_by_hand():
    cell = torch.tensor([[-2.0, -1.0, 2.0, 1.0]])
    # a 2x3 map with stride (y 8, x 4): positions (x, y) = (0, 0), (4, 0), (8, 0), (0, 8), ...
    anchors = grid_anchors((2, 3), (8, 4), cell)
    assert anchors.tolist() == [
        [-2, -1, 2, 1],
        [2, -1, 6, 1],
        [6, -1, 10, 1],
        [-2, 7, 2, 9],
        [2, 7, 6, 9],
        [6, 7, 10, 9],
    ]
    two = torch.tensor([[-1.0, -1.0, 1.0, 1.0], [-2.0, -2.0, 2.0, 2.0]])
    # with A = 2, each position's anchors are consecutive
    assert grid_anchors((1, 2), (4, 4), two).tolist() == [
        [-1, -1, 1, 1],
        [-2, -2, 2, 2],
        [3, -1, 5, 1],
        [2, -2, 6, 2],
    ]


def test_anchor_generator_matches_torchvision():
    # 100 random configurations: 1-3 feature maps, random padded batch size and image sizes
    for seed in range(100):
        g = torch.Generator().manual_seed(1000 + seed)
        levels = int(torch.randint(1, 4, (1,), generator=g))
        sizes, ratios = random_config(g, levels)
        batch = int(torch.randint(1, 3, (1,), generator=g))
        height, width = (int(v) for v in torch.randint(16, 80, (2,), generator=g))
        images = torch.zeros(batch, 3, height, width)
        image_sizes = [(height - i, width - 2 * i) for i in range(batch)]  # padded to the largest
        feature_maps = [
            torch.zeros(
                batch, 4, max(height // 2 ** (level + 2), 1), max(width // 2 ** (level + 2), 1)
            )
            for level in range(levels)
        ]
        expected = TVAnchorGenerator(sizes, ratios)(ImageList(images, image_sizes), feature_maps)
        ours = AnchorGenerator(sizes=sizes, aspect_ratios=ratios)
        assert (
            ours.num_anchors_per_location()
            == TVAnchorGenerator(sizes, ratios).num_anchors_per_location()
        )
        for got in (ours(ImageList(images, image_sizes), feature_maps), ours(images, feature_maps)):
            assert len(got) == len(expected) == batch
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_anchor_generator_follows_the_feature_dtype():
    images = ImageList(torch.zeros(1, 3, 32, 32), [(32, 32)])
    maps = [torch.zeros(1, 2, 4, 4, dtype=torch.float64)]
    ours = AnchorGenerator(sizes=((16,),), aspect_ratios=((0.5, 1.0),))(images, maps)
    theirs = TVAnchorGenerator(((16,),), ((0.5, 1.0),))(images, maps)
    assert ours[0].dtype == torch.float64 and ours[0].shape == (4 * 4 * 2, 4)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=0)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="sizes must be positive"):
        generate_anchors(sizes=(0,), aspect_ratios=(1.0,))
    with pytest.raises(TypeError, match="aspect_ratios must be a non-empty list"):
        generate_anchors(sizes=(8,), aspect_ratios=())
    with pytest.raises(ValueError, match="one entry per feature map"):
        AnchorGenerator(sizes=((8,), (16,)), aspect_ratios=((1.0,),))
    with pytest.raises(ValueError, match=r"cell_anchors must be an \(A, 4\) tensor"):
        grid_anchors((2, 2), (4, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="stride > 0"):
        grid_anchors((2, 2), (0, 4), torch.zeros(1, 4))
    generator = AnchorGenerator(sizes=((8,),), aspect_ratios=((1.0,),))
    with pytest.raises(ValueError, match="got 2 feature maps for 1 anchor configurations"):
        generator(torch.zeros(1, 3, 8, 8), [torch.zeros(1, 1, 2, 2)] * 2)
    with pytest.raises(TypeError, match="ImageList or an"):
        generator([1, 2], [torch.zeros(1, 1, 2, 2)])
