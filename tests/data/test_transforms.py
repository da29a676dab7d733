"""Joint transforms keep the image and every part of the target aligned.

The test scene ENCODES its labels in the image: every region (stuff class or thing instance)
is painted in its own colour, far from the others. After a transform, decoding the image pixel
by pixel (nearest colour) must give back the transformed target. Interpolation blends colours
only where regions meet, so a pixel may disagree only on a label boundary: when the transformed
target holds another region (or the outside) within ``radius`` pixels (Chebyshev distance) of it,
or the pixel lies within ``radius`` of the image edge.
``radius`` is 1 for transforms at the same scale and 2 for those that also resize.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as nnf
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from segedu.data import (
    BoxesFromMasks,
    ElasticDeformation,
    SampleError,
    eval_transforms,
    make_target,
    train_transforms,
    validate_sample,
)
from segedu.data.transforms import (
    IgnoreOutside,
    SanitizeBoxes,
    ValidateSample,
    clamp_displacement,
    elastic_warp,
    sample_coarse_displacement,
    to_torchvision_displacement,
    upsample_displacement,
)

H, W = 48, 64  # not square, so that a swapped H and W shows
THINGS = (3, 4)
# region code -> (semantic class, instance id); the colour of each region in the image
REGIONS = {
    0: (1, 0),  # ground (stuff)
    1: (2, 0),  # sky (stuff)
    2: (3, 1),  # disc A (thing)
    3: (4, 2),  # rectangle B (thing), touches disc A
    4: (3, 3),  # disc C (thing), cut by the right border
}
COLOURS = torch.tensor(
    [
        [0.25, 0.75, 0.25],
        [0.25, 0.25, 0.75],
        [0.75, 0.25, 0.25],
        [0.75, 0.75, 0.25],
        [0.75, 0.25, 0.75],
        [0.0, 0.0, 0.0],  # OUTSIDE: what a rotation fills the image with
    ]
)
OUTSIDE = 5
IGNORE = 255


def encoded_scene() -> tuple[tv_tensors.Image, dict]:
    """The test sample: image colours encode (semantic, instance) exactly."""
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    code = torch.where(yy < 16, 1, 0)
    code[(yy - 30) ** 2 + (xx - 20) ** 2 < 81] = 2
    code[(yy >= 22) & (yy < 40) & (xx >= 28) & (xx < 46)] = 3
    code[(yy - 10) ** 2 + (xx - 61) ** 2 < 49] = 4
    semantic = torch.tensor([REGIONS[c][0] for c in range(5)])[code]
    instances = torch.tensor([REGIONS[c][1] for c in range(5)])[code]
    masks = torch.stack([instances == i for i in (1, 2, 3)])
    panoptic = torch.stack([semantic, instances])
    target = make_target(
        canvas_size=(H, W),
        semantic=semantic,
        masks=masks,
        labels=[3, 4, 3],
        iscrowd=[False, False, False],
        panoptic=panoptic,
        instances=instances,
    )
    image = tv_tensors.Image(COLOURS[code].permute(2, 0, 1).contiguous())
    return image, target


def decode_image(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) image -> (H, W) region code of the nearest colour (OUTSIDE included)."""
    distance = (image.permute(1, 2, 0)[:, :, None, :] - COLOURS).abs().sum(-1)
    return distance.argmin(-1)


def target_codes(target: dict) -> torch.Tensor:
    """(H, W) region code from the target's semantic map and instance map."""
    semantic, instances = target["semantic"], target["instances"]
    code = torch.full(semantic.shape, -1)
    for c, (cls, inst) in REGIONS.items():
        code[(semantic == cls) & (instances == inst)] = c
    code[(semantic == IGNORE) & (instances == 0)] = OUTSIDE
    assert (code >= 0).all(), "the target holds a (semantic, instance) pair the scene never had"
    return code


def pixel_edge_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The sample format's boxes of non-empty masks: x2, y2 one past torchvision's, which are the
    last pixel's index."""
    return masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])


