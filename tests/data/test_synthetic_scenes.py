"""SyntheticScenes: shapes, determinism, exact and mutually consistent ground truth."""

import numpy as np
import pytest
import torch
from matplotlib.path import Path as PolygonPath
from torch.utils.data import DataLoader
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data import SCENE_CLASSES, SCENE_STUFF, SCENE_THINGS, SyntheticScenes, validate_sample


def _np(t):
    return t.as_subclass(torch.Tensor).numpy()


def _same_item(a, b):
    (img_a, ta), (img_b, tb) = a, b
    return torch.equal(img_a, img_b) and ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k])
                                                                        for k in ta)


def _full_shape(obj, h, w):
    """The object's unoccluded mask, rasterised here independently (pixel centres inside)."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    if obj.vertices is None:
        cx, cy = obj.center
        return np.hypot(xs - cx, ys - cy) <= obj.radius
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return PolygonPath(obj.vertices).contains_points(points).reshape(h, w)


def test_class_constants():
    assert SCENE_CLASSES == ("sky", "grass", "water", "circle", "rectangle", "triangle")
    assert SCENE_STUFF == (0, 1, 2) and SCENE_THINGS == (3, 4, 5)


@pytest.mark.parametrize("size", [32, (48, 80), (80, 48), 100])
def test_shapes_dtypes_and_sample_format(size):
    h, w = (size, size) if isinstance(size, int) else size
    ds = SyntheticScenes(size=size, length=3, seed=1)
    assert len(ds) == 3
    for i in range(3):
        image, target = ds[i]
        validate_sample(image, target)
        assert isinstance(image, tv_tensors.Image)
        assert image.dtype == torch.float32 and image.shape == (3, h, w)
        assert 0 <= image.min() and image.max() <= 1
        n = len(target["labels"])
        assert isinstance(target["masks"], tv_tensors.Mask) and target["masks"].shape == (n, h, w)
        assert target["masks"].dtype == torch.bool
        assert (isinstance(target["boxes"], tv_tensors.BoundingBoxes)
                and target["boxes"].shape == (n, 4))
        assert target["boxes"].canvas_size == (h, w)
        assert target["semantic"].shape == (h, w) and target["semantic"].dtype == torch.int64
        assert target["panoptic"].shape == (2, h, w) and target["panoptic"].dtype == torch.int64
        assert target["labels"].dtype == torch.int64


def test_same_seed_and_index_give_identical_items_in_any_order():
    a = SyntheticScenes(size=(40, 56), length=10, seed=7)
    b = SyntheticScenes(size=(40, 56), length=10, seed=7)
    first = [a[i] for i in range(4)]
    backwards = [b[i] for i in reversed(range(4))][::-1]
    for x, y in zip(first, backwards, strict=True):
        assert _same_item(x, y)
    assert _same_item(a[3], a[-7])  # negative indices count from the end
    assert not torch.equal(a[0][0], a[1][0])  # another index, another image
    assert not torch.equal(a[0][0], SyntheticScenes(size=(40, 56), length=10, seed=8)[0][0])


def test_same_items_through_dataloader_workers():
    ds = SyntheticScenes(size=32, length=6, seed=3)
    loader = DataLoader(ds, batch_size=None, num_workers=2, shuffle=False)
    for i, item in enumerate(loader):
        assert _same_item(item, ds[i])


def test_semantic_masks_panoptic_boxes_agree_exactly():
    ds = SyntheticScenes(size=(64, 72), length=6, seed=2, max_objects=10)
    total = 0
    for i in range(len(ds)):
        _, t = ds[i]
        masks, sem, pan = _np(t["masks"]), _np(t["semantic"]), _np(t["panoptic"])
        labels, boxes = t["labels"].numpy(), _np(t["boxes"])
        assert (masks.sum(axis=0) <= 1).all(), "instances must not overlap"
        assert set(labels.tolist()) <= set(SCENE_THINGS)
        # every thing pixel is covered by a mask, every stuff pixel by none
        assert np.array_equal(masks.any(axis=0), np.isin(sem, SCENE_THINGS))
        assert np.isin(sem, range(6)).all()
        assert np.array_equal(pan[0], sem)
        expected_ids = np.zeros_like(sem)
        for k, (mask, label, box) in enumerate(zip(masks, labels, boxes, strict=True)):
            assert mask.sum() >= ds.min_area
            assert (sem[mask] == label).all()
            expected_ids[mask] = k + 1
            ys, xs = np.where(mask)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert np.array_equal(pan[1], expected_ids)
        total += len(labels)
    assert total > 10


def test_all_stuff_and_thing_classes_appear():
    ds = SyntheticScenes(size=48, length=8, seed=0)
    classes, labels = set(), set()
    for i in range(len(ds)):
        _, t = ds[i]
        classes |= set(np.unique(_np(t["semantic"])).tolist())
        labels |= set(t["labels"].tolist())
    assert classes == set(range(6))
    assert labels == set(SCENE_THINGS)


def test_every_image_has_all_three_stuff_regions_without_things():
    ds = SyntheticScenes(size=(40, 64), length=10, seed=5, min_objects=0, max_objects=0)
    for i in range(len(ds)):
        _, t = ds[i]
        assert set(np.unique(_np(t["semantic"])).tolist()) == set(SCENE_STUFF)
        assert t["masks"].shape[0] == 0 and (_np(t["panoptic"])[1] == 0).all()


def test_colours_follow_the_semantic_map():
    # sky and water are blue, grass is green: the image and the map must describe the same scene
    ds = SyntheticScenes(size=64, length=4, seed=4, min_objects=0, max_objects=0)
    for i in range(len(ds)):
        image, t = ds[i]
        img, sem = _np(image), _np(t["semantic"])
        r, g, b = (img[c][sem == 0].mean() for c in range(3))
        assert b > r and b > 0.5, "sky"
        r, g, b = (img[c][sem == 1].mean() for c in range(3))
        assert g > r and g > b, "grass"
        r, g, b = (img[c][sem == 2].mean() for c in range(3))
        assert b > r and b > g, "water"


def test_masks_are_the_visible_parts_of_the_drawn_shapes():
    h, w = 64, 80
    ds = SyntheticScenes(size=(h, w), length=8, seed=11, min_objects=4, max_objects=8)
    occluded = 0
    for i in range(len(ds)):
        _, t = ds[i]
        masks = _np(t["masks"])
        objects = ds.layout(i)
        kept = [o for o in objects if o.instance_id > 0]
        assert [o.instance_id for o in kept] == list(range(1, len(kept) + 1))
        assert [o.label for o in kept] == t["labels"].tolist()
        full = [_full_shape(o, h, w) for o in kept]
        for k, obj in enumerate(kept):
            # visible = full shape minus every later (kept) shape painted over it
            later = np.zeros((h, w), dtype=bool)
            for f in full[k + 1 :]:
                later |= f
            assert np.array_equal(masks[k], full[k] & ~later), (
                f"item {i}, instance {obj.instance_id}")
            occluded += bool((full[k] & later).any())
    assert occluded >= 5, "occlusion must really happen"


def test_hidden_things_are_dropped_and_do_not_occlude():
    h = w = 48
    ds = SyntheticScenes(size=h, length=12, seed=0, min_objects=6, max_objects=8, min_area=120)
    dropped = 0
    for i in range(len(ds)):
        _, t = ds[i]
        objects = ds.layout(i)
        kept = [o for o in objects if o.instance_id > 0]
        dropped += len(objects) - len(kept)
        assert len(kept) == t["masks"].shape[0]
        assert (_np(t["masks"]).sum(axis=(1, 2)) >= 120).all()
        # a dropped object leaves no trace: the instance map is that of the kept objects alone
        ids = np.zeros((h, w), dtype=np.int64)
        for o in kept:
            ids[_full_shape(o, h, w)] = o.instance_id
        assert np.array_equal(ids, _np(t["panoptic"])[1])
    assert dropped > 0


def test_thing_probs_choose_the_classes():
    for probs, label in [((1, 0, 0), 3), ((0, 1, 0), 4), ((0, 0, 2), 5)]:
        ds = SyntheticScenes(size=32, length=3, seed=1, min_objects=3, thing_probs=probs)
        labels = torch.cat([ds[i][1]["labels"] for i in range(3)])
        assert len(labels) > 0 and (labels == label).all()


def test_imbalanced_thing_probs_give_imbalanced_classes():
    ds = SyntheticScenes(size=32, length=30, seed=0, thing_probs=(0.8, 0.1, 0.1))
    counts = np.bincount([o.label for i in range(len(ds)) for o in ds.layout(i)], minlength=6)[3:]
    assert counts[0] > 3 * counts[1] and counts[0] > 3 * counts[2]


def test_geometry_does_not_depend_on_image_size():
    small = SyntheticScenes(size=(40, 60), length=2, seed=9).layout(1)
    large = SyntheticScenes(size=(80, 120), length=2, seed=9).layout(1)
    assert [o.label for o in small] == [o.label for o in large]
    for a, b in zip(small, large, strict=True):
        assert np.allclose(np.array(b.center), 2 * np.array(a.center))
        assert np.isclose(b.radius, 2 * a.radius)


def test_transforms_are_applied_last():
    plain = SyntheticScenes(size=(32, 48), length=2, seed=0)
    flipped = SyntheticScenes(size=(32, 48), length=2, seed=0,
                              transforms=v2.RandomHorizontalFlip(p=1))
    (img, t), (fimg, ft) = plain[1], flipped[1]
    assert torch.equal(fimg, img.flip(-1))
    assert torch.equal(ft["masks"], t["masks"].flip(-1))
    assert torch.equal(ft["panoptic"], t["panoptic"].flip(-1))
    boxes = t["boxes"].as_subclass(torch.Tensor)
    expected = torch.stack([48 - boxes[:, 2], boxes[:, 1], 48 - boxes[:, 0], boxes[:, 3]], dim=1)
    assert torch.equal(ft["boxes"].as_subclass(torch.Tensor), expected)


def test_index_out_of_range_and_wrong_type():
    ds = SyntheticScenes(size=32, length=3)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(IndexError):
        ds[-4]
    with pytest.raises(TypeError, match="integers"):
        ds["0"]
    assert len(SyntheticScenes(size=32, length=0)) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"size": 4}, ValueError, "size"),
        ({"size": (32, 0)}, ValueError, "size"),
        ({"size": "big"}, TypeError, "size"),
        ({"size": (32, 32, 3)}, TypeError, "size"),
        ({"size": 32.0}, TypeError, "size"),
        ({"length": -1}, ValueError, "length"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"min_objects": 5, "max_objects": 2}, ValueError, "max_objects"),
        ({"thing_probs": (1, 1)}, ValueError, "thing_probs"),
        ({"thing_probs": (1, -1, 1)}, ValueError, "thing_probs"),
        ({"thing_probs": (0, 0, 0)}, ValueError, "thing_probs"),
        ({"thing_probs": "abc"}, ValueError, "thing_probs"),
        ({"object_size": (0, 0.2)}, ValueError, "object_size"),
        ({"object_size": (0.3, 0.2)}, ValueError, "object_size"),
        ({"object_size": 0.2}, TypeError, "object_size"),
        ({"min_area": 0}, ValueError, "min_area"),
        ({"transforms": "flip"}, TypeError, "transforms"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        SyntheticScenes(**kwargs)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        SyntheticScenes(64)
