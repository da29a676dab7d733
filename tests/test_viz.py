"""segedu.viz: colours, overlays, boxes and figures."""

from __future__ import annotations

import colorsys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from scipy.spatial.distance import pdist  # noqa: E402
from torchvision import tv_tensors  # noqa: E402

from segedu.data import make_target  # noqa: E402
from segedu.viz import (  # noqa: E402
    BASE_COLORS,
    draw_boxes,
    instance_colors,
    overlay_instances,
    overlay_panoptic,
    overlay_semantic,
    palette,
    shades,
    show_grid,
    show_sample,
    to_numpy_image,
)

H, W = 20, 30


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def random_image(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, H, W, generator=torch.Generator().manual_seed(seed))


# --- colours -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 12, 40, 700])
def test_palette_shape_range_and_determinism(n):
    colors = palette(n)
    assert colors.shape == (n, 3) and colors.dtype == np.float64
    assert (colors >= 0).all() and (colors <= 1).all()
    assert np.array_equal(colors, palette(n))


def test_palette_starts_with_the_base_colours_and_keeps_class_colours_fixed():
    assert np.array_equal(palette(5), BASE_COLORS[:5])
    # a class keeps its colour whatever the number of classes
    assert np.array_equal(palette(100)[:30], palette(30))
    # another seed: the same colours, another order
    shuffled = palette(12, seed=3)
    assert not np.array_equal(shuffled, palette(12))
    assert np.array_equal(np.sort(shuffled, axis=0), np.sort(BASE_COLORS, axis=0))


@pytest.mark.parametrize(("n", "min_distance"), [(12, 0.3), (20, 0.3), (50, 0.2), (150, 0.1)])
def test_palette_colours_are_well_separated(n, min_distance):
    assert pdist(palette(n)).min() >= min_distance


@pytest.mark.parametrize(("n", "min_distance"), [(2, 0.9), (10, 0.5), (30, 0.3), (100, 0.15)])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_instance_colours_are_far_apart(n, min_distance, seed):
    colors = instance_colors(n, seed=seed)
    assert colors.shape == (n, 3) and (colors >= 0).all() and (colors <= 1).all()
    assert pdist(colors).min() >= min_distance
    assert np.array_equal(colors, instance_colors(n, seed=seed))


def test_instance_colours_depend_on_the_seed():
    assert not np.array_equal(instance_colors(5, seed=0), instance_colors(5, seed=1))


def test_shades_keep_the_hue_and_differ_in_lightness():
    base = palette(3)[1]
    result = shades(base, 5)
    hue = colorsys.rgb_to_hls(*base)[0]
    hls = np.array([colorsys.rgb_to_hls(*c) for c in result])
    np.testing.assert_allclose(hls[:, 0], hue, atol=1e-6)
    assert pdist(hls[:, 1:2]).min() > 0.05


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_colour_counts_must_be_non_negative_ints(bad):
    with pytest.raises(ValueError, match="n must be"):
        palette(bad)
    with pytest.raises(ValueError, match="n must be"):
        instance_colors(bad)


# --- to_numpy_image ------------------------------------------------------------------------


def test_to_numpy_image_accepts_tensors_and_arrays():
    image = random_image()
    out = to_numpy_image(tv_tensors.Image(image))
    assert out.shape == (H, W, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out, image.permute(1, 2, 0).numpy())
    # uint8 is scaled to [0, 1]
    as_uint8 = (image * 255).round().to(torch.uint8)
    np.testing.assert_allclose(to_numpy_image(as_uint8), as_uint8.permute(1, 2, 0).numpy() / 255)
    # grey tensors and arrays become three equal channels
    grey = image[0].numpy()
    for value in (image[:1], image[0], grey, grey[:, :, None]):
        out = to_numpy_image(value)
        assert out.shape == (H, W, 3)
        np.testing.assert_array_equal(out[..., 2], grey)
    # a channels-last array is taken as it is
    np.testing.assert_array_equal(to_numpy_image(out), out)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.rand(4, H, W), ValueError, r"\(3, H, W\)"),
        (np.random.rand(H, W, 4), ValueError, r"\(H, W, 3\)"),
        (torch.rand(2, 3, H, W), ValueError, "shape"),
        (torch.rand(3, H, W) * 2 - 0.5, ValueError, r"\[0, 1\].*normalisation"),
        (np.zeros((H, W, 3), dtype=np.int32), ValueError, "uint8"),
        ([[0.0, 1.0]], TypeError, "torch.Tensor or a numpy array"),
    ],
)
def test_to_numpy_image_rejects_bad_images(bad, error, match):
    with pytest.raises(error, match=match):
        to_numpy_image(bad)


