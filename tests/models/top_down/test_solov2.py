"""SOLOv2, piece by piece against the paper (no installable reference runs here): the branches'
shapes, the dynamic kernels against ``F.conv2d``, the targets on hand-built objects, the loss on
hand-derived cases, the inference on planted outputs, the registered sizes and a short overfit.
Matrix NMS is tested in ``tests/ops/test_matrix_nms.py``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segedu.models import get_model
from segedu.models.top_down.solov2 import (
    CategoryBranch,
    KernelBranch,
    MaskFeatureBranch,
    centre_of_mass,
    coordinate_channels,
    dynamic_masks,
    points_nms,
    positive_cells,
    solov2_detections,
    solov2_dice_loss,
    solov2_loss,
    solov2_targets,
)

TINY = dict(num_classes=3, backbone_width=8, fpn_channels=16, head_channels=16,
            mask_hidden_channels=16, kernel_channels=8, num_groups=4)


def _tiny(**kwargs):
    torch.manual_seed(0)
    return get_model("solov2", **{**TINY, **kwargs})


# ---------------------------------------------------------------------------------------------
# branches
# ---------------------------------------------------------------------------------------------


def test_coordinates_run_from_minus_one_to_one_x_first():
    coords = coordinate_channels(torch.zeros(2, 5, 3, 4))
    assert coords.shape == (2, 2, 3, 4)
    assert coords[0, 0, 0].tolist() == pytest.approx([-1, -1 / 3, 1 / 3, 1])  # x along the width
    assert coords[0, 1, :, 0].tolist() == [-1, 0, 1]  # y along the height
    assert torch.equal(coords[0, 0, 0], coords[1, 0, 2])


def test_branch_shapes_and_where_the_coordinates_enter():
    x = torch.randn(2, 16, 7, 7)
    category = CategoryBranch(in_channels=16, hidden_channels=8, num_convs=3, num_classes=5,
                              num_groups=4)
    kernel = KernelBranch(in_channels=16, hidden_channels=8, num_convs=3, kernel_channels=12,
                          num_groups=4)
    assert category(x).shape == (2, 5, 7, 7)
    assert kernel(torch.randn(2, 18, 7, 7)).shape == (2, 12, 7, 7)  # F + 2 coordinates in
    assert kernel.tower[0][0].in_channels == 18 and category.tower[0][0].in_channels == 16
    assert len(category.tower) == len(kernel.tower) == 3
    # the prior: every cell starts at sigmoid(bias) = 0.01
    assert torch.sigmoid(category.logits.bias).tolist() == pytest.approx([0.01] * 5)
    fuse = MaskFeatureBranch(in_channels=16, hidden_channels=8, out_channels=12, num_groups=4)
    levels = [torch.randn(2, 16, 32 // 2**i, 40 // 2**i) for i in range(4)]
    assert fuse(levels).shape == (2, 12, 32, 40)
    # P2 one convolution, P3 one, P4 two, P5 three, and only P5 takes the coordinates
    assert [len(level) for level in fuse.levels] == [1, 1, 2, 3]
    assert [level[0][0].in_channels for level in fuse.levels] == [16, 16, 16, 18]
    with pytest.raises(ValueError, match="fuses 4 levels, got 3"):
        fuse(levels[:3])


def test_head_outputs_shapes_over_a_padded_batch():
    model = _tiny().eval()
    with torch.no_grad():
        out = model.head_outputs([torch.rand(3, 100, 120), torch.rand(3, 64, 64)])
    cells = sum(s * s for s in model.grid_sizes)  # 144 + 100 + 64 + 36 + 16
    assert out["batch_size"] == (128, 128)  # 120 rounded up to a multiple of 32
    assert out["category_logits"].shape == (2, cells, 2)
    assert out["kernels"].shape == (2, cells, 8)
    assert out["mask_features"].shape == (2, 8, 32, 32)
    assert out["image_sizes"] == [(100, 120), (64, 64)]


# ---------------------------------------------------------------------------------------------
# dynamic kernels
# ---------------------------------------------------------------------------------------------


def test_dynamic_masks_equal_conv2d_with_each_kernel():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(6, 9, 11, generator=g, dtype=torch.float64)
    kernels = torch.randn(4, 6, generator=g, dtype=torch.float64)
    expected = F.conv2d(features[None], kernels[:, :, None, None])[0]  # (4, 9, 11)
    torch.testing.assert_close(dynamic_masks(features, kernels), expected)
    with pytest.raises(ValueError, match="the same E"):
        dynamic_masks(features, kernels[:, :5])


def test_a_cells_mask_is_its_own_kernel_convolved_with_the_mask_features():
    """For the cell (level 2, row 3, column 5): its kernel computed by calling the kernel branch
    on that level's grid features (coordinates and resizing done here), then F.conv2d with the
    mask features, equals dynamic_masks with the kernel at that cell's flat index."""
    model = _tiny().eval()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model.head_outputs([image])
        levels = list(model.backbone(model._batch([image])).values())
        level, row, col = 2, 3, 5
        p4 = levels[level]  # P4 is neither resized to P3's nor to P5's size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, p4.shape[-2]),
                                torch.linspace(-1, 1, p4.shape[-1]), indexing="ij")
        grid = F.interpolate(torch.cat([p4, xs[None, None], ys[None, None]], 1),
                             size=(model.grid_sizes[level],) * 2, mode="bilinear",
                             align_corners=False)
        kernel = model.kernel_branch(grid)[0, :, row, col]  # (E,)
        expected = F.conv2d(out["mask_features"], kernel[None, :, None, None])[0, 0]
        index = sum(s * s for s in model.grid_sizes[:level]) + row * model.grid_sizes[level] + col
        torch.testing.assert_close(out["kernels"][0, index], kernel)
        got = dynamic_masks(out["mask_features"][0], out["kernels"][0, [index]])[0]
    torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------


