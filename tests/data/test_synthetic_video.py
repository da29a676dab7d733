"""SyntheticVideos: motion, depth order, leaving the frame, stable ids, determinism, errors.

The masks are checked against shapes rasterised here independently (matplotlib's point-in-polygon
test and ``hypot`` for circles), painted far to near from the clip's layout; the layout is checked
against the motion model it promises (constant speed, turn and spin per thing), and frame 0
against :class:`SyntheticScenes`, whose labels are pinned by an independent reference.
"""

import math

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data import SyntheticScenes, SyntheticVideos
from tests.data.test_synthetic_digest import CASES
from tests.data.test_synthetic_scenes import _full_shape  # matplotlib's point-in-polygon, hypot


def _np(t):
    return t.as_subclass(torch.Tensor).numpy()


def _painted(frame, h, w):
    """The instance map of one frame of a layout, painted here: the present things, far to
    near, each over what it covers."""
    ids = np.zeros((h, w), dtype=np.int64)
    for obj in frame:  # depth order: farthest first
        if obj.instance_id:
            ids[_full_shape(obj, h, w)] = obj.instance_id
    return ids


H, W, T = 48, 64, 6


@pytest.fixture(scope="module")
def clips():
    """Twelve clips of a crowded data set: ``(dataset, [(video, target, layout), ...])``."""
    ds = SyntheticVideos(size=(H, W), frames=T, length=12, seed=5, min_objects=3, max_objects=6,
                         speed=(0.04, 0.1))
    return ds, [(*ds[i], ds.layout(i)) for i in range(len(ds))]


def test_shapes_dtypes_and_agreeing_targets(clips):
    _, items = clips
    for video, target, layout in items:
        assert isinstance(video, tv_tensors.Video)
        assert video.dtype == torch.float32 and video.shape == (T, 3, H, W)
        assert 0 <= video.min() and video.max() <= 1
        n = len(target["labels"])
        assert target["labels"].dtype == torch.int64 and set(target["labels"].tolist()) <= {3, 4, 5}
        inst, masks, sem = _np(target["instances"]), _np(target["masks"]), _np(target["semantic"])
        assert inst.shape == (T, H, W) and inst.dtype == np.int64
        assert masks.shape == (T, n, H, W) and masks.dtype == np.bool_
        assert isinstance(target["masks"], tv_tensors.Mask)
        assert np.array_equal(masks, inst[:, None] == np.arange(1, n + 1)[None, :, None, None])
        # every id 1..N is seen in some frame; things carry their class, stuff 0..2 elsewhere
        assert set(np.unique(inst)) - {0} == set(range(1, n + 1))
        labels = np.concatenate([[0], _np(target["labels"])])
        assert np.array_equal(sem[inst > 0], labels[inst[inst > 0]])
        assert set(np.unique(sem[inst == 0])) <= {0, 1, 2}
        assert len(layout) == T and all(len(frame) == len(layout[0]) for frame in layout)


def test_masks_are_the_visible_parts_painted_far_to_near(clips):
    """Painting the present things of the layout, far to near, with shapes rasterised here gives
    the instance map exactly; a nearer thing owns every pixel it shares with a farther one."""
    _, items = clips
    overlaps = 0
    for _, target, layout in items:
        inst = _np(target["instances"])
        for t, frame in enumerate(layout):
            assert np.array_equal(_painted(frame, H, W), inst[t]), f"frame {t}"
            present = [o for o in frame if o.instance_id]
            full = {o.instance_id: _full_shape(o, H, W) for o in present}
            for far_k, far in enumerate(present):
                for near in present[far_k + 1:]:
                    shared = full[far.instance_id] & full[near.instance_id]
                    overlaps += bool(shared.any())
                    assert (inst[t][shared] != far.instance_id).all()
    assert overlaps >= 10, "things must really occlude each other"


def test_absent_things_have_fewer_than_min_area_pixels_unoccluded_or_in_view(clips):
    """A thing marked absent in a frame shows fewer than ``min_area`` pixels there, even when
    only the present things are painted over it; a present one shows at least ``min_area``."""
    ds, items = clips
    for _, target, layout in items:
        masks = _np(target["masks"])
        for t, frame in enumerate(layout):
            for k, obj in enumerate(frame):
                if obj.instance_id:
                    assert masks[t, obj.instance_id - 1].sum() >= ds.min_area
                    continue
                covering = np.zeros((H, W), dtype=bool)
                for near in frame[k + 1:]:
                    if near.instance_id:
                        covering |= _full_shape(near, H, W)
                assert (_full_shape(obj, H, W) & ~covering).sum() < ds.min_area