def boundary(code: torch.Tensor, radius: int) -> torch.Tensor:
    """(H, W) bool: pixels with another code within ``radius`` pixels (Chebyshev), the world
    beyond the image edge counting as another code (interpolation there may reach outside)."""
    x = nnf.pad(code[None, None].float(), (radius,) * 4, value=-1.0)
    size = 2 * radius + 1
    high = nnf.max_pool2d(x, size, stride=1)
    low = -nnf.max_pool2d(-x, size, stride=1)
    return (high != low)[0, 0]


def assert_target_consistent(target: dict) -> None:
    """semantic, instances, panoptic, masks, labels and boxes describe the same scene."""
    semantic, instances, panoptic = target["semantic"], target["instances"], target["panoptic"]
    masks, labels = target["masks"], target["labels"]
    # panoptic = (category, instance id); category 255 (void) exactly where semantic is ignore
    assert torch.equal(panoptic[1], instances)
    assert torch.equal(panoptic[0] == IGNORE, semantic == IGNORE)
    inside = semantic != IGNORE
    assert torch.equal(panoptic[0][inside], semantic[inside])
    # one non-empty mask per instance id present, in the instance map, with its class as label
    ids = [int(i) for i in instances.unique() if i != 0]
    assert len(masks) == len(labels) == len(target["iscrowd"]) == len(ids)
    assert torch.equal(masks.any(0), instances != 0)
    for mask, label in zip(masks, labels, strict=True):
        assert mask.any()
        assert len(instances[mask].unique()) == 1
        assert (semantic[mask] == label).all()
    # boxes: the tight boxes of the masks, within a pixel
    assert torch.allclose(target["boxes"], pixel_edge_boxes(masks), atol=1.0)


def assert_aligned(image: torch.Tensor, target: dict, *, radius: int) -> None:
    """Decoded image == target away from label boundaries; target internally consistent."""
    expected = target_codes(target)
    decoded = decode_image(image)
    interior = ~boundary(expected, radius)
    assert interior.float().mean() > 0.4, "too few interior pixels for a meaningful check"
    wrong = interior & (decoded != expected)
    assert not wrong.any(), (
        f"{int(wrong.sum())} interior pixels disagree, first at {wrong.nonzero()[0].tolist()}"
    )
    assert_target_consistent(target)


def run(transform, seed: int):
    image, target = encoded_scene()
    torch.manual_seed(seed)
    return transform(image, target)


SEEDS = [0, 1, 2]

# (name, transform, radius, tight boxes expected straight from the transform)
SINGLE = [
    ("hflip", v2.RandomHorizontalFlip(p=1.0), 1, True),
    ("resized_crop", v2.RandomResizedCrop((40, 56), scale=(0.3, 1.0), antialias=True), 1, True),
    (
        "rotation",
        IgnoreOutside(
            transform=v2.RandomRotation(
                degrees=30,
                interpolation=v2.InterpolationMode.BILINEAR,
                fill={tv_tensors.Image: 0.0, tv_tensors.Mask: 0},
            )
        ),
        1,
        False,
    ),
    ("elastic", ElasticDeformation(sigma=6.0), 1, False),
    ("elastic_unet", ElasticDeformation(), 1, False),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("name", "transform", "radius", "tight"), SINGLE, ids=[s[0] for s in SINGLE]
)
def test_single_transform_keeps_image_and_target_aligned(name, transform, radius, tight, seed):
    image, target = run(transform, seed)
    if tight:
        # torchvision moves the boxes itself; they must stay the tight boxes of the moved masks
        nonempty = target["masks"].flatten(1).any(1)
        assert torch.allclose(
            target["boxes"][nonempty], pixel_edge_boxes(target["masks"][nonempty]), atol=1.0
        )
    # rotated and deformed boxes are only approximations: BoxesFromMasks makes them tight
    image, target = BoxesFromMasks()(image, target)
    assert_aligned(image, target, radius=radius)
    validate_sample(image, target)


def test_the_alignment_check_catches_a_misaligned_mask():
    """The check above can fail: shifting the target by 2 pixels against the image is caught."""
    image, target = encoded_scene()
    shifted = {key: value for key, value in target.items()}
    for key in ("semantic", "instances"):
        shifted[key] = tv_tensors.wrap(torch.roll(target[key], shifts=2, dims=-1), like=target[key])
    with pytest.raises(AssertionError, match="interior pixels disagree"):
        assert_aligned(image, shifted, radius=1)