def _square(size: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[y0:y1, x0:x1] = 1
    return mask


def test_positive_cells_by_hand():
    # the centre of mass is at the pixels' centres: one pixel (2, 3) covers [2, 3) x [3, 4)
    one = torch.zeros(6, 6)
    one[2, 3] = 1
    assert centre_of_mass(one) == (2.5, 3.5)
    assert centre_of_mass(_square(8, 0, 4, 2, 8)) == (2.0, 5.0)
    # 64 x 64 image, S = 4 (cells of 16 px); a 32 x 32 object centred at (32, 32):
    # region 32 +- 0.5 * 0.2 * 32 = [28.8, 35.2] -> cells 1 .. 2 in both directions
    assert positive_cells((32.0, 32.0), (32.0, 32.0), image_size=(64, 64), grid_size=4) == (
        1, 2, 1, 2)
    # centred at (40, 24): the centre's cell is (2, 1); region rows [36.8, 43.2] -> 2 .. 2,
    # columns [20.8, 27.2] -> 1 .. 1
    assert positive_cells((40.0, 24.0), (32.0, 32.0), image_size=(64, 64), grid_size=4) == (
        2, 2, 1, 1)
    # S = 8 (cells of 8 px), a 64 x 64 box: region 32 +- 6.4 = [25.6, 38.4] -> cells 3 .. 4
    # (with the full epsilon * h as half-size it would reach cell 5)
    assert positive_cells((32.0, 32.0), (64.0, 64.0), image_size=(64, 64), grid_size=8) == (
        3, 4, 3, 4)
    # a 16 x 16 box at (36, 36): [34.4, 37.6] stays in cell 4, one positive
    assert positive_cells((36.0, 36.0), (16.0, 16.0), image_size=(64, 64), grid_size=8) == (
        4, 4, 4, 4)
    # epsilon = 1 makes the region the whole box: cut to the centre's cell +- 1
    assert positive_cells((32.0, 32.0), (64.0, 64.0), image_size=(64, 64), grid_size=8,
                          center_sampling=1.0) == (3, 5, 3, 5)
    # at the border the region stops at the grid
    assert positive_cells((2.0, 62.0), (8.0, 8.0), image_size=(64, 64), grid_size=4,
                          center_sampling=1.0) == (0, 0, 3, 3)


def test_targets_on_hand_built_objects():
    """Two objects on a 64 x 64 image, grids (4, 2) with scale ranges (8, 40) and (30, 80).
    A (32 x 32, class 1, centre (32, 32)): sqrt(wh) = 32 is in both ranges; B (12 x 12,
    class 2, centre (10, 54)) only in the first."""
    masks = torch.stack([_square(64, 16, 48, 16, 48), _square(64, 4, 16, 48, 60)])
    boxes = torch.tensor([[16.0, 16, 48, 48], [48.0, 4, 60, 16]])
    t = solov2_targets(boxes, torch.tensor([1, 2]), masks, grid_sizes=(4, 2),
                       scale_ranges=((8, 40), (30, 80)))
    labels = t["grid_labels"]
    assert labels.shape == (16 + 4,)
    level0, level1 = labels[:16].reshape(4, 4), labels[16:].reshape(2, 2)
    # A: cells (1..2, 1..2) of level 0; B: region rows [8.8, 11.2] -> 0, columns
    # [52.8, 55.2] -> 3: the cell (0, 3)
    assert level0.tolist() == [[0, 0, 0, 2], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    # A at level 1 (cells of 32 px): region [28.8, 35.2] -> 0 .. 1 in both directions
    assert level1.tolist() == [[1, 1], [1, 1]]
    assert t["positive"].tolist() == [3, 5, 6, 9, 10, 16, 17, 18, 19]
    # each positive's mask: its object's mask at 1/4 scale
    small_a, small_b = masks[0, ::4, ::4], masks[1, ::4, ::4]
    assert t["mask_targets"].shape == (9, 16, 16)
    assert torch.equal(t["mask_targets"][0], small_b)
    assert all(torch.equal(m, small_a) for m in t["mask_targets"][1:])


def test_a_later_object_takes_over_a_shared_cell_and_empty_masks_are_skipped():
    # squares on multiples of 4, so that their 1/4-scale masks are masks[::4, ::4]
    masks = torch.stack([_square(32, 8, 24, 8, 24), _square(32, 12, 20, 12, 20),
                         torch.zeros(32, 32)])
    boxes = torch.tensor([[8.0, 8, 24, 24], [12.0, 12, 20, 20], [0.0, 0, 16, 16]])
    t = solov2_targets(boxes, torch.tensor([1, 2, 1]), masks, grid_sizes=(2,),
                       scale_ranges=((1, 100),))
    assert t["grid_labels"].tolist() == [2, 2, 2, 2]  # the second object's everywhere
    assert torch.equal(t["mask_targets"][0], masks[1, ::4, ::4])
    none = solov2_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64),
                          torch.zeros(0, 32, 32), grid_sizes=(2, 3), scale_ranges=((1, 9),) * 2)
    assert none["grid_labels"].tolist() == [0] * 13 and none["positive"].numel() == 0
    assert none["mask_targets"].shape == (0, 8, 8)
    with pytest.raises(ValueError, match="divisible by the mask stride 4"):
        solov2_targets(boxes, torch.tensor([1, 2, 1]), masks[:, :30], grid_sizes=(2,),
                       scale_ranges=((1, 100),))