# --- overlays ------------------------------------------------------------------------------


def test_overlay_semantic_blends_labelled_pixels_and_leaves_ignore_alone():
    image = random_image()
    semantic = torch.randint(0, 4, (H, W), generator=torch.Generator().manual_seed(1))
    semantic[:5] = 255
    out = overlay_semantic(image, semantic, num_classes=4, alpha=0.3)
    rgb = to_numpy_image(image)
    labels = semantic.numpy()
    assert out.shape == (H, W, 3)
    ignore = labels == 255
    # ignore pixels: exactly the image
    np.testing.assert_array_equal(out[ignore], rgb[ignore])
    # the others: 0.7 * image + 0.3 * palette colour of the class
    expected = 0.7 * rgb[~ignore] + 0.3 * palette(4)[labels[~ignore]]
    np.testing.assert_allclose(out[~ignore], expected, atol=1e-12)


def test_overlay_semantic_uses_given_colours_and_alpha_extremes():
    image = random_image()
    semantic = np.zeros((H, W), dtype=np.int64)
    semantic[:, 10:] = 1
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(
        overlay_semantic(image, semantic, colors=colors, alpha=1.0), colors[semantic]
    )
    np.testing.assert_array_equal(
        overlay_semantic(image, semantic, alpha=0.0), to_numpy_image(image)
    )


@pytest.mark.parametrize(
    ("kwargs", "semantic", "match"),
    [
        ({"num_classes": 2}, np.full((H, W), 3), "class 3 but num_classes is 2"),
        ({"colors": np.zeros((2, 3))}, np.full((H, W), 3), "2 colours but 4 are needed"),
        ({}, np.zeros((H, W + 1), dtype=int), r"covers \(H, W\)"),
        ({"alpha": 1.5}, np.zeros((H, W), dtype=int), "alpha"),
        ({}, np.zeros((H, W)), "integer or bool"),
        ({}, np.full((H, W), -2), "negative"),
    ],
)
def test_overlay_semantic_rejects_bad_input(kwargs, semantic, match):
    with pytest.raises(ValueError, match=match):
        overlay_semantic(random_image(), semantic, **kwargs)


def two_boxes_masks() -> np.ndarray:
    """Two 6 x 8 rectangles overlapping in columns 10..11."""
    masks = np.zeros((2, H, W), dtype=bool)
    masks[0, 4:10, 4:12] = True
    masks[1, 6:12, 10:18] = True
    return masks


def test_overlay_instances_blends_inside_paints_edges_and_leaves_outside_alone():
    image = random_image()
    masks = two_boxes_masks()
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = overlay_instances(image, torch.from_numpy(masks), colors=colors, alpha=0.4)
    rgb = to_numpy_image(image)
    outside = ~masks.any(0)
    np.testing.assert_array_equal(out[outside], rgb[outside])
    # the later mask is on top where they overlap
    owner0 = masks[0] & ~masks[1]
    # interior pixels (away from the edge) are blended; edge pixels are the colour itself
    np.testing.assert_allclose(out[7, 7], 0.6 * rgb[7, 7] + 0.4 * colors[0])
    np.testing.assert_allclose(out[8, 14], 0.6 * rgb[8, 14] + 0.4 * colors[1])
    np.testing.assert_array_equal(out[4, 7], colors[0])  # top edge of mask 0
    np.testing.assert_array_equal(out[7, 9], colors[0])  # mask 0 next to mask 1 (column 10)
    np.testing.assert_array_equal(out[6, 10], colors[1])  # overlap: mask 1's top edge
    np.testing.assert_array_equal(out[8, 10], colors[1])  # overlap: mask 1's left edge
    # without contours every covered pixel is blended
    flat = overlay_instances(image, masks, colors=colors, alpha=0.4, contours=False)
    np.testing.assert_allclose(flat[owner0], 0.6 * rgb[owner0] + 0.4 * colors[0])
    np.testing.assert_allclose(flat[masks[1]], 0.6 * rgb[masks[1]] + 0.4 * colors[1])