@pytest.mark.parametrize("seed", SEEDS)
def test_train_pipeline_keeps_image_and_target_aligned(seed):
    t = train_transforms(
        size=(40, 56), rotate=20.0, color_jitter=None, elastic=ElasticDeformation(sigma=4.0)
    )
    image, target = run(t, seed)
    assert image.shape == (3, 40, 56)
    assert_aligned(image, target, radius=2)
    validate_sample(image, target)


@pytest.mark.parametrize("seed", SEEDS)
def test_eval_pipeline_keeps_image_and_target_aligned(seed):
    image, target = run(eval_transforms(size=(36, 48)), seed)
    assert image.shape == (3, 36, 48)
    assert_aligned(image, target, radius=2)
    # evaluation is deterministic
    image2, target2 = run(eval_transforms(size=(36, 48)), seed + 10)
    assert torch.equal(image, image2) and torch.equal(target["masks"], target2["masks"])


@pytest.mark.parametrize("seed", SEEDS)
def test_train_pipeline_with_colour_jitter_and_elastic_gives_a_consistent_target(seed):
    image, target = run(train_transforms(size=32, elastic=True), seed)
    assert image.shape == (3, 32, 32)
    assert image.min() >= 0 and image.max() <= 1
    assert_target_consistent(target)
    validate_sample(image, target)


def test_colour_jitter_changes_the_image_only():
    image, target = encoded_scene()
    torch.manual_seed(0)
    jitter = v2.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2)
    jittered, new_target = jitter(image, target)
    assert not torch.allclose(jittered, image)
    assert new_target.keys() == target.keys()
    for key in target:
        assert torch.equal(new_target[key], target[key]), key


def test_rotation_fills_semantic_with_ignore_and_masks_with_zero():
    rotate = v2.RandomRotation(degrees=(45, 45), fill={tv_tensors.Image: 0.0, tv_tensors.Mask: 0})
    image, target = encoded_scene()
    _, plain = rotate(image, target)
    rotated_image, filled = IgnoreOutside(transform=rotate)(image, target)
    corner = (0, 0)  # a 45 degree rotation uncovers the corners
    # without IgnoreOutside the uncovered corner would claim class 0 ...
    assert plain["semantic"][corner] == 0
    # ... with it, it is ignored, while everything else is the same
    assert filled["semantic"][corner] == IGNORE
    assert (rotated_image[:, 0, 0] == 0).all()
    assert filled["instances"][corner] == 0
    # the panoptic category is void too (not class 0, which would be a real class: sky in the
    # synthetic scenes); the instance id is 0
    assert plain["panoptic"][0, 0, 0] == 0
    assert filled["panoptic"][0, 0, 0] == IGNORE and filled["panoptic"][1, 0, 0] == 0
    assert not filled["masks"][:, 0, 0].any()
    inside = filled["semantic"] != IGNORE
    assert inside.float().mean() > 0.5
    assert torch.equal(filled["semantic"][inside], plain["semantic"][inside])
    assert (plain["semantic"][~inside] == 0).all()


def test_ignore_outside_keeps_existing_ignore_and_rejects_negative_labels():
    image, target = encoded_scene()
    target["semantic"][:4] = IGNORE
    _, out = IgnoreOutside(transform=v2.RandomHorizontalFlip(p=1.0))(image, target)
    assert (out["semantic"][:4] == IGNORE).all()
    assert torch.equal(out["semantic"], target["semantic"].flip(-1))
    target["semantic"][0, 0] = -1
    with pytest.raises(SampleError, match="semantic.*negative"):
        IgnoreOutside(transform=v2.RandomHorizontalFlip(p=1.0))(image, target)


# --- elastic deformation -------------------------------------------------------------------