def test_the_model_pads_the_masks_as_it_pads_the_images():
    model = _tiny()
    masks = _square(40, 0, 20, 0, 20)[None]
    encoded = model.targets([{"boxes": torch.tensor([[0.0, 0, 20, 20]]),
                              "labels": torch.tensor([1]), "masks": masks}])
    assert encoded[0]["mask_targets"].shape[-2:] == (16, 16)  # 40 -> 64 -> 1/4
    with pytest.raises(ValueError, match=r"labels'\] must be in 1 .. 2"):
        model.targets([{"boxes": torch.tensor([[0.0, 0, 20, 20]]), "labels": torch.tensor([3]),
                        "masks": masks}])


# ---------------------------------------------------------------------------------------------
# loss
# ---------------------------------------------------------------------------------------------


def test_dice_by_hand():
    q = torch.zeros(2, 4, 4, dtype=torch.float64)
    q[:, :2] = 1  # 8 pixels
    # identical binary masks: 1 - 2 * 8 / (8 + 8) = 0; disjoint: 1
    assert solov2_dice_loss(q, q, eps=0).tolist() == [0.0, 0.0]
    assert solov2_dice_loss(1 - q, q, eps=0).tolist() == [1.0, 1.0]
    # the default eps adds 0.001 to each squared sum
    assert solov2_dice_loss(q[:1], q[:1]).item() == pytest.approx(1 - 16 / 16.002)
    # p = 0.5 everywhere: squared sums give 2 * 4 / (16 * 0.25 + 8) = 2/3 (the F1 form's
    # 2 * 4 / (8 + 8) would be 1/2)
    half = torch.full((1, 4, 4), 0.5, dtype=torch.float64)
    assert solov2_dice_loss(half, q[:1], eps=0).item() == pytest.approx(1 - 2 / 3)
    # two empty masks: 1 - 0 / 0.002
    assert solov2_dice_loss(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3)).item() == 1.0