def test_things_move_turn_and_spin_at_constant_rates(clips):
    """Per thing: equal steps (its speed, within the speed range), a constant change of heading
    (within ``max_turn``) and its corners rotated by a constant angle per frame (within
    ``max_spin``), the shape itself unchanged."""
    ds, items = clips
    short = min(H, W)
    moved = turned = 0
    for _, _, layout in items:
        for k in range(len(layout[0])):
            track = [frame[k] for frame in layout]
            centres = np.array([o.center for o in track])
            steps = np.diff(centres, axis=0)
            lengths = np.hypot(steps[:, 0], steps[:, 1])
            np.testing.assert_allclose(lengths, lengths[0], rtol=1e-9)
            assert ds.speed[0] * short <= lengths[0] <= ds.speed[1] * short
            headings = np.unwrap(np.arctan2(steps[:, 1], steps[:, 0]))
            turns = np.diff(headings)
            np.testing.assert_allclose(turns, turns[0], atol=1e-9)
            assert abs(turns[0]) <= ds.max_turn + 1e-12
            moved += 1
            turned += abs(turns[0]) > 0.01
            assert len({(o.label, o.radius, o.color) for o in track}) == 1
            if track[0].vertices is not None:
                offsets = [o.vertices - np.array(o.center) for o in track]
                o0 = offsets[0]
                angles = [np.arctan2(o0[:, 0] * v[:, 1] - o0[:, 1] * v[:, 0],
                                     np.sum(o0 * v, axis=1)) for v in offsets]
                spin = np.unwrap([a[0] for a in angles])
                for a in angles:  # every corner turned by the same angle
                    np.testing.assert_allclose(a, a[0], atol=1e-9)
                np.testing.assert_allclose(np.diff(spin), spin[1] - spin[0], atol=1e-9)
                assert abs(spin[1] - spin[0]) <= ds.max_spin + 1e-12
                for v in offsets:  # rigid: the same distances from the centre
                    np.testing.assert_allclose(np.hypot(*v.T), np.hypot(*offsets[0].T), rtol=1e-9)
    assert moved > 30 and turned > 10


def test_things_leave_the_frame_and_ids_stay_stable():
    """Somewhere a thing seen in frame 0 is absent later with its whole shape out of view; every
    id keeps its thing (class, colour, size) in every frame, however long it was away."""
    ds = SyntheticVideos(size=40, frames=8, length=16, seed=0, min_objects=4, max_objects=6,
                         speed=(0.06, 0.12), max_turn=0.4)
    left = returned = 0
    for i in range(len(ds)):
        _, target = ds[i]
        layout = ds.layout(i)
        inst = _np(target["instances"])
        for k in range(len(layout[0])):
            track = [frame[k] for frame in layout]
            ids = {o.instance_id for o in track} - {0}
            assert len(ids) <= 1, "a thing keeps one id"
            if not ids:
                continue
            (n,) = ids
            assert target["labels"][n - 1] == track[0].label
            present = [o.instance_id == n for o in track]
            assert present == [(inst[t] == n).any() for t in range(len(track))]
            for t in range(1, len(track)):
                gone = present[t - 1] and not present[t]
                if gone and not _full_shape(track[t], 40, 40).any():
                    left += 1
                if present[t] and not present[t - 1] and any(present[:t - 1]):
                    returned += 1
    assert left >= 3, "things must leave the frame"
    assert returned >= 1, "a thing that was hidden or away comes back with its id"


def test_frame_zero_shows_the_scene_with_the_same_seed():
    """Frame 0's masks are the masks of ``SyntheticScenes`` item ``index`` (same seed, size and
    objects), in the same depth order, and its pixels away from the things equal the scene's
    image up to the clip's own faint sensor noise."""
    kwargs = {"size": 56, "length": 5, "seed": 4, "min_objects": 2, "max_objects": 6,
              "object_size": (0.08, 0.2)}
    videos, scenes = SyntheticVideos(frames=3, **kwargs), SyntheticScenes(**kwargs)
    for i in range(5):
        video, target = videos[i]
        image, scene = scenes[i]
        inst0 = _np(target["instances"])[0]
        ids = [n for n in range(1, len(target["labels"]) + 1) if (inst0 == n).any()]
        frame_masks = np.stack([inst0 == n for n in ids]) if ids else np.zeros((0, 56, 56), bool)
        assert np.array_equal(frame_masks, _np(scene["masks"]))
        assert target["labels"][[n - 1 for n in ids]].tolist() == scene["labels"].tolist()
        assert np.array_equal(_np(target["semantic"])[0], _np(scene["semantic"]))
        stuff = inst0 == 0
        assert np.abs(_np(video)[0][:, stuff] - _np(image)[:, stuff]).max() < 0.03


