"""inverse_frequency_weights against scikit-learn's compute_class_weight("balanced"),
median_frequency_weights against an independent numpy computation, and hand-computed maps."""

import numpy as np
import pytest
import torch

from segedu.losses import (
    class_pixel_counts,
    cross_entropy,
    inverse_frequency_weights,
    median_frequency_weights,
)

sklearn_utils = pytest.importorskip("sklearn.utils")


def test_inverse_frequency_hand_computed():
    # 4 pixels: class 0 three times, class 1 once. w_c = n / (C n_c): 4/(2*3) = 2/3, 4/(2*1) = 2
    target = torch.tensor([[0, 0], [0, 1]])
    torch.testing.assert_close(inverse_frequency_weights(target, 2), torch.tensor([2 / 3, 2.0]))
    # each class then carries the same total weight n_c w_c = n / C = 2
    torch.testing.assert_close(
        class_pixel_counts(target, 2) * inverse_frequency_weights(target, 2),
        torch.tensor([2.0, 2.0]),
    )


def test_inverse_frequency_absent_class_and_ignore():
    # class 2 absent -> weight 0; the 255 pixel is not counted: n = 3, C = 3
    target = torch.tensor([[0, 0, 1, 255]])
    w = inverse_frequency_weights(target, 3, ignore_index=255)
    torch.testing.assert_close(w, torch.tensor([3 / (3 * 2), 3 / (3 * 1), 0.0]))
    assert (inverse_frequency_weights(torch.full((2, 2), 255), 3, ignore_index=255) == 0).all()


def test_inverse_frequency_matches_sklearn_balanced():
    # 100 random label maps with every class present (scikit-learn refuses absent classes)
    rng = np.random.default_rng(0)
    for _ in range(100):
        num_classes = int(rng.integers(1, 7))
        shape = (num_classes, *(int(s) for s in rng.integers(1, 6, size=rng.integers(0, 3))))
        labels = rng.integers(0, num_classes, size=shape)
        labels.reshape(-1)[:num_classes] = np.arange(num_classes)  # every class present
        expected = sklearn_utils.compute_class_weight(
            "balanced", classes=np.arange(num_classes), y=labels.reshape(-1)
        )
        ours = inverse_frequency_weights(torch.from_numpy(labels), num_classes)
        torch.testing.assert_close(ours, torch.from_numpy(expected).float())
        # the same from the counts
        counts = torch.from_numpy(np.bincount(labels.reshape(-1), minlength=num_classes))
        torch.testing.assert_close(
            inverse_frequency_weights(counts, num_classes, from_counts=True), ours
        )


def test_normalize_changes_scale_not_the_mean_cross_entropy():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (2, 6, 6), generator=g)
    logits = torch.randn(2, 4, 6, 6, generator=g, dtype=torch.float64)
    raw = inverse_frequency_weights(target, 4).double()
    normalized = inverse_frequency_weights(target, 4, normalize=True).double()
    torch.testing.assert_close(normalized.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(normalized, raw / raw.sum())
    torch.testing.assert_close(
        cross_entropy(logits, target, raw), cross_entropy(logits, target, normalized)
    )


def test_median_frequency_hand_computed():
    # image 1: [[0, 0], [0, 1]], image 2: [[0, 0], [2, 2]].
    # n = (5, 1, 2); class 0 is in both images (8 pixels), class 1 in image 1 (4), class 2 in
    # image 2 (4): f = (5/8, 1/4, 2/4). median = 1/2 -> w = (0.5/0.625, 0.5/0.25, 0.5/0.5)
    targets = torch.tensor([[[0, 0], [0, 1]], [[0, 0], [2, 2]]])
    torch.testing.assert_close(median_frequency_weights(targets, 3), torch.tensor([0.8, 2.0, 1.0]))
    # a fourth, absent class gets weight 0 and does not enter the median
    torch.testing.assert_close(
        median_frequency_weights(targets, 4), torch.tensor([0.8, 2.0, 1.0, 0.0])
    )
    # images of different sizes as a list: the same numbers
    as_list = [targets[0], targets[1].reshape(1, 4)]
    torch.testing.assert_close(median_frequency_weights(as_list, 3), torch.tensor([0.8, 2.0, 1.0]))


def _median_frequency_numpy(images, num_classes, ignore_index):
    """Independent: loop over classes, then over images, in numpy."""
    freq = np.zeros(num_classes)
    for c in range(num_classes):
        pixels_c, pixels_images = 0, 0
        for image in images:
            labelled = image[image != ignore_index] if ignore_index is not None else image.ravel()
            if (labelled == c).any():
                pixels_c += (labelled == c).sum()
                pixels_images += labelled.size
        freq[c] = pixels_c / pixels_images if pixels_images else 0.0
    present = freq > 0
    out = np.zeros(num_classes)
    out[present] = np.median(freq[present]) / freq[present]
    return out


def test_median_frequency_matches_numpy():
    rng = np.random.default_rng(1)
    for case in range(100):
        num_classes = int(rng.integers(1, 6))
        n, h, w = (int(s) for s in rng.integers(1, 5, size=3))
        ignore_index = 255 if case % 2 else None
        # skewed class frequencies, so that classes are missing from some images
        labels = rng.choice(
            num_classes,
            size=(n, h, w),
            p=np.arange(1, num_classes + 1) / (num_classes * (num_classes + 1) / 2),
        )
        if ignore_index is not None:
            labels[rng.random((n, h, w)) < 0.2] = ignore_index
        expected = _median_frequency_numpy(list(labels), num_classes, ignore_index)
        ours = median_frequency_weights(torch.from_numpy(labels), num_classes, ignore_index)
        torch.testing.assert_close(ours, torch.from_numpy(expected).float())


def test_class_weights_bad_input():
    with pytest.raises(TypeError, match="integer"):
        inverse_frequency_weights(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="outside"):
        inverse_frequency_weights(torch.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="num_classes"):
        inverse_frequency_weights(torch.tensor([0, 1]), 0)
    with pytest.raises(ValueError, match=r"\(C,\)"):
        inverse_frequency_weights(torch.tensor([3, 4, 5]), 2, from_counts=True)
    with pytest.raises(ValueError, match="negative"):
        inverse_frequency_weights(torch.tensor([3, -1]), 2, from_counts=True)
    with pytest.raises(TypeError, match="integer"):
        median_frequency_weights(torch.zeros(2, 3, 3), 2)