def test_the_loss_by_hand_focal_normalised_by_positives_plus_one():
    """All logits 0 (p = 1/2 everywhere) and zero kernels (every mask logit 0), so each term
    is known in closed form: a focal term is alpha_t * (1/2)^2 * log 2; a Dice term is
    1 - 2 * (A / 2) / (hw / 4 + 0.001 + A + 0.001) for a target of A pixels."""
    cells, classes, channels, h, w = 10, 3, 4, 6, 6
    logits = torch.zeros(1, cells, classes, dtype=torch.float64)
    kernels = torch.zeros(1, cells, channels, dtype=torch.float64)
    features = torch.randn(1, channels, h, w, dtype=torch.float64)
    labels = torch.zeros(cells, dtype=torch.int64)
    labels[[2, 7]] = torch.tensor([1, 3])
    target = torch.zeros(2, h, w)
    target[0, :2] = 1  # 12 pixels
    target[1, :, :3] = 1  # 18 pixels
    targets = [{"grid_labels": labels, "positive": torch.tensor([2, 7]),
                "mask_targets": target}]
    losses = solov2_loss(logits, kernels, features, targets)
    positives, negatives = 2, cells * classes - 2
    focal = (0.25 * positives + 0.75 * negatives) * 0.25 * math.log(2)
    assert losses["loss_category"].item() == pytest.approx(focal / (2 + 1))
    dice = [1 - area / (h * w / 4 + area + 0.002) for area in (12, 18)]
    assert losses["loss_mask"].item() == pytest.approx(3 * sum(dice) / 2)
    # no positives: the category loss divided by 1, the mask loss zero but in the graph
    kernels.requires_grad_(True)
    empty = solov2_loss(logits, kernels, features, [{"grid_labels": torch.zeros_like(labels),
                                                      "positive": torch.zeros(0, dtype=torch.int64),
                                                      "mask_targets": torch.zeros(0, h, w)}])
    assert empty["loss_category"].item() == pytest.approx(cells * classes * 0.75 * 0.25
                                                          * math.log(2))
    assert empty["loss_mask"].item() == 0 and empty["loss_mask"].requires_grad


# ---------------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------------


def test_points_nms_keeps_a_cell_only_when_it_beats_up_left_and_up_left():
    scores = torch.tensor([[[0.2, 0.5, 0.1], [0.4, 0.3, 0.6], [0.1, 0.9, 0.2]]])
    # (1, 0) has only (0, 0) above it; (1, 1) loses to (0, 1); (2, 2) to (1, 2)
    expected = torch.tensor([[[0.2, 0.5, 0.0], [0.4, 0.0, 0.6], [0.0, 0.9, 0.0]]])
    assert torch.equal(points_nms(scores), expected)