def random_field(seed: int, sigma: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = sample_coarse_displacement(grid=4, sigma=sigma, generator=generator)
    return upsample_displacement(coarse, size=(H, W))


# sigma 40: many sampling positions fall outside the image and are clamped
@pytest.mark.parametrize("sigma", [2.0, 10.0, 40.0])
def test_elastic_warp_equals_torchvision_elastic(sigma):
    image, target = encoded_scene()
    noisy = tv_tensors.Image(torch.rand(3, H, W, generator=torch.Generator().manual_seed(1)))
    field = clamp_displacement(random_field(0, sigma))
    theirs = to_torchvision_displacement(field)
    assert theirs.shape == (1, H, W, 2)
    # image: bilinear, same values up to float rounding
    torch.testing.assert_close(
        elastic_warp(noisy, field), F.elastic(noisy, theirs), atol=1e-5, rtol=0
    )
    # masks of every dtype: nearest, identical
    for key in ("semantic", "masks", "panoptic", "instances"):
        mine = elastic_warp(target[key], field, interpolation="nearest")
        assert mine.dtype == target[key].dtype
        assert torch.equal(mine, F.elastic(target[key], theirs)), key


def test_elastic_warp_moves_pixels_by_the_displacement():
    """A constant field (dx, dy) = (3, -2): output(y, x) = input(y - 2, x + 3) inside the image."""
    image = torch.rand(1, H, W)
    field = torch.zeros(H, W, 2)
    field[..., 0], field[..., 1] = 3.0, -2.0
    out = elastic_warp(image, field)
    torch.testing.assert_close(out[:, 2:, : W - 3], image[:, : H - 2, 3:])
    # positions outside the image are clamped: the border is repeated, nothing is filled
    torch.testing.assert_close(out[:, 0], out[:, 2])
    torch.testing.assert_close(out[:, :, -1], out[:, :, W - 3])


def test_elastic_field_has_the_requested_statistics():
    transform = ElasticDeformation(grid=3, sigma=10.0)
    # lattice points at y = 0, 16, 32 and x = 0, 32, 64
    image = tv_tensors.Image(torch.zeros(3, 33, 65))
    torch.manual_seed(0)
    coarse = []
    for _ in range(1000):
        params = transform.make_params([image])
        dense = upsample_displacement(params["coarse"], size=(33, 65))
        # the field passes through the lattice vectors and is then clamped to the image
        torch.testing.assert_close(dense[::16, ::32], params["coarse"])
        torch.testing.assert_close(params["displacement"], clamp_displacement(dense))
        coarse.append(params["coarse"])
    values = torch.stack(coarse)
    assert values.shape == (1000, 3, 3, 2)
    # 18 000 independent N(0, 10^2) draws: std within 3 %, mean within 0.5 px
    assert abs(values.std().item() - 10.0) < 0.3
    assert abs(values.mean().item()) < 0.5
    # dx and dy are uncorrelated
    correlation = torch.corrcoef(values.reshape(-1, 2).T)[0, 1]
    assert abs(correlation) < 0.05


def test_bicubic_upsampling_is_smooth_between_lattice_points():
    coarse = torch.zeros(3, 3, 2)
    coarse[1, 1] = torch.tensor([10.0, -10.0])  # a single bump in the middle
    dense = upsample_displacement(coarse, size=(33, 33))
    assert dense.shape == (33, 33, 2)
    torch.testing.assert_close(dense[16, 16], torch.tensor([10.0, -10.0]))
    # half-way between lattice points, cubic convolution (Keys, a = -0.75, PyTorch's bicubic)
    # weighs the four neighbours 0, 0, 10, 0 by -3/32, 19/32, 19/32, -3/32: 5.9375, where
    # bilinear interpolation would give 5
    torch.testing.assert_close(dense[16, 8, 0], torch.tensor(10.0 * 19 / 32))
    # along the middle row, dx rises monotonically from the border to the centre
    assert (dense[16, 1:17, 0].diff() > 0).all()
    assert (dense[16, 16:, 0].diff() < 0).all()


def test_elastic_deformation_is_deterministic_under_manual_seed():
    transform = ElasticDeformation(sigma=5.0)
    first = run(transform, seed=7)
    again = run(transform, seed=7)
    other = run(transform, seed=8)
    assert torch.equal(first[0], again[0])
    for key in ("semantic", "masks", "panoptic", "instances"):
        assert torch.equal(first[1][key], again[1][key])
    assert not torch.equal(first[0], other[0])


def test_elastic_deformation_warps_a_plain_tensor_image_like_an_image():
    """transforms.v2 treats a lone plain tensor as the image: it is warped, bilinearly."""
    image, _ = encoded_scene()
    torch.manual_seed(3)
    wrapped = ElasticDeformation(sigma=5.0)(image)
    torch.manual_seed(3)
    plain = ElasticDeformation(sigma=5.0)(image.as_subclass(torch.Tensor))
    assert type(plain) is torch.Tensor
    assert torch.equal(plain, wrapped.as_subclass(torch.Tensor))
    assert not torch.equal(plain, image.as_subclass(torch.Tensor))


def test_elastic_deformation_with_p_zero_is_the_identity():
    image, target = encoded_scene()
    out_image, out_target = ElasticDeformation(p=0.0)(image, target)
    assert torch.equal(out_image, image) and torch.equal(out_target["masks"], target["masks"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"grid": 1}, "grid"), ({"sigma": -1.0}, "sigma"), ({"p": 1.5}, "p must")],
)
def test_elastic_deformation_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ElasticDeformation(**kwargs)


