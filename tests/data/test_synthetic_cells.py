"""SyntheticCells: shapes, determinism, exact instance labels, touching nuclei."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data import SyntheticCells, validate_sample
from segedu.data.synthetic_cells import touching_pairs


def _np(t):
    return t.as_subclass(torch.Tensor).numpy()


def _touching_by_dilation(labels):
    """Touching pairs found another way: grow each nucleus by one pixel (4-neighbourhood)."""
    pairs = set()
    cross = ndi.generate_binary_structure(2, 1)
    for k in range(1, labels.max() + 1):
        ring = ndi.binary_dilation(labels == k, structure=cross) & (labels != k) & (labels > 0)
        pairs |= {(min(k, j), max(k, j)) for j in np.unique(labels[ring]).tolist()}
    return sorted(pairs)


@pytest.mark.parametrize(("size", "channels"), [(32, 1), ((48, 80), 1), ((80, 48), 3), (96, 3)])
def test_shapes_dtypes_and_sample_format(size, channels):
    h, w = (size, size) if isinstance(size, int) else size
    ds = SyntheticCells(size=size, length=2, seed=1, channels=channels)
    for i in range(len(ds)):
        image, t = ds[i]
        validate_sample(image, t)
        assert isinstance(image, tv_tensors.Image)
        assert image.dtype == torch.float32 and image.shape == (channels, h, w)
        assert 0 <= image.min() and image.max() <= 1
        if channels == 3:
            assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])
        n = len(t["labels"])
        assert t["instances"].shape == (h, w) and t["instances"].dtype == torch.int64
        assert t["masks"].shape == (n, h, w) and t["masks"].dtype == torch.bool
        assert t["boxes"].shape == (n, 4) and t["semantic"].dtype == torch.int64


def test_deterministic_for_seed_and_index():
    a = SyntheticCells(size=(40, 56), length=5, seed=3)
    b = SyntheticCells(size=(40, 56), length=5, seed=3)
    later = b[4]
    for (img_a, ta), (img_b, tb) in [(a[4], later), (a[2], b[2])]:
        assert torch.equal(img_a, img_b)
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[0][1]["instances"],
                           SyntheticCells(size=(40, 56), length=5, seed=4)[0][1]["instances"])


def test_instances_masks_semantic_boxes_agree():
    ds = SyntheticCells(size=(64, 80), length=4, seed=0)
    for i in range(len(ds)):
        _, t = ds[i]
        inst, masks, sem = _np(t["instances"]), _np(t["masks"]), _np(t["semantic"])
        n = masks.shape[0]
        assert n > 0 and inst.max() == n
        assert set(np.unique(inst).tolist()) == set(range(n + 1)), "labels are 0..N without gaps"
        assert (t["labels"] == 1).all()
        assert np.array_equal(sem, (inst > 0).astype(np.int64))
        for k in range(n):
            assert np.array_equal(masks[k], inst == k + 1)
            assert masks[k].sum() >= ds.min_area
            ys, xs = np.where(masks[k])
            assert _np(t["boxes"])[k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_each_nucleus_is_one_connected_star_convex_piece():
    ds = SyntheticCells(size=96, length=4, seed=2)
    for i in range(len(ds)):
        inst = _np(ds[i][1]["instances"])
        for k in range(1, inst.max() + 1):
            mask = inst == k
            assert ndi.label(mask)[1] == 1, f"nucleus {k} of item {i} is in pieces"
            # nearly every pixel sees the centroid along a straight line inside the nucleus
            ys, xs = np.nonzero(mask)
            cy, cx = ys.mean(), xs.mean()
            s = np.linspace(0, 1, 16)[:, None]
            py = np.rint(cy + s * (ys - cy)).astype(int)
            px = np.rint(cx + s * (xs - cx)).astype(int)
            assert mask[py, px].all(axis=0).mean() > 0.85


def test_touching_pairs_on_a_small_label_image():
    labels = np.array(
        [
            [1, 1, 0, 2],
            [0, 3, 3, 2],
            [4, 0, 0, 0],
            [0, 5, 0, 0],
        ]
    )
    # 1-3 share an edge, 3-2 too; 4 and 5 touch only at a corner, which does not count
    assert touching_pairs(labels).tolist() == [[1, 3], [2, 3]]
    assert touching_pairs(torch.from_numpy(labels)).tolist() == [[1, 3], [2, 3]]
    assert touching_pairs(np.zeros((3, 3), dtype=int)).shape == (0, 2)
    with pytest.raises(ValueError, match="instances"):
        touching_pairs(np.zeros(5))


def test_touching_nuclei_really_occur():
    ds = SyntheticCells(size=96, length=4, seed=0)
    nuclei = pairs = 0
    for i in range(len(ds)):
        inst = _np(ds[i][1]["instances"])
        found = touching_pairs(inst)
        assert found.tolist() == [list(p) for p in _touching_by_dilation(inst)]
        nuclei += inst.max()
        pairs += len(found)
    assert pairs >= 0.3 * nuclei, f"only {pairs} touching pairs among {nuclei} nuclei"


def test_cluster_prob_controls_touching():
    def count(prob):
        ds = SyntheticCells(size=96, length=4, seed=0, min_cells=15, max_cells=15,
                            cluster_prob=prob)
        return sum(len(touching_pairs(ds[i][1]["instances"])) for i in range(len(ds)))

    assert count(1.0) > 3 * max(count(0.0), 1)


def test_nuclei_are_brighter_than_background():
    ds = SyntheticCells(size=64, length=3, seed=5)
    for i in range(len(ds)):
        image, t = ds[i]
        img, sem = _np(image)[0], _np(t["semantic"])
        assert img[sem == 1].mean() > img[sem == 0].mean() + 0.15


def test_layout_is_the_same_at_another_size():
    small = SyntheticCells(size=(40, 60), length=2, seed=9).nuclei(1)
    large = SyntheticCells(size=(80, 120), length=2, seed=9).nuclei(1)
    assert len(small) == len(large) > 0
    for a, b in zip(small, large, strict=True):
        assert np.allclose(np.array(b.center), 2 * np.array(a.center))
        assert np.isclose(b.radius, 2 * a.radius)


def test_transforms_are_applied_last():
    plain = SyntheticCells(size=(32, 48), length=1, seed=0)
    flipped = SyntheticCells(size=(32, 48), length=1, seed=0, transforms=v2.RandomVerticalFlip(p=1))
    (img, t), (fimg, ft) = plain[0], flipped[0]
    assert torch.equal(fimg, img.flip(-2))
    assert torch.equal(ft["instances"], t["instances"].flip(-2))
    assert torch.equal(ft["masks"], t["masks"].flip(-2))


def test_index_out_of_range():
    ds = SyntheticCells(size=32, length=2)
    with pytest.raises(IndexError):
        ds[2]
    with pytest.raises(IndexError):
        ds.nuclei(-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"size": 2}, ValueError, "size"),
        ({"size": "x"}, TypeError, "size"),
        ({"length": -5}, ValueError, "length"),
        ({"seed": -1}, ValueError, "seed"),
        ({"min_cells": 10, "max_cells": 3}, ValueError, "max_cells"),
        ({"min_cells": -1}, ValueError, "min_cells"),
        ({"radius": (0, 0.1)}, ValueError, "radius"),
        ({"radius": (0.2, 0.1)}, ValueError, "radius"),
        ({"cluster_prob": 1.5}, ValueError, "cluster_prob"),
        ({"min_area": 0}, ValueError, "min_area"),
        ({"channels": 2}, ValueError, "channels"),
        ({"channels": True}, ValueError, "channels"),
        ({"transforms": 3}, TypeError, "transforms"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        SyntheticCells(**kwargs)