def test_detections_on_planted_outputs():
    """Two levels of 2 x 2 and 1 x 1 cells, E = 1 mask feature channel that is +1 on the left
    half and -1 on the right. Cell 0 (score logit 2) has kernel +5: the left half; the single
    cell of level 2 (logit 1) has kernel +4: the same mask, decayed by Matrix NMS (Gaussian,
    sigma 2) by exp(-2). (Two cells of one level would not both survive the 2 x 2 local
    maximum.)"""
    features = torch.ones(1, 8, 8)
    features[:, :, 4:] = -1
    logits = torch.full((5, 1), -10.0)
    logits[0, 0], logits[4, 0] = 2.0, 1.0
    kernels = torch.tensor([[5.0], [0.0], [0.0], [0.0], [4.0]])
    grids = dict(grid_sizes=(2, 1), strides=(8, 8))
    det = solov2_detections(logits, kernels, features, **grids,
                            image_size=(30, 32), batch_size=(32, 32), update_thresh=0.0)
    s0, s3 = torch.sigmoid(torch.tensor(2.0)), torch.sigmoid(torch.tensor(1.0))
    maskness0, maskness3 = torch.sigmoid(torch.tensor(5.0)), torch.sigmoid(torch.tensor(4.0))
    torch.testing.assert_close(det["scores"], torch.stack([s0 * maskness0,
                                                           s3 * maskness3 * math.exp(-2)]))
    assert det["labels"].tolist() == [1, 1]
    assert det["masks"].shape == (2, 1, 30, 32)
    expected = F.interpolate(torch.sigmoid(5 * features)[None], size=(32, 32), mode="bilinear",
                             align_corners=False)[0, :, :30]
    torch.testing.assert_close(det["masks"][0], expected)
    assert det["boxes"][0].tolist() == [0.0, 0.0, 16.0, 30.0]  # pixel edges of the left half
    # the default update threshold drops the decayed copy only if it falls below 0.05
    lower = solov2_detections(logits, kernels, features, **grids,
                              image_size=(32, 32), batch_size=(32, 32), update_thresh=0.2)
    assert len(lower["scores"]) == 1
    # masks of no more pixels than the level's stride are dropped
    small = solov2_detections(logits, kernels, features, grid_sizes=(2, 1), strides=(32, 32),
                              image_size=(32, 32), batch_size=(32, 32))
    assert len(small["scores"]) == 0 and small["masks"].shape == (0, 1, 32, 32)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


def test_registered_sizes_and_options():
    with torch.device("meta"):
        paper = get_model("solov2_resnet50_fpn")
        slim = get_model("solov2")
    assert sum(p.numel() for p in paper.parameters()) == 46_592_912
    assert sum(p.numel() for p in slim.parameters()) == 3_269_923
    assert paper.grid_sizes == (40, 36, 24, 16, 12) and paper.center_sampling == 0.2
    assert paper.kernel_branch.kernels.out_channels == 256
    assert paper.category_branch.logits.out_channels == 80
    assert paper.loss_weights["mask_weight"] == 3.0
    with pytest.raises(ValueError, match="unknown loss_weights"):
        get_model("solov2", loss_weights={"lambda": 3})
    with pytest.raises(ValueError, match="one entry per level"):
        get_model("solov2", grid_sizes=(4, 3))
    with pytest.raises(ValueError, match="num_groups=8 must divide"):
        get_model("solov2", head_channels=12)


def test_a_few_steps_on_two_objects_reduce_the_loss():
    model = _tiny().train()
    image = torch.full((3, 64, 64), 0.2)
    masks = torch.stack([_square(64, 8, 28, 10, 30), _square(64, 36, 60, 30, 56)])
    image[0][masks[0] > 0] = 0.9
    image[2][masks[1] > 0] = 0.9
    targets = [{"boxes": torch.tensor([[10.0, 8, 30, 28], [30.0, 36, 56, 60]]),
                "labels": torch.tensor([1, 2]), "masks": masks}]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(8):
        losses = model([image], targets)
        total = losses["loss_category"] + losses["loss_mask"]
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert history[-1]["loss_category"] < 0.7 * history[0]["loss_category"], history
    assert history[-1]["loss_mask"] < 0.7 * history[0]["loss_mask"], history
    model.eval()
    with torch.no_grad():
        detections = model([image])
    assert detections[0]["masks"].shape[1:] == (1, 64, 64)
    with pytest.raises(ValueError, match="needs targets"):
        model.train()([image])