def test_overlay_instances_draws_no_contour_along_the_image_border():
    """An object cut by the image border continues beyond it: no edge is drawn there."""
    image = random_image()
    mask = np.zeros((1, H, W), dtype=bool)
    mask[0, 0:5, 0:6] = True
    out = overlay_instances(image, mask, colors=[[1.0, 0.0, 0.0]], alpha=0.5)
    rgb = to_numpy_image(image)
    np.testing.assert_allclose(out[0, 2], 0.5 * rgb[0, 2] + 0.5 * np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(out[2, 0], 0.5 * rgb[2, 0] + 0.5 * np.array([1.0, 0.0, 0.0]))
    np.testing.assert_array_equal(out[4, 2], [1.0, 0.0, 0.0])  # the bottom edge is inside


def test_overlay_instances_takes_a_label_image_and_defaults_to_instance_colours():
    image = random_image()
    masks = two_boxes_masks()
    labels = np.zeros((H, W), dtype=np.int64)
    labels[masks[0]] = 5
    labels[masks[1]] = 9  # later id on top, as with the masks
    from_labels = overlay_instances(image, labels)
    from_masks = overlay_instances(image, masks, colors=instance_colors(2))
    np.testing.assert_array_equal(from_labels, from_masks)


def test_overlay_instances_rejects_bad_masks():
    with pytest.raises(ValueError, match=r"covers \(H, W\)"):
        overlay_instances(random_image(), np.zeros((2, H + 1, W), dtype=bool))
    with pytest.raises(ValueError, match="1 colours but 2 are needed"):
        overlay_instances(random_image(), two_boxes_masks(), colors=[[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="integer or bool"):
        overlay_instances(random_image(), np.zeros((2, H, W)))


def panoptic_scene() -> np.ndarray:
    """(2, H, W): void (255) row 0, stuff 1 (top) and 2 (bottom), two instances of thing 3."""
    category = np.ones((H, W), dtype=np.int64)
    category[10:] = 2
    instance = np.zeros((H, W), dtype=np.int64)
    category[12:16, 2:8], instance[12:16, 2:8] = 3, 1
    category[12:16, 8:14], instance[12:16, 8:14] = 3, 2
    category[0] = 255
    return np.stack([category, instance])


def test_overlay_panoptic_colours_stuff_by_class_and_things_by_instance():
    image = random_image()
    panoptic = panoptic_scene()
    out = overlay_panoptic(image, panoptic, things=[3], alpha=0.5)
    rgb = to_numpy_image(image)
    category, instance = panoptic
    colors = palette(4)
    # void untouched, stuff blended with its class colour
    np.testing.assert_array_equal(out[0], rgb[0])
    for cls in (1, 2):
        where = (category == cls) & (np.arange(H)[:, None] > 0)
        np.testing.assert_allclose(out[where], 0.5 * rgb[where] + 0.5 * colors[cls])
    # things: recover the colour of each instance from the blend
    painted = (out - 0.5 * rgb) / 0.5
    first, second = painted[13, 4], painted[13, 10]
    np.testing.assert_allclose(
        painted[(category == 3) & (instance == 1)], np.tile(first, (24, 1)), atol=1e-12
    )
    assert np.abs(first - second).sum() > 0.1  # two instances: two colours
    hue = colorsys.rgb_to_hls(*colors[3])[0]
    for shade in (first, second):  # both shades of the class colour
        assert abs(colorsys.rgb_to_hls(*shade)[0] - hue) < 1e-6
    # the (H, W, 2) layout gives the same picture
    np.testing.assert_array_equal(
        overlay_panoptic(image, torch.from_numpy(panoptic).permute(1, 2, 0), things=[3]), out
    )


def test_overlay_panoptic_rejects_bad_layout():
    with pytest.raises(ValueError, match=r"\(2, H, W\) or \(H, W, 2\)"):
        overlay_panoptic(random_image(), np.zeros((3, H, W), dtype=int), things=[])
    with pytest.raises(ValueError, match="3 dimensions"):
        overlay_panoptic(random_image(), np.zeros((H, W), dtype=int), things=[])


# --- boxes ---------------------------------------------------------------------------------


def test_draw_boxes_adds_one_rectangle_per_box_on_the_pixel_edges():
    fig, ax = plt.subplots()
    ax.imshow(to_numpy_image(random_image()))
    boxes = torch.tensor([[4.0, 4.0, 12.0, 10.0], [10.0, 6.0, 18.0, 12.0], [0.0, 0.0, 30.0, 20.0]])
    names = ["background", "cat", "dog"]
    rects = draw_boxes(
        ax, boxes, labels=torch.tensor([1, 2, 1]), scores=[0.934, 0.5, 1.0], class_names=names
    )
    patches = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(patches) == 3 and patches == rects
    for rect, (x1, y1, x2, y2) in zip(rects, boxes.tolist(), strict=True):
        assert rect.get_xy() == (x1 - 0.5, y1 - 0.5)
        assert (rect.get_width(), rect.get_height()) == (x2 - x1, y2 - y1)
        assert not rect.get_fill()
    assert [t.get_text() for t in ax.texts] == ["cat 0.93", "dog 0.50", "cat 1.00"]
    # boxes of one class share its palette colour
    colors = [r.get_edgecolor()[:3] for r in rects]
    np.testing.assert_allclose(colors[0], palette(3)[1])
    assert colors[0] == colors[2] and colors[0] != colors[1]


def test_draw_boxes_captions_without_names_or_scores():
    fig, ax = plt.subplots()
    boxes = np.array([[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 6.0, 8.0]])
    draw_boxes(ax, boxes, labels=[3, 7])
    assert [t.get_text() for t in ax.texts] == ["3", "7"]
    fig, ax = plt.subplots()
    draw_boxes(ax, boxes)
    assert len(ax.patches) == 2 and len(ax.texts) == 0
    fig, ax = plt.subplots()
    assert draw_boxes(ax, np.zeros((0, 4))) == [] and len(ax.patches) == 0
    # no detections at all
    assert draw_boxes(ax, torch.zeros(0, 4), labels=[], scores=[], class_names=["a"]) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"boxes": np.zeros((2, 3))}, r"\(N, 4\)"),
        ({"labels": [1]}, "labels has 1 entries for 2 boxes"),
        ({"scores": [0.5]}, r"scores must have shape \(2,\)"),
        ({"labels": [0, 5], "class_names": ["a", "b"]}, "label 5 has no entry in class_names"),
        ({"colors": [[2.0, 0.0, 0.0]] * 2}, r"\[0, 1\]"),
    ],
)
def test_draw_boxes_rejects_bad_input(kwargs, match):
    fig, ax = plt.subplots()
    args = {"boxes": np.array([[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 6.0, 8.0]]), **kwargs}
    with pytest.raises(ValueError, match=match):
        draw_boxes(ax, **args)