def test_elastic_warp_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="displacement must have shape"):
        elastic_warp(torch.zeros(3, H, W), torch.zeros(H, W))
    with pytest.raises(ValueError, match="inpt must have shape"):
        elastic_warp(torch.zeros(3, H, W + 1), torch.zeros(H, W, 2))


# --- boxes ---------------------------------------------------------------------------------


def test_boxes_from_masks_drops_empty_instances_with_their_labels():
    image, target = encoded_scene()
    # crop away the disc at the right border (instance 3): its mask becomes empty
    cropped_image = F.crop(image, 20, 0, 28, 40)
    cropped = {
        key: F.crop(value, 20, 0, 28, 40) if isinstance(value, tv_tensors.TVTensor) else value
        for key, value in target.items()
    }
    assert not cropped["masks"][2].any()
    _, fixed = BoxesFromMasks()(cropped_image, cropped)
    assert fixed["masks"].shape == (2, 28, 40)
    assert fixed["labels"].tolist() == [3, 4] and fixed["iscrowd"].tolist() == [False, False]
    assert isinstance(fixed["boxes"], tv_tensors.BoundingBoxes)
    assert fixed["boxes"].canvas_size == (28, 40)
    assert torch.equal(fixed["boxes"], pixel_edge_boxes(fixed["masks"]))
    # the dense maps are not per-instance entries: untouched
    assert torch.equal(fixed["panoptic"], cropped["panoptic"])
    # a hand-checked box: disc A, centre (30, 20), r^2 < 81 -> rows 22..38 (2..18 after the crop),
    # columns 12..28 of which column 28 is covered by rectangle B -> columns 12..27
    assert fixed["boxes"][0].tolist() == [12.0, 2.0, 28.0, 19.0]
    validate_sample(cropped_image, fixed)


@pytest.mark.parametrize("n", [2, 6])  # 2 = panoptic channels, 6 = image height
def test_sanitize_boxes_drops_by_key_not_by_shape(n):
    height, width = 6, 8
    masks = torch.zeros(n, height, width, dtype=torch.bool)
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0]] * n)
    boxes[1] = torch.tensor([2.0, 2.0, 2.5, 5.0])  # 0.5 px wide: dropped
    target = {
        "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)),
        "labels": torch.arange(n),
        "iscrowd": torch.zeros(n, dtype=torch.bool),
        "masks": tv_tensors.Mask(masks),
        "semantic": tv_tensors.Mask(torch.ones(height, width, dtype=torch.int64)),
        "panoptic": tv_tensors.Mask(torch.ones(2, height, width, dtype=torch.int64)),
    }
    out = SanitizeBoxes()(target)
    assert out["labels"].tolist() == [i for i in range(n) if i != 1]
    assert out["boxes"].shape == (n - 1, 4) and out["masks"].shape == (n - 1, height, width)
    assert out["iscrowd"].shape == (n - 1,)
    assert out["semantic"].shape == (height, width) and out["panoptic"].shape == (2, height, width)


