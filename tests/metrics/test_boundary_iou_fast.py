"""segedu.metrics.boundary_iou (rows packed into 64-pixel words, the whole batch at once) equals
boundary_iou_readable (one pair at a time, SciPy's minimum filter, as the chapter explains it) on
random masks and on the edge cases of the packing: widths below, at and above a word, bands wider
than a word or than the image, thin and one-pixel objects, empty and full masks.

The readable version is itself checked against the authors' code in tests/metrics/test_surface.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from segedu.metrics import boundary_band, boundary_iou
from segedu.metrics._packed_erosion import count_bits, erode_packed, pack_rows
from segedu.metrics.boundary_iou import boundary_iou_readable


def random_masks(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Smooth blobs of random density (sometimes none, sometimes the whole image)."""
    noise = ndimage.gaussian_filter(rng.random((n, h, w)), sigma=(0, 1.2, 1.2))
    levels = [np.quantile(x, q) for x, q in zip(noise, rng.uniform(0, 1, n), strict=True)]
    return noise > np.asarray(levels)[:, None, None]


@pytest.mark.parametrize("shape", [(7, 5), (20, 63), (33, 64), (40, 65), (64, 130), (16, 200)])
@pytest.mark.parametrize("ratio", [0.02, 0.1, 0.4, 1.0])
def test_fast_equals_readable_on_random_masks(shape, ratio):
    rng = np.random.default_rng(sum(shape) + int(ratio * 100))
    pred, target = random_masks(rng, 12, *shape), random_masks(rng, 12, *shape)
    pred[0], target[1] = False, False            # one empty each
    pred[2] = target[2] = False                  # both empty
    pred[3] = target[3] = True                   # full images: the band lies along the border
    pred[4], target[4] = False, False
    pred[4][0, -1], target[4][-1, 0] = True, True  # one-pixel objects in corners
    pred[5][:, :] = False
    pred[5][:, shape[1] // 2] = True             # a one-pixel-wide line against a blob
    fast = boundary_iou(pred, target, dilation_ratio=ratio)
    readable = boundary_iou_readable(pred, target, dilation_ratio=ratio)
    assert fast.dtype == torch.float64 and fast.shape == (12,)
    np.testing.assert_array_equal(fast.numpy(), readable.numpy())  # the same counts: exact
    assert fast[0] == 0 and fast[1] == 0 and torch.isnan(fast[2]) and fast[3] == 1


@pytest.mark.parametrize("width", [1, 2, 5, 31, 32, 63, 64, 65, 100])
def test_packed_erosion_equals_the_minimum_filter(width):
    rng = np.random.default_rng(width)
    masks = rng.random((3, 70, 150)) < 0.97       # mostly full: deep erosions still leave pixels
    masks[1] = True
    bits = pack_rows(masks)
    band = bits & ~erode_packed(bits, width)
    unpacked = np.unpackbits(band.view(np.uint8), axis=2, bitorder="little")[:, :, :150]
    np.testing.assert_array_equal(unpacked.astype(bool), boundary_band(masks, width=width))
    np.testing.assert_array_equal(count_bits(band), boundary_band(masks, width=width).sum((1, 2)))


def test_inputs_of_every_kind_give_the_same_result():
    rng = np.random.default_rng(3)
    pred, target = random_masks(rng, 4, 30, 90), random_masks(rng, 4, 30, 90)
    expected = boundary_iou_readable(pred, target)
    for p, t in [(torch.from_numpy(pred), torch.from_numpy(target)),
                 (pred.astype(np.uint8), target.astype(np.int64))]:
        np.testing.assert_array_equal(boundary_iou(p, t).numpy(), expected.numpy())


def test_bad_input_is_refused_with_the_same_message():
    masks = np.zeros((2, 8, 8), dtype=bool)
    for fn in (boundary_iou, boundary_iou_readable):
        with pytest.raises(ValueError, match="same shape"):
            fn(masks, masks[:1])
        with pytest.raises(ValueError, match=r"batch of 2-D masks \(N, H, W\)"):
            fn(masks[0], masks[0])
        with pytest.raises(ValueError, match="dilation_ratio"):
            fn(masks, masks, dilation_ratio=0)