# --- figures -------------------------------------------------------------------------------


def test_show_grid_lays_out_images_and_saves_a_png(tmp_path):
    images = [random_image(k) for k in range(5)]
    fig = show_grid(images, titles=[f"#{k}" for k in range(5)], ncols=3, size=2.0)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == [f"#{k}" for k in range(5)]
    np.testing.assert_array_equal(shown[0].images[0].get_array(), to_numpy_image(images[0]))
    assert tuple(fig.get_size_inches()) == pytest.approx((6.0, 2 * 2.0 * H / W))
    path = tmp_path / "grid.png"
    fig.savefig(path)
    assert mpimg.imread(path).shape[2] in (3, 4)


def test_show_grid_rejects_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        show_grid([])
    with pytest.raises(ValueError, match="titles has 1 entries for 2 images"):
        show_grid([random_image(), random_image()], titles=["a"])
    with pytest.raises(ValueError, match="ncols"):
        show_grid([random_image()], ncols=0)


def sample_scene():
    panoptic = panoptic_scene()
    category, instance = panoptic
    semantic = np.where(category == 0, 255, category)
    masks = np.stack([instance == 1, instance == 2])
    target = make_target(
        canvas_size=(H, W),
        semantic=torch.from_numpy(semantic),
        masks=torch.from_numpy(masks),
        labels=[3, 3],
        panoptic=torch.from_numpy(panoptic),
    )
    return tv_tensors.Image(random_image()), target


def test_show_sample_shows_one_panel_per_part_of_the_target(tmp_path):
    image, target = sample_scene()
    names = ["void", "sky", "grass", "cow"]
    fig = show_sample(image, target, class_names=names, things=[3])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["image", "semantic", "instances", "panoptic"]
    instances_ax = fig.axes[2]
    assert len(instances_ax.patches) == 2
    assert [t.get_text() for t in instances_ax.texts] == ["cow", "cow"]
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["sky", "grass", "cow"]
    path = tmp_path / "sample.png"
    fig.savefig(path)
    assert mpimg.imread(path).ndim == 3
    # fewer keys, fewer panels
    fig = show_sample(image, {"semantic": target["semantic"]})
    assert [ax.get_title() for ax in fig.axes] == ["image", "semantic"]
    fig = show_sample(image, {"boxes": target["boxes"], "labels": target["labels"]})
    assert [ax.get_title() for ax in fig.axes] == ["image", "instances"]
    assert len(fig.axes[1].patches) == 2


