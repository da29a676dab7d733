"""The concept figures of segedu.viz draw what the ops compute: each test reads the figure (its
artists, or what the function returns) and checks it against a reference computed here."""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from scipy.ndimage import map_coordinates  # noqa: E402

from segedu.models.bottom_up.cellpose import masks_to_flows  # noqa: E402
from segedu.models.bottom_up.spatial_embedding import center_offsets  # noqa: E402
from segedu.models.bottom_up.stardist import rays_to_polygons, star_distances  # noqa: E402
from segedu.models.universal.detr import HungarianMatcher  # noqa: E402
from segedu.nn import receptive_field  # noqa: E402
from segedu.ops import AnchorGenerator, box_convert  # noqa: E402
from segedu.viz import (  # noqa: E402
    draw_anchor_grid,
    draw_arrows,
    draw_dilated_conv,
    draw_max_unpooling,
    draw_receptive_field,
    draw_roi_sampling,
    draw_set_matching,
    draw_star_rays,
    draw_transposed_conv,
    flow_to_rgb,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- RoIAlign against RoIPool


def drawn_points_per_bin(ax) -> list[np.ndarray]:
    """The sampling points drawn on the RoIAlign panel: one ``(n, 2)`` array ``(x, y)`` per
    scatter, in the order drawn (bin by bin, row-major)."""
    return [c.get_offsets().data for c in ax.collections if isinstance(c, PathCollection)]


def bin_means(feature: torch.Tensor, points_per_bin: list[np.ndarray]) -> np.ndarray:
    """The mean bilinear value at each bin's points, by scipy (order-1 spline = bilinear;
    cell ``(i, j)`` is the point ``(i, j)``), independent of segedu."""
    image = feature.double().numpy()
    return np.array([map_coordinates(image, [p[:, 1], p[:, 0]], order=1).mean()
                     for p in points_per_bin])


CASES = [  # feature size, box (x1, y1, x2, y2), bins, samples per bin
    (7, (0.7, 1.3, 4.2, 4.6), 2, 2),
    (12, (1.2, 2.9, 9.6, 8.1), 3, 2),
    (10, (2.0, 1.5, 7.5, 8.75), 2, 3),
]


@pytest.mark.parametrize("size, box, bins, ratio", CASES)
def test_roi_align_points_drawn_average_to_torchvision(size, box, bins, ratio):
    generator = torch.Generator().manual_seed(size)
    feature = torch.rand(size, size, generator=generator)
    box = torch.tensor(box)
    drawn = draw_roi_sampling(feature, box, output_size=bins, sampling_ratio=ratio)
    points = drawn_points_per_bin(drawn.axes[1])
    assert len(points) == bins * bins and all(len(p) == ratio * ratio for p in points)
    # every drawn point lies inside the box, and the points' bilinear means are RoIAlign
    for p in points:
        assert (p[:, 0] > box[0].item()).all() and (p[:, 0] < box[2].item()).all()
        assert (p[:, 1] > box[1].item()).all() and (p[:, 1] < box[3].item()).all()
    expected = torchvision.ops.roi_align(feature[None, None], [box[None]], bins, 1.0, ratio)
    np.testing.assert_allclose(bin_means(feature, points), expected.flatten().numpy(), atol=1e-5)
    np.testing.assert_allclose(drawn.aligned.flatten().numpy(), expected.flatten().numpy(),
                               atol=1e-6)
    # the RoIPool bins drawn: their maxima are torchvision's roi_pool
    maxima = [[feature[top:bottom, left:right].max() for left, right in drawn.pool_cols]
              for top, bottom in drawn.pool_rows]
    expected_pool = torchvision.ops.roi_pool(feature[None, None], [box[None]], bins)[0, 0]
    assert torch.equal(torch.tensor(maxima), expected_pool)
    assert torch.equal(drawn.pooled, expected_pool)


def test_roi_align_check_can_fail():
    """Points half a cell off (the aligned=True convention drawn for aligned=False) do not
    average to torchvision's output: the comparison above would catch a wrong figure."""
    feature = torch.rand(7, 7, generator=torch.Generator().manual_seed(3))
    box = torch.tensor([0.7, 1.3, 4.2, 4.6])
    drawn = draw_roi_sampling(feature, box)
    shifted = [p - 0.5 for p in drawn_points_per_bin(drawn.axes[1])]
    expected = torchvision.ops.roi_align(feature[None, None], [box[None]], 2, 1.0, 2).flatten()
    assert not np.allclose(bin_means(feature, shifted), expected.numpy(), atol=1e-5)


def test_roi_sampling_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        draw_roi_sampling(torch.rand(1, 7, 7), torch.tensor([0.0, 0, 3, 3]))
    with pytest.raises(ValueError, match="at least one cell"):
        draw_roi_sampling(torch.rand(7, 7), torch.tensor([1.0, 1, 1.5, 3]))
    with pytest.raises(ValueError, match=r"\(4,\) tensor"):
        draw_roi_sampling(torch.rand(7, 7), torch.tensor([[1.0, 1, 3, 3]]))


# ---------------------------------------------------------------- max unpooling and its indices


def test_unpooling_indices_are_max_pool2d_indices():
    x = torch.randperm(36, generator=torch.Generator().manual_seed(1)).reshape(6, 6).float()
    for k in (2, 3):
        drawn = draw_max_unpooling(x, kernel_size=k)
        pooled, indices = F.max_pool2d(x[None, None], k, return_indices=True)
        assert torch.equal(drawn.indices, indices[0, 0])
        assert torch.equal(drawn.pooled, pooled[0, 0])
        assert torch.equal(drawn.unpooled, F.max_unpool2d(pooled, indices, k)[0, 0])
        # the middle panel writes each index; the right panel the unpooled grid, cell by cell
        written = [t.get_text() for t in drawn.axes[1].texts]
        assert [int(t.split("index ")[1]) for t in written] == indices.flatten().tolist()
        right = [float(t.get_text()) for t in drawn.axes[2].texts]
        assert right == drawn.unpooled.flatten().tolist()
        plt.close("all")
    # each written index points at its window's maximum in the input
    flat = x.flatten()
    for text, value in zip(written, drawn.pooled.flatten(), strict=True):
        assert flat[int(text.split("index ")[1])] == value


def test_unpooling_bad_input():
    with pytest.raises(ValueError, match="multiple of kernel_size"):
        draw_max_unpooling(torch.rand(5, 4))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        draw_max_unpooling(torch.rand(1, 4, 4))


# ---------------------------------------------------------------- receptive field


STACKS = [
    [(3, 1, 1)] * 3,
    [(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)],
    [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
    [(7, 2, 1), (3, 2, 1), (3, 1, 1)],  # ResNet's stem, its max pooling, a 3x3 convolution
]


def extent(mask: np.ndarray) -> int:
    on = np.flatnonzero(mask)
    return int(on.max() - on.min() + 1)


@pytest.mark.parametrize("layers", STACKS)
def test_receptive_field_drawn_equals_the_formula(layers):
    for depth in range(1, len(layers) + 1):
        prefix = layers[:depth]
        drawn = draw_receptive_field(prefix)
        assert extent(drawn.depends[0]) == receptive_field(prefix).size
        assert drawn.sizes[-1] == receptive_field(prefix).size
        # the filled input cells on the figure: the traced ones, at their input pixel
        ax = drawn.ax
        filled = sorted(round(p.get_x() + 0.4) for p in ax.patches
                        if p.get_y() == -0.3 and p.get_facecolor() != (1.0, 1.0, 1.0, 1.0))
        assert filled == np.flatnonzero(drawn.depends[0]).tolist()
        plt.close("all")


def test_receptive_field_check_can_fail():
    """Dilation leaves holes: the traced input cells of a dilated stack are not contiguous, and
    the stack without its dilations draws a smaller field than the formula gives with them."""
    dilated = [(3, 1, 1), (3, 1, 2), (3, 1, 4)]
    drawn = draw_receptive_field([(3, 1, 1)] * 3)
    assert extent(drawn.depends[0]) != receptive_field(dilated).size
    holes = draw_receptive_field([(3, 1, 2)]).depends[0]
    assert holes.sum() == 3 and extent(holes) == 5


def test_receptive_field_bad_input():
    with pytest.raises(ValueError, match="kernel_size, stride, dilation"):
        draw_receptive_field([(3, 0, 1)])
    with pytest.raises(ValueError, match="at least one"):
        draw_receptive_field([])
    with pytest.raises(ValueError, match="one entry per layer"):
        draw_receptive_field([(3, 1, 1)], names=["a", "b"])


# ---------------------------------------------------------------- Hungarian matching


def brute_force_pairs(cost: torch.Tensor) -> set[tuple[int, int]]:
    """The cheapest one-to-one assignment of the M columns to distinct rows, by trying all."""
    queries, objects = cost.shape
    best = min(itertools.permutations(range(queries), objects),
               key=lambda rows: sum(float(cost[r, c]) for c, r in enumerate(rows)))
    return {(r, c) for c, r in enumerate(best)}


def outlined_cells(ax) -> set[tuple[int, int]]:
    """The (row, column) of the cells outlined on the cost panel."""
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches}


def detr_example(seed: int, queries: int = 7, objects: int = 3):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(queries, 4, generator=generator)
    boxes = torch.rand(queries, 4, generator=generator) * 0.4 + 0.2  # cxcywh in [0.2, 0.6]
    labels = torch.randint(0, 3, (objects,), generator=generator)
    target_boxes = torch.rand(objects, 4, generator=generator) * 0.4 + 0.2
    return logits, boxes, labels, target_boxes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matching_drawn_is_the_cheapest_assignment(seed):
    logits, boxes, labels, target_boxes = detr_example(seed)
    matcher = HungarianMatcher()
    cost = matcher.cost_matrix(logits, boxes, labels, target_boxes)
    matching = matcher({"pred_logits": logits[None], "pred_boxes": boxes[None]},
                       [{"labels": labels, "boxes": target_boxes}])[0]
    drawn = draw_set_matching(cost, matching, pred_boxes=box_convert(boxes, "cxcywh", "xyxy"),
                              target_boxes=box_convert(target_boxes, "cxcywh", "xyxy"))
    assert outlined_cells(drawn.axes[1]) == brute_force_pairs(cost)
    assert set(drawn.pairs) == brute_force_pairs(cost)
    # one line per match on the boxes panel, from the query's centre to its object's
    assert len(drawn.axes[0].lines) == len(labels)


def test_matching_check_can_fail():
    """A matching that is not the cheapest (two objects' queries swapped) is caught."""
    logits, boxes, labels, target_boxes = detr_example(0)
    cost = HungarianMatcher().cost_matrix(logits, boxes, labels, target_boxes)
    pred_idx, target_idx = HungarianMatcher()(
        {"pred_logits": logits[None], "pred_boxes": boxes[None]},
        [{"labels": labels, "boxes": target_boxes}])[0]
    swapped = (pred_idx, target_idx.flip(0))
    drawn = draw_set_matching(cost, swapped)
    assert outlined_cells(drawn.axes[1]) != brute_force_pairs(cost)
    assert drawn.axes[0] is None


def test_matching_bad_input():
    cost = torch.rand(4, 2)
    with pytest.raises(ValueError, match="one to one"):
        draw_set_matching(cost, (torch.tensor([0, 0]), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="2 pairs"):
        draw_set_matching(cost, (torch.tensor([0]), torch.tensor([0])))
    with pytest.raises(ValueError, match="or neither"):
        draw_set_matching(cost, (torch.tensor([0, 1]), torch.tensor([0, 1])),
                          pred_boxes=torch.rand(4, 4))


# ---------------------------------------------------------------- flows and offsets as arrows


def square_object() -> torch.Tensor:
    labels = torch.zeros(24, 24, dtype=torch.long)
    labels[4:20, 6:18] = 1  # centroid (row 11.5, column 11.5)
    return labels


def arrow_ends_approach(quiver, centre_xy) -> np.ndarray:
    """For every non-zero arrow: does its tip lie closer to the centre than its tail?"""
    tails = np.asarray(quiver.get_offsets())
    tips = tails + np.stack([quiver.U, quiver.V], -1)
    moving = np.hypot(quiver.U, quiver.V) > 0
    before = np.linalg.norm(tails - centre_xy, axis=1)
    after = np.linalg.norm(tips - centre_xy, axis=1)
    return (after < before)[moving]


@pytest.mark.parametrize("kind", ["cellpose flows", "centre offsets"])
def test_arrows_point_to_the_centre(kind):
    labels = square_object()
    if kind == "cellpose flows":
        field, order, length = masks_to_flows(labels), "yx", 1.0
    else:
        field, order, length = center_offsets(labels), "xy", 0.5
    fig, ax = plt.subplots()
    ax.imshow(labels.numpy())
    quiver = draw_arrows(ax, field, order=order, step=2, length=length)
    approach = arrow_ends_approach(quiver, np.array([11.5, 11.5]))
    assert len(approach) > 20 and approach.all()


def test_arrows_check_can_fail():
    """Offsets read in the wrong order, or drawn with matplotlib's screen convention and -dy on
    an image, point away from the centre: the test above would catch either."""
    labels = square_object()
    fig, ax = plt.subplots()
    ax.imshow(labels.numpy())
    wrong_order = draw_arrows(ax, center_offsets(labels), order="yx", step=2)
    assert not arrow_ends_approach(wrong_order, np.array([11.5, 11.5])).all()
    offsets = center_offsets(labels).numpy()
    flipped = ax.quiver(np.arange(24)[None].repeat(24, 0), np.arange(24)[:, None].repeat(24, 1),
                        offsets[0], -offsets[1], angles="xy", scale_units="xy", scale=1)
    assert not arrow_ends_approach(flipped, np.array([11.5, 11.5])).all()


def test_flow_colours():
    right, down = torch.zeros(2, 1, 1), torch.zeros(2, 1, 1)
    right[1], down[0] = 1.0, 1.0  # (dy, dx)
    np.testing.assert_allclose(flow_to_rgb(right)[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(flow_to_rgb(down)[0, 0], matplotlib.colors.hsv_to_rgb([0.25, 1, 1]))
    # half the length at norm 1: half the brightness; the same field in (dx, dy) order agrees
    np.testing.assert_allclose(flow_to_rgb(0.5 * down).max(), 0.5)
    np.testing.assert_allclose(flow_to_rgb(down.flip(0), order="xy"), flow_to_rgb(down))
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        flow_to_rgb(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="order"):
        flow_to_rgb(torch.zeros(2, 4, 4), order="ij")


# ---------------------------------------------------------------- dilated and transposed on a grid


def painted_cells(ax) -> set[tuple[int, int]]:
    """(row, column) of the pixels filled on a grid panel."""
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches}


@pytest.mark.parametrize("kernel_size, dilation", [(3, 2), (3, 3), (5, 1)])
def test_dilated_grid_is_the_kernel_taps(kernel_size, dilation):
    drawn = draw_dilated_conv(kernel_size=kernel_size, dilation=dilation, size=11)
    centre = drawn.pixels[0]
    half = (kernel_size - 1) // 2
    taps = {(centre[0] + dilation * a, centre[1] + dilation * b)
            for a in range(-half, half + 1) for b in range(-half, half + 1)}
    assert painted_cells(drawn.axes[0]) == taps
    assert {tuple(p) for p in drawn.feeding[0].nonzero().tolist()} == taps
    assert drawn.out_size == 11  # the size is kept
    plt.close("all")


@pytest.mark.parametrize("kernel_size, stride, padding", [(3, 2, 1), (4, 2, 1), (5, 3, 2)])
def test_transposed_grid_equals_torch(kernel_size, stride, padding):
    """The pixels drawn as feeding each output pixel are those of F.conv_transpose2d's
    gradient, and the grid has the size PyTorch's layer gives."""
    pixels = [(4, 4), (3, 4), (3, 3)]
    drawn = draw_transposed_conv(kernel_size=kernel_size, stride=stride, padding=padding, size=5,
                                 pixels=pixels)
    weight = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    for pixel, mask in zip(pixels, drawn.feeding, strict=True):
        x = torch.ones(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
        out = F.conv_transpose2d(x, weight, stride=stride, padding=padding)
        assert out.shape[-1] == drawn.out_size
        out[0, 0, pixel[0], pixel[1]].backward()
        assert torch.equal(mask, x.grad[0, 0] != 0)
    # one dot per feeding pixel and output pixel on the input panel
    dots = sum(len(c.get_offsets()) for c in drawn.axes[0].collections)
    assert dots == sum(int(m.sum()) for m in drawn.feeding)


def test_conv_grid_check_can_fail():
    """A dilated convolution with D = 1 feeds from neighbouring pixels: the taps of D = 2 are
    not what it draws."""
    drawn = draw_dilated_conv(kernel_size=3, dilation=1, size=9)
    taps_of_d2 = {(4 + 2 * a, 4 + 2 * b) for a in (-1, 0, 1) for b in (-1, 0, 1)}
    assert painted_cells(drawn.axes[0]) != taps_of_d2
    with pytest.raises(ValueError, match="outside"):
        draw_transposed_conv(pixels=[(20, 0)])


# ---------------------------------------------------------------- anchors on a feature grid


def test_anchor_grid_draws_torchvision_anchors():
    """The drawn anchors are torchvision's AnchorGenerator's at the chosen cells, centred on the
    cell corners (multiples of the stride)."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator as TorchvisionAnchors
    from torchvision.models.detection.image_list import ImageList

    sizes, ratios = ((16,), (32,)), ((0.5, 1.0, 2.0),) * 2
    maps = [torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 8, 8)]
    images = ImageList(torch.zeros(1, 3, 128, 128), [(128, 128)])
    ours = AnchorGenerator(sizes=sizes, aspect_ratios=ratios)(images, maps)[0]
    theirs = TorchvisionAnchors(sizes, ratios)(images, maps)[0]
    level = ours[16 * 16 * 3:]  # the 8 x 8 level, stride 16
    positions = [(2, 2), (4, 5), (7, 0)]
    fig, ax = plt.subplots()
    drawn = draw_anchor_grid(ax, level, (8, 8), (16, 16), positions=positions)
    expected = theirs[16 * 16 * 3:].reshape(8, 8, 3, 4)
    assert torch.equal(drawn.boxes, torch.stack([expected[i, j] for i, j in positions]))
    # the rectangles on the axis are those boxes, on pixel edges
    corners = [(r.get_x() + 0.5, r.get_y() + 0.5, r.get_x() + 0.5 + r.get_width(),
                r.get_y() + 0.5 + r.get_height()) for r in drawn.rectangles]
    np.testing.assert_allclose(corners, drawn.boxes.reshape(-1, 4).numpy())
    for (i, j), boxes in zip(positions, drawn.boxes, strict=True):
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        assert torch.equal(centre, torch.tensor([[16.0 * j, 16.0 * i]]).expand(3, 2))


def test_anchor_grid_check_can_fail():
    """Another level's anchors, or the right anchors with the wrong stride, are refused."""
    generator = AnchorGenerator(sizes=((16,), (32,)), aspect_ratios=((0.5, 1.0, 2.0),) * 2)
    anchors = generator(torch.zeros(1, 3, 128, 128),
                        [torch.zeros(1, 4, 16, 16), torch.zeros(1, 4, 8, 8)])[0]
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="not centred"):
        draw_anchor_grid(ax, anchors[16 * 16 * 3:], (8, 8), (8, 8))
    with pytest.raises(ValueError, match="do not split"):
        draw_anchor_grid(ax, anchors[:100], (8, 8), (16, 16))
    with pytest.raises(ValueError, match="outside"):
        draw_anchor_grid(ax, anchors[16 * 16 * 3:], (8, 8), (16, 16), positions=[(8, 0)])


# ---------------------------------------------------------------- StarDist's rays


def disk_object() -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    return (((rows - 18) ** 2 / 100 + (cols - 21) ** 2 / 49) <= 1).long()  # an ellipse


def test_rays_end_on_the_polygon_of_stardist():
    """The drawn rays' ends are the vertices of StarDist's polygon (rays_to_polygons, equal to
    stardist's dist_to_coord), and they lie on the object's edge."""
    labels = disk_object()
    dist = star_distances(labels, 32)[:, 18, 21]  # (32,) from the centre pixel
    fig, ax = plt.subplots()
    ax.imshow(labels.numpy())
    ends = draw_star_rays(ax, dist, (18, 21))
    vertices = rays_to_polygons(dist[None], np.array([[18.0, 21.0]]))[0].numpy()  # (2, R)
    np.testing.assert_allclose(ends, vertices.T, atol=1e-4)
    # each end lies on the object's edge: within a pixel of both an object and a background pixel
    pixels = np.argwhere(np.ones(labels.shape, dtype=bool)).astype(float)  # (H * W, 2)
    on_object = labels.flatten().numpy() == 1
    for end in ends:
        near = np.abs(pixels - end).max(axis=1) <= 1.0  # the pixels around the end
        assert on_object[near].any() and not on_object[near].all()
    # one line per ray, then the polygon
    assert len(ax.lines) == 32 + 2


def test_rays_check_can_fail():
    """Rays drawn with rows and columns swapped (cos for the rows) miss StarDist's vertices."""
    labels = disk_object()
    dist = star_distances(labels, 32)[:, 18, 21]
    fig, ax = plt.subplots()
    ends = draw_star_rays(ax, dist, (18, 21))
    vertices = rays_to_polygons(dist[None], np.array([[18.0, 21.0]]))[0].numpy().T  # (R, 2)
    swapped = np.array([18.0, 21.0]) + (ends - [18.0, 21.0])[:, ::-1]  # rows and columns swapped
    assert np.allclose(ends, vertices, atol=1e-4) and not np.allclose(swapped, vertices, atol=1e-2)
    with pytest.raises(ValueError, match="R >= 3"):
        draw_star_rays(ax, torch.ones(2), (0, 0))
