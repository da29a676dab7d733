"""Surface metrics (HD, HD95, ASSD, NSD) against MONAI, and Boundary IoU against an OpenCV
transcription of its authors' code and the paper's definition on worked cases.

MONAI (``monai.metrics``, default ``distance_metric="euclidean"``, ``use_subvoxels=False``) is the
reference: it returns float32, segedu float64, hence ``rtol=1e-6``. Both find the nearest surface
pixel with a KD-tree; the distance-transform way that the lab teaches is tested equal too. The
batches hold random smooth blobs with anisotropic spacing and, in the same batch, the edge cases:
an empty prediction, an empty target, both empty, one-pixel objects and objects cut by the image
border.

One deliberate difference: HD95 with exactly one empty mask. MONAI returns ``nan`` there, because
``torch.quantile`` interpolates between two infinite distances (inf - inf = nan), which makes a
missed object look like an image with nothing to find; segedu returns ``inf``, as MONAI does for
the maximum (``percentile=None``) and for ASSD
(test_one_empty_mask_hd95_is_inf_where_monai_says_nan).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from segedu.metrics import (
    average_symmetric_surface_distance,
    boundary_band,
    boundary_iou,
    hausdorff_distance,
    normalized_surface_dice,
    surface_distances,
    surface_pixels,
)

monai_metrics = pytest.importorskip("monai.metrics")

SPACING_2D = (0.7, 1.3)
SPACING_3D = (2.5, 0.8, 0.9)
TOLERANCES = (0.0, 1.0, 2.25)  # 0: only coinciding surface pixels count


def blobs(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> np.ndarray:
    """``n`` masks of smooth random blobs (smoothed noise above its 70th percentile)."""
    noise = ndimage.gaussian_filter(rng.random((n, *shape)), sigma=(0,) + (1.5,) * len(shape))
    return noise > np.quantile(noise, 0.7, axis=tuple(range(1, len(shape) + 1)), keepdims=True)


def edge_case_batch(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A batch: 4 random pairs, then empty pred, empty target, both empty, one-pixel objects,
    a one-pixel object against a blob, and full-image masks cut by the border."""
    rng = np.random.default_rng(seed)
    pred, target = blobs(rng, shape, 10), blobs(rng, shape, 10)
    pred[4] = False  # the model found nothing
    target[5] = False  # nothing to find, the model found something
    pred[6] = target[6] = False  # nothing to find, nothing found
    pred[7] = target[7] = False
    pred[7][(1,) * len(shape)] = True  # one pixel against one pixel, far apart
    target[7][tuple(s - 2 for s in shape)] = True
    pred[8] = False
    pred[8][(0,) * len(shape)] = True  # one pixel in a corner, against a blob
    pred[9] = True  # everything: its surface is the image border
    target[9][(slice(None),) * (len(shape) - 1) + (slice(0, shape[-1] // 2),)] = True
    return pred, target


@pytest.fixture(scope="module", params=["2d", "3d"])
def case(request):
    """The batch, its spacing, and MONAI's (B, 1) inputs."""
    shape, spacing = ((23, 31), SPACING_2D) if request.param == "2d" else ((9, 14, 12), SPACING_3D)
    pred, target = edge_case_batch(0, shape)
    return pred, target, spacing, torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None]


def monai(fn, *args, **kwargs) -> np.ndarray:
    """A MONAI metric on (B, 1, ...) masks as a (B,) float64 array, empty-mask warnings muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, include_background=True, **kwargs)[:, 0].double().numpy()


def assert_same(ours: torch.Tensor, ref: np.ndarray) -> None:
    """Equal up to float32 rounding; nan where nan, inf where inf."""
    assert ours.dtype == torch.float64 and ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-6, equal_nan=True)


# --------------------------------------------------------------------------- against MONAI
def test_hausdorff_distance_max_equals_monai(case):
    pred, target, spacing, p, t = case
    ref = monai(monai_metrics.compute_hausdorff_distance, p, t, spacing=spacing)
    assert_same(hausdorff_distance(pred, target, spacing=spacing), ref)


def test_hd95_equals_monai(case):
    pred, target, spacing, p, t = case
    ref = monai(monai_metrics.compute_hausdorff_distance, p, t, spacing=spacing, percentile=95)
    ours = hausdorff_distance(pred, target, spacing=spacing, percentile=95)
    one_empty = [4, 5]  # MONAI: nan there, segedu: inf (see the module docstring)
    assert np.isnan(ref[one_empty]).all() and torch.isinf(ours[one_empty]).all()
    keep = [i for i in range(len(ref)) if i not in one_empty]
    assert_same(ours[keep], ref[keep])


def test_assd_equals_monai(case):
    pred, target, spacing, p, t = case
    ref = monai(monai_metrics.compute_average_surface_distance, p, t, spacing=spacing,
                symmetric=True)
    assert_same(average_symmetric_surface_distance(pred, target, spacing=spacing), ref)


@pytest.mark.parametrize("tolerance", TOLERANCES)
def test_nsd_equals_monai(case, tolerance):
    pred, target, spacing, p, t = case
    ref = monai(monai_metrics.compute_surface_dice, p, t, [tolerance], spacing=spacing)
    assert_same(normalized_surface_dice(pred, target, tolerance=tolerance, spacing=spacing), ref)


def test_the_data_tells_apart_the_usual_mistakes(case):
    """The comparisons above can fail: on the same batch, the usual wrong variants differ from
    MONAI (so a bug of that kind in segedu would be caught)."""
    pred, target, spacing, p, t = case
    hd95 = monai(monai_metrics.compute_hausdorff_distance, p, t, spacing=spacing, percentile=95)
    assd = monai(monai_metrics.compute_average_surface_distance, p, t, spacing=spacing,
                 symmetric=True)
    pooled, one_way, unit, mean_of_means = [], [], [], []
    for i in range(4):  # the random pairs
        d_pt, d_tp = surface_distances(pred[i], target[i], spacing=spacing)
        pooled.append(np.percentile(np.concatenate([d_pt, d_tp]), 95))
        one_way.append(np.percentile(d_pt, 95))
        unit.append(float(hausdorff_distance(pred[i : i + 1], target[i : i + 1], percentile=95)))
        mean_of_means.append((d_pt.mean() + d_tp.mean()) / 2)
    for wrong in (pooled, one_way, unit):
        assert not np.allclose(wrong, hd95[:4], rtol=1e-6)
    assert not np.allclose(mean_of_means, assd[:4], rtol=1e-6)


# --------------------------------------------------------------------------- edge cases
def test_empty_masks_follow_monai_conventions():
    """Both empty: nan (nothing to measure); one empty: inf distances and NSD 0."""
    empty, blob = np.zeros((1, 8, 8), bool), np.zeros((1, 8, 8), bool)
    blob[0, 2:5, 3:6] = True
    for p, t in [(empty, blob), (blob, empty)]:
        assert math.isinf(hausdorff_distance(p, t))
        assert math.isinf(hausdorff_distance(p, t, percentile=95))
        assert math.isinf(average_symmetric_surface_distance(p, t))
        assert float(normalized_surface_dice(p, t, tolerance=100.0)) == 0.0
    assert math.isnan(hausdorff_distance(empty, empty))
    assert math.isnan(hausdorff_distance(empty, empty, percentile=95))
    assert math.isnan(average_symmetric_surface_distance(empty, empty))
    assert math.isnan(normalized_surface_dice(empty, empty, tolerance=1.0))


def test_one_empty_mask_hd95_is_inf_where_monai_says_nan():
    empty = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    blob = empty.clone()
    blob[..., 2:5, 3:6] = True
    ref = monai(monai_metrics.compute_hausdorff_distance, empty, blob, percentile=95)
    assert np.isnan(ref).all()  # torch.quantile of [inf, ..., inf]: inf + 0 * (inf - inf)
    assert torch.isinf(hausdorff_distance(empty[:, 0], blob[:, 0], percentile=95)).all()


def test_one_pixel_objects_worked_by_hand():
    """Two single pixels 3 rows and 4 columns apart: every distance is the one between them."""
    pred, target = np.zeros((1, 6, 7), bool), np.zeros((1, 6, 7), bool)
    pred[0, 1, 2], target[0, 4, 6] = True, True
    assert float(hausdorff_distance(pred, target)) == pytest.approx(5.0)
    assert float(hausdorff_distance(pred, target, percentile=95)) == pytest.approx(5.0)
    assert float(average_symmetric_surface_distance(pred, target)) == pytest.approx(5.0)
    # anisotropic: rows 2 mm apart, columns 0.5 mm: sqrt((3*2)^2 + (4*0.5)^2)
    hd = hausdorff_distance(pred, target, spacing=(2.0, 0.5))
    assert float(hd) == pytest.approx(math.hypot(6.0, 2.0))
    nsd = normalized_surface_dice(pred, target, tolerance=math.hypot(6.0, 2.0), spacing=(2.0, 0.5))
    assert float(nsd) == 1.0  # a distance equal to the tolerance counts
    assert float(normalized_surface_dice(pred, target, tolerance=6.0, spacing=(2.0, 0.5))) == 0.0


def test_spacing_is_per_axis():
    """A square shifted by one row: 1 pixel = spacing[0] mm; by one column: spacing[1] mm."""
    target = np.zeros((1, 10, 10), bool)
    target[0, 3:7, 3:7] = True
    down, right = np.roll(target, 1, axis=1), np.roll(target, 1, axis=2)
    assert float(hausdorff_distance(down, target, spacing=(3.0, 0.5))) == pytest.approx(3.0)
    assert float(hausdorff_distance(right, target, spacing=(3.0, 0.5))) == pytest.approx(0.5)
    # a scalar spacing scales every distance
    assert float(hausdorff_distance(down, target, spacing=2.0)) == pytest.approx(2.0)


def test_surface_of_an_object_cut_by_the_border():
    """A mask that fills the image has the image's frame as its surface; a one-pixel object is
    its own surface; 3-D uses the 6 face neighbours."""
    full = np.ones((5, 6), bool)
    frame = full.copy()
    frame[1:-1, 1:-1] = False
    np.testing.assert_array_equal(surface_pixels(full), frame)
    dot = np.zeros((3, 3), bool)
    dot[1, 1] = True
    np.testing.assert_array_equal(surface_pixels(dot), dot)
    cube = np.zeros((5, 5, 5), bool)
    cube[1:4, 1:4, 1:4] = True
    inner = np.zeros_like(cube)
    inner[2, 2, 2] = True
    np.testing.assert_array_equal(surface_pixels(cube), cube & ~inner)


def test_surfaces_and_distances_equal_the_textbook_way(case):
    """surface_pixels is scipy's binary erosion (cross, border 0) removed from the mask; the
    distances are those of a Euclidean distance transform of the other surface with
    sampling=spacing, read at this surface's pixels (in np.argwhere order)."""
    pred, target, spacing, _, _ = case
    for i in (0, 1, 7, 8, 9):
        p, t = pred[i], target[i]
        surface_p = p & ~ndimage.binary_erosion(p, border_value=0)
        surface_t = t & ~ndimage.binary_erosion(t, border_value=0)
        np.testing.assert_array_equal(surface_pixels(p), surface_p)
        d_pt, d_tp = surface_distances(p, t, spacing=spacing)
        edt_t = ndimage.distance_transform_edt(~surface_t, sampling=spacing)
        edt_p = ndimage.distance_transform_edt(~surface_p, sampling=spacing)
        np.testing.assert_allclose(d_pt, edt_t[surface_p], rtol=1e-12)
        np.testing.assert_allclose(d_tp, edt_p[surface_t], rtol=1e-12)


# --------------------------------------------------------------------------- Boundary IoU
def authors_boundary_iou(gt: np.ndarray, dt: np.ndarray, dilation_ratio: float) -> float:
    """Boundary IoU as in bowenc0221/boundary-iou-api (boundary_utils.py), written with OpenCV:
    pad one empty pixel, erode ``d`` times with a 3x3 square, unpad, subtract; IoU of the bands."""
    cv2 = pytest.importorskip("cv2")
    h, w = gt.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h**2 + w**2))))

    def band(mask):
        padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1 : h + 1, 1 : w + 1]
        return mask.astype(np.uint8) - eroded

    g, p = band(gt), band(dt)
    with np.errstate(invalid="ignore"):
        return ((g * p) > 0).sum() / ((g + p) > 0).sum()