def test_show_sample_finds_the_things_of_a_panoptic_map():
    image, target = sample_scene()
    fig = show_sample(image, {"panoptic": target["panoptic"]})
    given = show_sample(image, {"panoptic": target["panoptic"]}, things=[3])
    np.testing.assert_array_equal(
        fig.axes[1].images[0].get_array(), given.axes[1].images[0].get_array()
    )


def test_overlay_panoptic_takes_class_colours_and_another_void():
    image = random_image()
    panoptic = panoptic_scene()
    panoptic[0][panoptic[0] == 255] = 0  # COCO panoptic files use category 0 for void
    colors = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    out = overlay_panoptic(image, panoptic, things=[3], colors=colors, void=0)
    rgb = to_numpy_image(image)
    np.testing.assert_array_equal(out[0], rgb[0])
    where = (panoptic[0] == 2) & (np.arange(H)[:, None] > 0)
    np.testing.assert_allclose(out[where], 0.5 * rgb[where] + 0.5 * colors[2])
    with pytest.raises(ValueError, match="colors"):
        overlay_panoptic(image, panoptic, things=[3], colors=colors[:2], void=0)


# --- predictions of several models ---------------------------------------------------------


def test_colorize_looks_up_class_colours_and_blacks_out_ignored_pixels():
    from segedu.viz import colorize

    labels = torch.tensor([[0, 1], [2, 255]])
    colors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    out = colorize(labels, colors=colors)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 0], colors[0])
    np.testing.assert_array_equal(out[1, 0], colors[2])
    np.testing.assert_array_equal(out[1, 1], [0, 0, 0])
    np.testing.assert_array_equal(colorize(labels[:1]), palette(2)[[0, 1]][None])  # default colours
    with pytest.raises(ValueError, match="num_classes"):
        colorize(labels, num_classes=2)
    with pytest.raises(ValueError, match="3 are needed"):
        colorize(labels, colors=colors[:2])


def test_show_predictions_draws_image_truth_and_one_column_per_model():
    from segedu.viz import colorize, show_predictions

    n, k = 3, 4
    images = torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(0))
    truth = torch.randint(0, k, (n, H, W), generator=torch.Generator().manual_seed(1))
    wrong = (truth + 1) % k
    colors = palette(k)
    fig = show_predictions(images, truth, {"model A": truth, "model B": wrong}, colors=colors,
                           class_names=["a", "b", "c", "d"])
    axes = np.array(fig.axes).reshape(n, 4)
    assert [ax.get_title() for ax in axes[0]] == ["image", "ground truth", "model A", "model B"]
    assert all(ax.get_title() == "" for ax in axes[1:].flat)
    for i in range(n):
        np.testing.assert_allclose(axes[i, 0].images[0].get_array(), to_numpy_image(images[i]))
        np.testing.assert_allclose(axes[i, 1].images[0].get_array(),
                                   colorize(truth[i], colors=colors))
        np.testing.assert_allclose(axes[i, 2].images[0].get_array(),
                                   axes[i, 1].images[0].get_array())
        np.testing.assert_allclose(axes[i, 3].images[0].get_array(),
                                   colorize(wrong[i], colors=colors))
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["a", "b", "c", "d"]


def test_show_predictions_takes_sequences_no_truth_and_checks_lengths():
    from segedu.viz import show_predictions

    images = [random_image(0), random_image(1)]
    maps = [np.zeros((H, W), dtype=np.int64), np.ones((H, W), dtype=np.int64)]
    fig = show_predictions(images, None, {"only": maps})
    assert [ax.get_title() for ax in fig.axes[:2]] == ["image", "only"] and len(fig.axes) == 4
    assert not fig.legends
    with pytest.raises(ValueError, match="1 label maps for 2 images"):
        show_predictions(images, maps[:1], {"only": maps})
    with pytest.raises(TypeError, match="predictions must map"):
        show_predictions(images, maps, [maps])
    with pytest.raises(ValueError, match="images is empty"):
        show_predictions([], None, {})
