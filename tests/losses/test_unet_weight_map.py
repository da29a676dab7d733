"""unet_weight_map against a brute-force distance computation and hand-derived values;
weighted_cross_entropy against F.cross_entropy(reduction="none") weighted by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segedu.losses import cross_entropy, unet_weight_map, weighted_cross_entropy

from .cases import random_logits_target

sklearn_utils = pytest.importorskip("sklearn.utils")


def two_squares(gap: int) -> torch.Tensor:
    """3 rows; cell 1 in columns 0-2, then `gap` background columns, then cell 2 (3 columns)."""
    labels = torch.zeros(3, 6 + gap, dtype=torch.long)
    labels[:, :3] = 1
    labels[:, 3 + gap :] = 2
    return labels


def test_two_squares_hand_computed():
    # gap of 2 columns (3 and 4). Pixel (r, 3): nearest pixel of cell 1 is (r, 2) at 1, of
    # cell 2 is (r, 5) at 2 -> d1 + d2 = 3. Pixel (r, 4): 2 and 1, again 3. (On a line between
    # two cells d1 + d2 = gap + 1.)
    # Balance: 24 pixels, 18 foreground, 6 background, K = 2: w_bg = 24/(2*6) = 2,
    # w_fg = 24/(2*18) = 2/3.
    w = unet_weight_map(two_squares(2), w0=10.0, sigma=5.0)
    border = 2.0 + 10.0 * math.exp(-(3**2) / (2 * 5.0**2))
    torch.testing.assert_close(w[:, 3:5], torch.full((3, 2), border))
    torch.testing.assert_close(w[:, :3], torch.full((3, 3), 2 / 3))
    torch.testing.assert_close(w[:, 5:], torch.full((3, 3), 2 / 3))
    # gap of 1: d1 = d2 = 1 -> exp(-4/50); 21 pixels, 3 background: w_bg = 21/6, w_fg = 21/36
    w = unet_weight_map(two_squares(1), w0=10.0, sigma=5.0)
    torch.testing.assert_close(w[:, 3], torch.full((3,), 21 / 6 + 10.0 * math.exp(-4 / 50)))
    # class_weights None: w_c = 1
    w = unet_weight_map(two_squares(2), class_weights=None, w0=5.0, sigma=2.0)
    torch.testing.assert_close(w[:, 3], torch.full((3,), 1.0 + 5.0 * math.exp(-9 / 8)))
    torch.testing.assert_close(w[:, 0], torch.ones(3))


def test_symmetry():
    # the two-squares layout is symmetric under a left-right flip, and so is its map
    w = unet_weight_map(two_squares(3))
    torch.testing.assert_close(w, w.flip(1))
    # relabelling the cells (2 <-> 7) does not change the map
    labels = two_squares(3)
    relabelled = torch.where(labels == 2, 7, labels)
    torch.testing.assert_close(unet_weight_map(relabelled), w)


def test_no_instance_and_one_instance():
    # no cell: every pixel is background, K = 1 -> w = HW / (1 * HW) = 1
    torch.testing.assert_close(
        unet_weight_map(torch.zeros(4, 5, dtype=torch.long)), torch.ones(4, 5)
    )
    # one cell: no second-nearest cell, so only the class balance: 20 pixels, 4 foreground ->
    # w_fg = 20/(2*4) = 2.5, w_bg = 20/(2*16) = 0.625
    labels = torch.zeros(4, 5, dtype=torch.long)
    labels[1:3, 1:3] = 3
    expected = torch.where(labels > 0, 2.5, 0.625)
    torch.testing.assert_close(unet_weight_map(labels), expected)
    # a custom (background, foreground) weight
    torch.testing.assert_close(
        unet_weight_map(labels, class_weights=torch.tensor([1.0, 4.0])),
        torch.where(labels > 0, 4.0, 1.0),
    )


def _brute_force(labels, w0, sigma):
    """Distances by a numpy min over the border pixels of each cell, then eq. 2 of U-Net."""
    h, w = labels.shape
    foreground = labels > 0
    n_fg = foreground.sum()
    classes = np.unique(foreground.astype(int))
    balance = sklearn_utils.compute_class_weight(
        "balanced", classes=classes, y=foreground.ravel().astype(int)
    )
    w_c = dict(zip(classes.tolist(), balance.tolist(), strict=True))
    out = np.where(foreground, w_c.get(1, 0.0), w_c.get(0, 0.0)) if n_fg else np.ones((h, w))
    ids = [k for k in np.unique(labels) if k > 0]
    if len(ids) < 2:
        return out
    borders = []
    for k in ids:
        cell = labels == k
        pts = []
        for r, c in zip(*np.nonzero(cell), strict=True):
            neighbours = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))]
            if any(0 <= rr < h and 0 <= cc < w and not cell[rr, cc] for rr, cc in neighbours):
                pts.append((r, c))  # a border pixel: a 4-neighbour outside the cell
        borders.append(np.array(pts, dtype=float))
    for r in range(h):
        for c in range(w):
            if foreground[r, c]:
                continue
            d = sorted(np.sqrt(((b - (r, c)) ** 2).sum(axis=1)).min() for b in borders)
            out[r, c] += w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2))
    return out


def test_matches_brute_force_on_random_images():
    rng = np.random.default_rng(0)
    for case in range(100):
        h, w = (int(s) for s in rng.integers(3, 9, size=2))
        labels = np.zeros((h, w), dtype=np.int64)
        for k in range(int(rng.integers(0, 5))):  # random rectangles, later ones on top
            r0, c0 = rng.integers(0, h), rng.integers(0, w)
            r1, c1 = r0 + rng.integers(1, 4), c0 + rng.integers(1, 4)
            labels[r0:r1, c0:c1] = 3 * k + 1  # non-consecutive labels
        w0, sigma = [(10.0, 5.0), (3.0, 1.0), (5.0, 2.5)][case % 3]
        ours = unet_weight_map(torch.from_numpy(labels), w0=w0, sigma=sigma)
        expected = torch.from_numpy(_brute_force(labels, w0, sigma)).float()
        torch.testing.assert_close(ours, expected)


def test_unet_weight_map_bad_input():
    with pytest.raises(TypeError, match="integer"):
        unet_weight_map(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        unet_weight_map(torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="sigma"):
        unet_weight_map(torch.zeros(3, 3, dtype=torch.long), sigma=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        unet_weight_map(-torch.ones(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="class_weights"):
        unet_weight_map(torch.zeros(3, 3, dtype=torch.long), class_weights="median")


# ---------------------------------------------------------------- pixel-weighted cross-entropy


def test_weighted_cross_entropy_matches_weighted_pytorch():
    g = torch.Generator().manual_seed(3)
    for case in range(100):
        ignore_index = [-100, 255][case % 2]
        logits, target = random_logits_target(
            (2, 3, 4), 1 + case % 4, generator=g, ignore_index=ignore_index
        )
        w = 5 * torch.rand(target.shape, generator=g, dtype=torch.float64)
        per_pixel = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
        counted = w * (target != ignore_index)
        x = logits.clone().requires_grad_(True)
        ours = weighted_cross_entropy(x, target, w, ignore_index=ignore_index)
        torch.testing.assert_close(ours, (per_pixel * w).sum() / counted.sum(), equal_nan=True)
        kw = dict(ignore_index=ignore_index)
        torch.testing.assert_close(
            weighted_cross_entropy(logits, target, w, reduction="sum", **kw), (per_pixel * w).sum()
        )
        torch.testing.assert_close(
            weighted_cross_entropy(logits, target, w, reduction="none", **kw), per_pixel * w
        )
        # gradients against autograd through F.cross_entropy
        if torch.isfinite(ours):
            y = logits.clone().requires_grad_(True)
            ref = (F.cross_entropy(y, target, reduction="none", **kw) * w).sum() / counted.sum()
            ours.backward()
            ref.backward()
            torch.testing.assert_close(x.grad, y.grad)


def test_weighted_cross_entropy_uniform_weight_is_cross_entropy():
    # a constant map changes nothing for "mean" (a weighted mean)
    g = torch.Generator().manual_seed(4)
    logits, target = random_logits_target((2, 5, 5), 3, generator=g, ignore_index=255)
    w = torch.full(target.shape, 3.0, dtype=torch.float64)
    torch.testing.assert_close(
        weighted_cross_entropy(logits, target, w, ignore_index=255),
        cross_entropy(logits, target, ignore_index=255),
    )
    with pytest.raises(ValueError, match="shape"):
        weighted_cross_entropy(logits, target, w[0], ignore_index=255)
    with pytest.raises(TypeError, match="floating-point"):
        weighted_cross_entropy(
            logits, target, torch.ones(target.shape, dtype=torch.long), ignore_index=255
        )


def test_weighted_cross_entropy_gradcheck():
    g = torch.Generator().manual_seed(5)
    logits, target = random_logits_target((2, 2, 2), 3, generator=g, ignore_index=255)
    w = torch.rand(target.shape, generator=g, dtype=torch.float64) + 0.5
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: weighted_cross_entropy(x, target, w, ignore_index=255), (logits,)
    )