@pytest.mark.parametrize("ratio", [0.02, 0.05, 0.1])
def test_boundary_iou_equals_the_authors_code(ratio):
    rng = np.random.default_rng(1)
    pred, target = blobs(rng, (60, 80), 6), blobs(rng, (60, 80), 6)
    pred[0], target[1] = False, False  # one empty each
    pred[2] = target[2] = False  # both empty
    pred[3], target[3] = True, True  # full images: the band lies along the border
    ours = boundary_iou(pred, target, dilation_ratio=ratio)
    ref = [authors_boundary_iou(t, p, ratio) for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(ours.numpy(), ref, equal_nan=True)
    assert ours[0] == 0 and ours[1] == 0 and torch.isnan(ours[2]) and ours[3] == 1


def test_boundary_iou_of_rectangles_worked_by_hand():
    """The paper's definition on axis-aligned rectangles, where chessboard and Euclidean
    distances to the contour agree. 100x100 image: d = round(0.02 * 141.4) = 3 pixels.
    Target rows/cols 20..79 (60x60): band = 60^2 - 54^2 = 684 pixels. Prediction 2 columns
    wider on the right (20..81): band = 60*62 - 54*56 = 696. Both bands hold the frame rows
    20..22 and 77..79 on columns 20..79 (2 * 3 * 60 = 360) and the left strip, columns 20..22,
    rows 23..76 (3 * 54 = 162): 522 shared; the target's right strip (columns 77..79) and the
    prediction's (79..81) share column 79 only (54 pixels): intersection 576, union
    684 + 696 - 576 = 804."""
    target = np.zeros((1, 100, 100), bool)
    target[0, 20:80, 20:80] = True
    pred = np.zeros_like(target)
    pred[0, 20:80, 20:82] = True
    np.testing.assert_array_equal(boundary_band(target, width=3).sum(), 684)
    np.testing.assert_array_equal(boundary_band(pred, width=3).sum(), 696)
    assert float(boundary_iou(pred, target)) == pytest.approx(576 / 804)
    # plain IoU hardly notices: 3600 / 3720
    assert float((pred & target).sum() / (pred | target).sum()) == pytest.approx(3600 / 3720)


def test_boundary_iou_of_a_thin_object_is_its_iou():
    """An object at most 2d wide is all band: Boundary IoU = IoU (here 10 / 14)."""
    target = np.zeros((1, 50, 50), bool)
    target[0, 10:12, 5:15] = True  # 2 x 10, d = round(0.02 * 70.7) = 1
    pred = np.zeros_like(target)
    pred[0, 10:12, 8:20] = True  # 2 x 12, overlap 2 x 7
    assert float(boundary_iou(pred, target)) == pytest.approx(14 / (20 + 24 - 14))


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_a_clear_message():
    masks = np.zeros((2, 8, 8), bool)
    with pytest.raises(TypeError, match="binary mask.*float"):
        hausdorff_distance(masks.astype(np.float32), masks)
    with pytest.raises(ValueError, match="0/1"):
        hausdorff_distance(np.full((2, 8, 8), 2), masks)
    with pytest.raises(ValueError, match="same shape"):
        average_symmetric_surface_distance(masks, masks[:1])
    with pytest.raises(ValueError, match="batch"):
        hausdorff_distance(masks[0], masks[0])
    with pytest.raises(ValueError, match=r"spacing has 3 values.*volume\[None\]"):
        hausdorff_distance(masks, masks, spacing=(1.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="positive"):
        hausdorff_distance(masks, masks, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="percentile"):
        hausdorff_distance(masks, masks, percentile=101)
    with pytest.raises(ValueError, match="tolerance"):
        normalized_surface_dice(masks, masks, tolerance=-1.0)
    with pytest.raises(ValueError, match="2-D"):
        boundary_iou(masks[:, None], masks[:, None])
    with pytest.raises(TypeError, match="tensor or numpy"):
        hausdorff_distance([[0, 1]], [[0, 1]])