def test_sanitize_boxes_clamps_to_the_image():
    boxes = tv_tensors.BoundingBoxes(
        torch.tensor([[-3.0, 2.0, 5.0, 9.0], [7.0, 0.0, 12.0, 3.0]]),
        format="XYXY",
        canvas_size=(6, 8),
    )
    out = SanitizeBoxes()({"boxes": boxes, "labels": torch.tensor([1, 2])})
    assert out["boxes"].tolist() == [[0.0, 2.0, 5.0, 6.0], [7.0, 0.0, 8.0, 3.0]]
    assert out["labels"].tolist() == [1, 2]


# --- bad input -----------------------------------------------------------------------------


def corrupt(key: str, value) -> tuple:
    image, target = encoded_scene()
    target[key] = value
    return image, target


@pytest.mark.parametrize(
    ("sample", "match"),
    [
        (
            lambda: corrupt("masks", torch.zeros(3, H, W, dtype=torch.bool)),
            r"target\['masks'\] must be a tv_tensors.Mask",
        ),
        (
            lambda: corrupt("semantic", torch.zeros(H, W, dtype=torch.int64)),
            r"target\['semantic'\] must be a tv_tensors.Mask",
        ),
        (
            lambda: corrupt("masks", tv_tensors.Mask(torch.zeros(3, H, W + 1, dtype=torch.bool))),
            r"target\['masks'\].*shape",
        ),
        (
            lambda: corrupt("panoptic", tv_tensors.Mask(torch.zeros(H, W, dtype=torch.int64))),
            r"target\['panoptic'\].*shape",
        ),
        (
            lambda: corrupt("boxes", torch.zeros(3, 4)),
            r"target\['boxes'\] must be tv_tensors.BoundingBoxes",
        ),
        (lambda: (torch.zeros(3, H, W), encoded_scene()[1]), "image must be a tv_tensors.Image"),
        (lambda: encoded_scene()[1], r"\(image, target\)"),
    ],
    ids=[
        "masks-plain",
        "semantic-plain",
        "masks-shape",
        "panoptic-shape",
        "boxes-plain",
        "image-plain",
        "no-image",
    ],
)
@pytest.mark.parametrize("pipeline", ["train", "eval"])
def test_pipelines_reject_bad_samples_naming_the_entry(sample, match, pipeline):
    t = train_transforms(size=32) if pipeline == "train" else eval_transforms(size=32)
    bad = sample()
    with pytest.raises(SampleError, match=match):
        t(*bad) if isinstance(bad, tuple) else t(bad)


def test_boxes_from_masks_rejects_plain_masks():
    image, target = corrupt("masks", torch.zeros(3, H, W, dtype=torch.bool))
    with pytest.raises(SampleError, match=r"target\['masks'\] must be a tv_tensors.Mask"):
        BoxesFromMasks()(image, target)
    with pytest.raises(SampleError, match=r"target\['labels'\] has 3 entries but there are 2"):
        image, target = encoded_scene()
        target["masks"] = tv_tensors.Mask(target["masks"][:2])
        BoxesFromMasks()(image, target)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 0}, ValueError, "size"),
        ({"size": (32, 32, 3)}, ValueError, "size"),
        ({"size": 32, "scale": (0.8, 0.5)}, ValueError, "scale"),
        ({"size": 32, "hflip": 2.0}, ValueError, "hflip"),
        ({"size": 32, "rotate": -5.0}, ValueError, "rotate"),
        ({"size": 32, "color_jitter": (0.1, 0.1)}, ValueError, "color_jitter"),
        ({"size": 32, "elastic": "yes"}, TypeError, "elastic"),
    ],
)
def test_train_transforms_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        train_transforms(**kwargs)


def test_validate_sample_transform_passes_a_good_sample_through():
    image, target = encoded_scene()
    out_image, out_target = ValidateSample()(image, target)
    assert out_image is image and out_target is target
