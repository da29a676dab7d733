"""Tiny datasets written in the real on-disk formats, for testing the loaders without downloads.

Each ``write_*`` function paints a few 24x32 images with known rectangles and returns what a
correct loader must produce, derived from the painting itself (which pixels got which class or
instance), never from the loader's code. Photographs are solid colours so that the tests can tell
which file was read despite JPEG compression.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

H, W = 24, 32


# --------------------------------------------------------------------------- file writers


def save_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (H, W)) -> None:
    """A solid-colour JPEG of ``size = (H, W)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), color, dtype=np.uint8)).save(path, quality=95)


def save_png(path: Path, array: np.ndarray, mode: str | None = None,
             palette: list[int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode=mode)
    if palette is not None:
        image.putpalette(palette)
    image.save(path)


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (bits of the index spread over R, G, B), 256 x 3 values."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def save_palette_png(path: Path, indices: np.ndarray) -> None:
    """A VOC-style palette PNG whose pixel values are ``indices``."""
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette(voc_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def rect(r0: int, r1: int, c0: int, c1: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """Boolean mask of rows ``r0:r1`` and columns ``c0:c1``."""
    mask = np.zeros(size, dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, starting with zeros."""
    counts, current, run = [], 0, 0
    for value in mask.T.reshape(-1).astype(int):
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


# --------------------------------------------------------------------------- PASCAL VOC


def write_voc(root: Path) -> dict[str, dict]:
    """``root/VOCdevkit/VOC2012`` with train = [000001, 000002], val = [000003]."""
    voc = root / "VOCdevkit" / "VOC2012"
    expected = {}

    # 000001: a person (15) and a cat (8), a void band along the person's bottom and right edge
    person, cat = rect(4, 12, 5, 15), rect(14, 22, 18, 30)
    void = rect(12, 13, 5, 16) | rect(4, 13, 15, 16)
    classes = np.zeros((H, W), np.uint8)
    classes[person], classes[cat], classes[void] = 15, 8, 255
    objects = np.zeros((H, W), np.uint8)
    objects[person], objects[cat], objects[void] = 1, 2, 255
    save_jpeg(voc / "JPEGImages" / "2007_000001.jpg", (200, 40, 60))
    save_palette_png(voc / "SegmentationClass" / "2007_000001.png", classes)
    save_palette_png(voc / "SegmentationObject" / "2007_000001.png", objects)
    expected["2007_000001"] = {
        "color": (200, 40, 60),
        "semantic": classes.astype(np.int64),
        "masks": np.stack([person, cat]),
        "labels": [15, 8],
        "boxes": [[5, 4, 15, 12], [18, 14, 30, 22]],
    }

    # 000002: an aeroplane (1), no SegmentationObject file
    plane = rect(2, 10, 2, 10)
    classes = np.zeros((H, W), np.uint8)
    classes[plane] = 1
    save_jpeg(voc / "JPEGImages" / "2007_000002.jpg", (30, 160, 90))
    save_palette_png(voc / "SegmentationClass" / "2007_000002.png", classes)
    expected["2007_000002"] = {"color": (30, 160, 90), "semantic": classes.astype(np.int64)}

    # 000003 (val): a tvmonitor (20)
    classes = np.zeros((H, W), np.uint8)
    classes[rect(0, 6, 0, 6)] = 20
    save_jpeg(voc / "JPEGImages" / "2007_000003.jpg", (10, 20, 220))
    save_palette_png(voc / "SegmentationClass" / "2007_000003.png", classes)
    save_palette_png(voc / "SegmentationObject" / "2007_000003.png", np.where(classes > 0, 1, 0))
    expected["2007_000003"] = {"color": (10, 20, 220), "semantic": classes.astype(np.int64)}

    splits = voc / "ImageSets" / "Segmentation"
    splits.mkdir(parents=True)
    (splits / "train.txt").write_text("2007_000001\n2007_000002\n")
    (splits / "val.txt").write_text("2007_000003\n")
    (splits / "trainval.txt").write_text("2007_000001\n2007_000002\n2007_000003\n")
    return expected


# --------------------------------------------------------------------------- COCO instances

COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
]


def write_coco_instances(root: Path) -> dict[int, dict]:
    """``root/val2017`` + ``root/annotations/instances_val2017.json``.

    Image 1: a polygon (person), a compressed-RLE dog, an uncompressed-RLE crowd of people.
    Image 2: no annotations. Image 3: a smaller image (16x20) with one polygon car.
    """
    person = rect(3, 10, 4, 12)  # the polygon's pixels: corners (4, 3) and (12, 10), exact area
    dog = rect(14, 20, 20, 28)
    crowd = rect(20, 24, 0, 10) | rect(16, 24, 0, 3)
    car = rect(2, 8, 5, 15, size=(16, 20))
    dog_rle = coco_mask.encode(np.asfortranarray(dog.astype(np.uint8)))
    annotations = [
        {"id": 10, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 56.0,
         "bbox": [4, 3, 8, 7], "segmentation": [[4, 3, 12, 3, 12, 10, 4, 10]]},
        {"id": 11, "image_id": 1, "category_id": 18, "iscrowd": 0, "area": 48.0,
         "bbox": [20, 14, 8, 6],
         "segmentation": {"counts": dog_rle["counts"].decode("ascii"), "size": [H, W]}},
        {"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": float(crowd.sum()),
         "bbox": [0, 16, 10, 8], "segmentation": uncompressed_rle(crowd)},
        {"id": 30, "image_id": 3, "category_id": 3, "iscrowd": 0, "area": 60.0,
         "bbox": [5, 2, 10, 6], "segmentation": [[5, 2, 15, 2, 15, 8, 5, 8]]},
    ]  # fmt: skip
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "height": H, "width": W},
        {"id": 2, "file_name": "000000000002.jpg", "height": H, "width": W},
        {"id": 3, "file_name": "000000000003.jpg", "height": 16, "width": 20},
    ]
    save_jpeg(root / "val2017" / "000000000001.jpg", (250, 250, 0))
    save_jpeg(root / "val2017" / "000000000002.jpg", (0, 250, 250))
    save_jpeg(root / "val2017" / "000000000003.jpg", (250, 0, 250), size=(16, 20))
    ann_file = root / "annotations" / "instances_val2017.json"
    ann_file.parent.mkdir(parents=True)
    ann_file.write_text(json.dumps({"images": images, "annotations": annotations,
                                    "categories": COCO_CATEGORIES}))
    return {
        1: {"color": (250, 250, 0), "masks": np.stack([person, dog, crowd]), "labels": [1, 18, 1],
            "contiguous": [1, 3, 1], "iscrowd": [False, False, True],
            "boxes": [[4, 3, 12, 10], [20, 14, 28, 20], [0, 16, 10, 24]]},
        2: {"color": (0, 250, 250), "masks": np.zeros((0, H, W), bool), "labels": [],
            "contiguous": [],
            "iscrowd": [], "boxes": []},
        3: {"color": (250, 0, 250), "masks": car[None], "labels": [3], "contiguous": [2],
            "iscrowd": [False],
            "boxes": [[5, 2, 15, 8]]},
    }  # fmt: skip


# --------------------------------------------------------------------------- COCO panoptic

PANOPTIC_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 3, "name": "car", "supercategory": "vehicle", "isthing": 1, "color": [0, 0, 142]},
    {"id": 184, "name": "tree-merged", "supercategory": "plant", "isthing": 0,
     "color": [107, 142, 35]},
    {"id": 187, "name": "sky-other-merged", "supercategory": "sky", "isthing": 0,
     "color": [70, 130, 180]},
]


def id_to_rgb(segment_ids: np.ndarray) -> np.ndarray:
    """Segment ids ``(H, W)`` -> the panoptic PNG colours (R, G, B) = id's base-256 digits."""
    digits = [segment_ids % 256, segment_ids // 256 % 256, segment_ids // 256**2]
    return np.stack(digits, axis=-1).astype(np.uint8)


def write_coco_panoptic(root: Path) -> dict[int, dict]:
    """``root/val2017``, ``root/annotations/panoptic_val2017.json`` and its PNG folder.

    Image 1: sky and tree (stuff), two people and a crowd of cars (things), void elsewhere.
    Image 2: only sky and void.
    """
    sky = rect(0, 8, 0, 32) & ~rect(2, 6, 26, 32)
    tree = rect(8, 24, 0, 8)
    person_a, person_b = rect(10, 20, 10, 16), rect(12, 22, 20, 26)
    cars = rect(2, 6, 26, 32)
    layers = [(1000, sky, 187), (70000, tree, 184), (3001, person_a, 1), (3002, person_b, 1),
              (5000, cars, 3)]
    ids = np.zeros((H, W), np.int64)
    category = np.zeros((H, W), np.int64)
    for segment_id, region, category_id in layers:
        ids[region], category[region] = segment_id, category_id
    instance = np.zeros((H, W), np.int64)
    instance[person_a], instance[person_b], instance[cars] = 1, 2, 3
    segments_1 = [
        {"id": 1000, "category_id": 187, "iscrowd": 0, "bbox": [0, 0, 32, 8],
         "area": int(sky.sum())},
        {"id": 70000, "category_id": 184, "iscrowd": 0, "bbox": [0, 8, 8, 16],
         "area": int(tree.sum())},
        {"id": 3001, "category_id": 1, "iscrowd": 0, "bbox": [10, 10, 6, 10], "area": 60},
        {"id": 3002, "category_id": 1, "iscrowd": 0, "bbox": [20, 12, 6, 10], "area": 60},
        {"id": 5000, "category_id": 3, "iscrowd": 1, "bbox": [26, 2, 6, 4], "area": 24},
    ]
    sky_2 = rect(0, 12, 0, 32)
    ids_2 = np.where(sky_2, 1000, 0)
    png_dir = root / "annotations" / "panoptic_val2017"
    save_png(png_dir / "000000000001.png", id_to_rgb(ids))
    save_png(png_dir / "000000000002.png", id_to_rgb(ids_2))
    save_jpeg(root / "val2017" / "000000000001.jpg", (120, 200, 40))
    save_jpeg(root / "val2017" / "000000000002.jpg", (40, 40, 40))
    data = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg", "height": H, "width": W},
            {"id": 2, "file_name": "000000000002.jpg", "height": H, "width": W},
        ],
        "annotations": [
            {"image_id": 2, "file_name": "000000000002.png",
             "segments_info": [{"id": 1000, "category_id": 187, "iscrowd": 0,
                                "bbox": [0, 0, 32, 12], "area": 384}]},
            {"image_id": 1, "file_name": "000000000001.png", "segments_info": segments_1},
        ],
        "categories": PANOPTIC_CATEGORIES,
    }  # fmt: skip
    (root / "annotations" / "panoptic_val2017.json").write_text(json.dumps(data))
    return {
        1: {"color": (120, 200, 40), "category": category, "instance": instance,
            "masks": np.stack([person_a, person_b, cars]), "labels": [1, 1, 3],
            "iscrowd": [False, False, True],
            "boxes": [[10, 10, 16, 20], [20, 12, 26, 22], [26, 2, 32, 6]]},
        2: {"color": (40, 40, 40), "category": np.where(sky_2, 187, 0),
            "instance": np.zeros((H, W), np.int64),
            "masks": np.zeros((0, H, W), bool), "labels": [], "iscrowd": [], "boxes": []},
    }  # fmt: skip


# --------------------------------------------------------------------------- Cityscapes


def _cityscapes_pair(root: Path, split: str, city: str, stem: str, color, label_ids,
                     instance_ids=None) -> None:
    Image.fromarray(np.full((H, W, 3), color, np.uint8)).save(
        _mkdir(root / "leftImg8bit" / split / city) / f"{stem}_leftImg8bit.png"
    )
    gt = _mkdir(root / "gtFine" / split / city)
    save_png(gt / f"{stem}_gtFine_labelIds.png", label_ids.astype(np.uint8))
    if instance_ids is not None:
        save_png(gt / f"{stem}_gtFine_instanceIds.png", instance_ids.astype(np.uint16))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_cityscapes(root: Path) -> dict[str, dict]:
    """train: aachen (with instanceIds) and bochum (labelIds only); val: frankfurt."""
    sky, building, road = rect(0, 6, 0, 32), rect(6, 12, 0, 32), rect(12, 24, 0, 32)
    car_a, car_b = rect(14, 20, 2, 10), rect(14, 20, 12, 18)
    person = rect(8, 20, 22, 26)
    car_group = rect(20, 23, 26, 31)  # a crowd of cars: label 26, no instance
    ego = rect(23, 24, 0, 32)  # ego vehicle: label 1, ignored
    caravan = rect(2, 4, 0, 4)  # caravan: has instances but is not evaluated (train id 255)
    label_ids = np.zeros((H, W), np.int64)
    train_ids = np.full((H, W), 255, np.int64)
    instance_ids = np.zeros((H, W), np.int64)
    for region, label_id, train_id, instance_id in [
        (sky, 23, 10, 23), (building, 11, 2, 11), (road, 7, 0, 7), (car_a, 26, 13, 26000),
        (car_b, 26, 13, 26001), (person, 24, 11, 24000), (car_group, 26, 13, 26), (ego, 1, 255, 1),
        (caravan, 29, 255, 29000),
    ]:  # fmt: skip
        label_ids[region], train_ids[region], instance_ids[region] = label_id, train_id, instance_id
    _cityscapes_pair(root, "train", "aachen", "aachen_000000_000019", (90, 90, 90), label_ids,
                     instance_ids)

    label_ids_2 = np.where(rect(0, 12, 0, 32), 21, 8)  # vegetation over sidewalk
    _cityscapes_pair(root, "train", "bochum", "bochum_000000_000313", (0, 120, 0), label_ids_2)
    label_ids_3 = np.where(rect(0, 12, 0, 32), 22, 9)  # terrain over parking (255)
    _cityscapes_pair(root, "val", "frankfurt", "frankfurt_000000_000294", (0, 0, 200), label_ids_3)
    instances = np.zeros((H, W), np.int64)
    instances[person], instances[car_a], instances[car_b] = 1, 2, 3  # sorted by instance id value
    return {
        "aachen_000000_000019": {"color": (90, 90, 90), "semantic": train_ids,
                                 "masks": np.stack([person, car_a, car_b]), "labels": [11, 13, 13],
                                 "instances": instances,
                                 "boxes": [[22, 8, 26, 20], [2, 14, 10, 20], [12, 14, 18, 20]]},
        "bochum_000000_000313": {"color": (0, 120, 0),
                                 "semantic": np.where(rect(0, 12, 0, 32), 8, 1)},
        "frankfurt_000000_000294": {"color": (0, 0, 200),
                                    "semantic": np.where(rect(0, 12, 0, 32), 9, 255)},
    }  # fmt: skip


# --------------------------------------------------------------------------- ADE20K


def write_ade20k(root: Path) -> dict[str, dict]:
    """``root/ADEChallengeData2016`` with two training images and one validation image."""
    base = root / "ADEChallengeData2016"
    values = np.zeros((H, W), np.uint8)  # rows 0:4 stay 0, "other"
    values[4:12] = 1  # wall
    values[12:20] = 3  # sky
    values[20:24, 0:8] = 150  # flag
    values[20:24, 8:32] = 21  # car
    expected_1 = values.astype(np.int64) - 1
    expected_1[values == 0] = 255
    save_jpeg(base / "images" / "training" / "ADE_train_00000001.jpg", (180, 100, 20))
    save_png(base / "annotations" / "training" / "ADE_train_00000001.png", values)

    values_2 = np.full((H, W), 13, np.uint8)  # person everywhere
    save_jpeg(base / "images" / "training" / "ADE_train_00000002.jpg", (20, 100, 180))
    save_png(base / "annotations" / "training" / "ADE_train_00000002.png", values_2)

    save_jpeg(base / "images" / "validation" / "ADE_val_00000001.jpg", (100, 100, 100))
    save_png(base / "annotations" / "validation" / "ADE_val_00000001.png",
             np.full((H, W), 5, np.uint8))
    # present in the real archive
    (base / "objectInfo150.txt").write_text("Idx\tRatio\tTrain\tVal\tName\n")
    return {
        "ADE_train_00000001": {"color": (180, 100, 20), "semantic": expected_1},
        "ADE_train_00000002": {"color": (20, 100, 180), "semantic": np.full((H, W), 12, np.int64)},
        "ADE_val_00000001": {"color": (100, 100, 100), "semantic": np.full((H, W), 4, np.int64)},
    }


# --------------------------------------------------------------------------- Oxford-IIIT Pet


def write_pets(root: Path) -> dict[str, dict]:
    """``root/oxford-iiit-pet`` with trainval = [Abyssinian_1, american_bulldog_10], test
    = [yorkshire_terrier_5]."""
    base = root / "oxford-iiit-pet"
    pet = rect(6, 18, 8, 24)
    border = rect(5, 19, 7, 25) & ~pet
    trimap = np.full((H, W), 2, np.uint8)
    trimap[pet], trimap[border] = 1, 3
    semantic = np.zeros((H, W), np.int64)
    semantic[pet], semantic[border] = 1, 255
    expected = {}
    for name, color, class_id in [
        ("Abyssinian_1", (230, 180, 120), 1),
        ("american_bulldog_10", (120, 90, 60), 2),
        ("yorkshire_terrier_5", (60, 60, 20), 37),
    ]:
        save_jpeg(base / "images" / f"{name}.jpg", color)
        save_png(base / "annotations" / "trimaps" / f"{name}.png", trimap)
        expected[name] = {"color": color, "semantic": semantic, "masks": pet[None],
                          "labels": [class_id - 1],
                          "boxes": [[8, 6, 24, 18]]}  # fmt: skip
    (base / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\namerican_bulldog_10 2 "
                                                       "2 1\n")
    (base / "annotations" / "test.txt").write_text("yorkshire_terrier_5 37 2 25\n")
    return expected


# --------------------------------------------------------------------------- fake checkpoints

RESNET34_MARK = 7.0
"""The running variance written into the fake ResNet-34's last batch norm (fresh ones hold 1)."""


def write_resnet34_checkpoint(cache: Path) -> Path:
    """torchvision's ResNet-34 with random weights, saved as ``cache/checkpoints/<file name of
    its ImageNet weights>``: where ``imagenet_state_dict("resnet34")`` finds it, no download.

    Its ``layer4[2].bn2.running_var`` is filled with :data:`RESNET34_MARK`, so that
    :func:`assert_started_from_resnet34_checkpoint` can tell an encoder that loaded this file.
    """
    import torch
    import torchvision

    checkpoints = cache / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    url = torchvision.models.ResNet34_Weights.IMAGENET1K_V1.url
    encoder = torchvision.models.resnet34()
    encoder.layer4[2].bn2.running_var.fill_(RESNET34_MARK)
    path = checkpoints / Path(url).name
    torch.save(encoder.state_dict(), path)
    return path


def assert_started_from_resnet34_checkpoint(encoder) -> None:
    """Assert that ``encoder`` (a segedu ResNet-34) loaded :func:`write_resnet34_checkpoint`'s
    file and then trained two steps at most: batch norm's momentum 0.1 moves the mark by a
    factor 0.9 a step towards batch variances, so it stays above 0.81 * mark - 0.2 * 1.5."""
    running_var = encoder.layer4[2].bn2.running_var
    assert float(running_var.min()) > 0.81 * RESNET34_MARK - 0.2 * 1.5, running_var