def test_unoccluded_shapes_in_view_have_their_analytic_area(clips):
    """A thing wholly in view and not covered has as many pixels as its area, up to the pixels
    whose squares the outline crosses: |count - area| <= sqrt(2) * perimeter + pi / 2 (the band
    of half-width sqrt(2)/2 around a convex outline)."""
    _, items = clips
    checked = 0
    for _, target, layout in items:
        masks = _np(target["masks"])
        for t, frame in enumerate(layout):
            for k, obj in enumerate(frame):
                if not obj.instance_id:
                    continue
                full = _full_shape(obj, H, W)
                if any(o.instance_id and (full & _full_shape(o, H, W)).any()
                       for o in frame[k + 1:]):
                    continue  # covered somewhere
                if obj.vertices is None:
                    cx, cy = obj.center
                    if not (obj.radius < cx < W - obj.radius and obj.radius < cy < H - obj.radius):
                        continue
                    area, perimeter = math.pi * obj.radius ** 2, 2 * math.pi * obj.radius
                else:
                    v = obj.vertices
                    if not (v.min() > 0 and (v[:, 0] < W).all() and (v[:, 1] < H).all()):
                        continue
                    x, y = v[:, 0], v[:, 1]
                    area = 0.5 * abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
                    perimeter = np.sum(np.hypot(*(np.roll(v, -1, axis=0) - v).T))
                count = masks[t, obj.instance_id - 1].sum()
                assert abs(count - area) <= math.sqrt(2) * perimeter + math.pi / 2
                checked += 1
    assert checked >= 30


@pytest.mark.parametrize("case", sorted(c for c in CASES if c.startswith("video")))
def test_the_pinned_clips_are_those_painted_from_their_layouts(case):
    """The clips whose label digests ``synthetic_reference.json`` pins were checked when they were
    pinned, and are rechecked here: every frame's instance map is the one painted here from the
    layout (whose motion the tests above check), and frame 0 agrees with the pinned scenes."""
    make, indices = CASES[case]
    ds = make()
    h, w = ds.size
    for i in indices:
        _, target = ds[i]
        inst = _np(target["instances"])
        for t, frame in enumerate(ds.layout(i)):
            assert np.array_equal(_painted(frame, h, w), inst[t]), f"{case} clip {i} frame {t}"


def test_same_seed_and_index_give_identical_clips_in_any_order():
    a = SyntheticVideos(size=32, frames=4, length=4, seed=7)
    b = SyntheticVideos(size=32, frames=4, length=4, seed=7)
    order = [b[i] for i in (3, 1, 0, 2)]
    for i, (vb, tb) in zip((3, 1, 0, 2), order, strict=True):
        va, ta = a[i]
        assert torch.equal(va, vb) and ta.keys() == tb.keys()
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    other = SyntheticVideos(size=32, frames=4, length=4, seed=8)[0]
    assert not torch.equal(other[0], a[0][0])


def test_transforms_move_video_and_masks_together():
    plain = SyntheticVideos(size=(32, 40), frames=3, length=2, seed=0)
    flipped = SyntheticVideos(size=(32, 40), frames=3, length=2, seed=0,
                              transforms=v2.RandomHorizontalFlip(p=1))
    (video, t), (fvideo, ft) = plain[1], flipped[1]
    assert torch.equal(fvideo, video.flip(-1))
    for key in ("instances", "masks", "semantic"):
        assert torch.equal(ft[key], t[key].flip(-1))


def test_index_out_of_range_and_wrong_type():
    ds = SyntheticVideos(size=32, frames=2, length=3)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(TypeError, match="integers"):
        ds["0"]
    with pytest.raises(IndexError):
        ds.layout(-4)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"frames": 0}, ValueError, "frames"),
        ({"frames": 2.5}, TypeError, "frames"),
        ({"speed": (0, 0.1)}, ValueError, "speed"),
        ({"speed": (0.2, 0.1)}, ValueError, "speed"),
        ({"speed": 0.1}, TypeError, "speed"),
        ({"max_turn": -0.1}, ValueError, "max_turn"),
        ({"max_turn": "left"}, TypeError, "max_turn"),
        ({"max_spin": float("nan")}, ValueError, "max_spin"),
        ({"size": 4}, ValueError, "size"),
        ({"length": -1}, ValueError, "length"),
        ({"seed": -1}, ValueError, "seed"),
        ({"min_objects": 3, "max_objects": 1}, ValueError, "max_objects"),
        ({"min_area": 0}, ValueError, "min_area"),
        ({"transforms": "flip"}, TypeError, "transforms"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        SyntheticVideos(**kwargs)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        SyntheticVideos(64)
