"""COCO export: pycocotools reads back the instance files, the panoptic PNGs decode to
the targets."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy import ndimage as ndi

from segedu.data import SampleError, SyntheticCells, SyntheticScenes, make_target
from segedu.data.coco_export import export_coco_instances, export_coco_panoptic, mask_to_polygons

# pycocotools' own decode warns under numpy 2; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _np(t):
    return t.as_subclass(torch.Tensor).numpy()


def _box_of(mask):
    ys, xs = np.where(mask)
    return [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def _points(polygon):
    return sorted(zip(polygon[::2], polygon[1::2], strict=True))


def _rasterise(polygons, h, w):
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))).astype(bool)


class _Items(torch.utils.data.Dataset):
    """A dataset of given (image, target) items, with no class information."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.fixture(scope="module")
def scenes():
    return SyntheticScenes(size=(48, 64), length=6, seed=1, max_objects=10)


def _check_instances(path, dataset, indices, exact):
    coco = COCO(str(path))
    assert sorted(coco.getImgIds()) == sorted(i + 1 for i in indices)
    by_image = {}
    for ann in coco.loadAnns(coco.getAnnIds()):
        decoded = coco.annToMask(ann).astype(bool)
        # area and box must be those of the annotation as pycocotools decodes it
        assert ann["area"] == decoded.sum()
        assert ann["bbox"] == _box_of(decoded)
        assert ann["iscrowd"] == 0
        by_image.setdefault(ann["image_id"], []).append((ann, decoded))
    for index in indices:
        image, target = dataset[index]
        info = coco.loadImgs(index + 1)[0]
        png = np.asarray(Image.open(path.parent.parent / "train" / info["file_name"]))
        expected = (_np(image) * 255).round().astype(np.uint8)
        expected = expected[0] if expected.shape[0] == 1 else expected.transpose(1, 2, 0)
        assert np.array_equal(png, expected)
        masks, labels = _np(target["masks"]), target["labels"].tolist()
        anns = by_image.get(index + 1, [])
        assert len(anns) == len(masks)
        for (ann, decoded), mask, label in zip(anns, masks, labels, strict=True):
            assert ann["category_id"] == label + 1
            if exact:
                assert np.array_equal(decoded, mask)
            else:
                # polygons: the outline, exact but for holes (filled in COCO polygons)
                assert ((decoded | mask).sum()
                        and (decoded & mask).sum() / (decoded | mask).sum() > 0.8)
                assert not (mask & ~decoded).any()
                assert not (decoded & ~ndi.binary_fill_holes(mask)).any()
    return coco


def test_instances_rle_round_trip(tmp_path, scenes):
    path = export_coco_instances(scenes, tmp_path, encoding="rle")
    assert path == tmp_path / "annotations" / "instances_train.json"
    coco = _check_instances(path, scenes, range(len(scenes)), exact=True)
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert isinstance(ann["segmentation"]["counts"], str)
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == {
        4: "circle",
        5: "rectangle",
        6: "triangle",
    }
    assert len(coco.getAnnIds()) > 15


def test_instances_polygon_round_trip(tmp_path, scenes):
    path = export_coco_instances(scenes, tmp_path, encoding="polygon", indices=[4, 0, 2])
    coco = _check_instances(path, scenes, [4, 0, 2], exact=False)
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(ann["segmentation"], list)
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
    assert not (tmp_path / "train" / "000001.png").exists()


@pytest.mark.parametrize("encoding", ["rle", "polygon"])
def test_cells_export_grey_images_and_nucleus_category(tmp_path, encoding):
    cells = SyntheticCells(size=(40, 52), length=2, seed=0)
    path = export_coco_instances(cells, tmp_path, encoding=encoding)
    coco = _check_instances(path, cells, [0, 1], exact=encoding == "rle")
    assert coco.loadCats(coco.getCatIds()) == [{"id": 2, "name": "nucleus",
                                                "supercategory": "thing"}]


def test_polygons_of_simple_masks():
    mask = np.zeros((6, 7), dtype=bool)
    mask[1:4, 2:6] = True  # rows 1..3, columns 2..5: a 4 x 3 rectangle
    (polygon,) = mask_to_polygons(mask)
    # its outline, corners cut through the edge midpoints of the corner pixels
    assert _points(polygon) == [(2, 1.5), (2, 3.5), (2.5, 1), (2.5, 4), (5.5, 1), (5.5, 4),
                                (6, 1.5), (6, 3.5)]
    assert np.array_equal(_rasterise([polygon], 6, 7), mask)
    corner = np.zeros((3, 3), dtype=bool)
    corner[0, 0] = True  # one pixel in the corner: a diamond through its edge midpoints
    (polygon,) = mask_to_polygons(corner)
    assert _points(polygon) == [(0, 0.5), (0.5, 0), (0.5, 1), (1, 0.5)]
    assert np.array_equal(_rasterise([polygon], 3, 3), corner)
    ring = np.ones((5, 5), dtype=bool)
    ring[2, 2] = False  # a hole: COCO polygons fill it
    assert _rasterise(mask_to_polygons(ring), 5, 5).all()


def test_panoptic_png_decodes_to_the_targets(tmp_path, scenes):
    path = export_coco_panoptic(scenes, tmp_path, indices=[0, 3, 5])
    data = json.loads(path.read_text())
    cats = {c["id"]: c for c in data["categories"]}
    assert {k: (c["name"], c["isthing"]) for k, c in cats.items()} == {
        1: ("sky", 0),
        2: ("grass", 0),
        3: ("water", 0),
        4: ("circle", 1),
        5: ("rectangle", 1),
        6: ("triangle", 1),
    }
    assert [a["image_id"] for a in data["annotations"]] == [1, 4, 6]
    for ann in data["annotations"]:
        png = Image.open(path.parent / "panoptic_train" / ann["file_name"])
        rgb = np.asarray(png).astype(np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]
        pan = _np(scenes[ann["image_id"] - 1][1]["panoptic"])
        segments = {s["id"]: s for s in ann["segments_info"]}
        assert set(np.unique(ids).tolist()) == set(segments)
        category = np.zeros_like(ids)
        instance = np.zeros_like(ids)
        for seg_id, s in segments.items():
            pixels = ids == seg_id
            category[pixels] = s["category_id"] - 1
            assert s["area"] == pixels.sum()
            assert s["bbox"] == _box_of(pixels)
            assert s["iscrowd"] == 0
            if cats[s["category_id"]]["isthing"]:
                instance[pixels] = seg_id % 1000
        assert np.array_equal(category, pan[0])
        assert np.array_equal(instance, pan[1])
        # one segment per stuff class, one per instance
        stuff = [s for s in segments.values() if not cats[s["category_id"]]["isthing"]]
        assert len(stuff) == len(np.unique(pan[0][pan[0] < 3]))
        assert len(segments) - len(stuff) == pan[1].max()


def test_panoptic_void_and_crowd_pixels(tmp_path):
    pan = torch.zeros(2, 4, 5, dtype=torch.int64)
    pan[0, :, 3:] = 1  # class 1 (a thing) without instance ids: a crowd
    pan[0, 0, 0] = 255  # an ignore index: void
    pan[0, 2:, :2] = 1
    pan[1, 2:, :2] = 7  # instance 7 of class 1
    pan[1, 1, :3] = 3  # instance ids on stuff (class 0) are ignored: a stuff class is one segment
    item = (torch.full((3, 4, 5), 0.5), make_target(canvas_size=(4, 5), panoptic=pan))
    path = export_coco_panoptic(_Items([item]), tmp_path, classes=["road", "car"],
                                thing_classes=[1])
    ann = json.loads(path.read_text())["annotations"][0]
    png = Image.open(path.parent / "panoptic_train" / ann["file_name"])
    ids = np.asarray(png)[..., 0].astype(int)
    assert ids[0, 0] == 0
    info = {s["id"]: (s["category_id"], s["iscrowd"], s["area"]) for s in ann["segments_info"]}
    assert info == {1000: (1, 0, 7), 2000: (2, 1, 8), 2007: (2, 0, 4)}


def test_instance_and_panoptic_exports_share_a_folder(tmp_path, scenes):
    export_coco_instances(scenes, tmp_path, indices=[1, 2])
    export_coco_panoptic(scenes, tmp_path, indices=[1, 2])  # same images: nothing overwritten
    assert sorted(p.name for p in (tmp_path / "annotations").iterdir()) == [
        "instances_train.json",
        "panoptic_train",
        "panoptic_train.json",
    ]


def test_never_overwrites_silently(tmp_path, scenes):
    path = export_coco_instances(scenes, tmp_path, indices=[0])
    path.write_text("{}")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_coco_instances(scenes, tmp_path, indices=[0])
    assert path.read_text() == "{}"
    export_coco_instances(scenes, tmp_path, indices=[0], overwrite=True)
    assert json.loads(path.read_text())["images"][0]["id"] == 1
    # another data set whose image 0 differs from the one written
    other = SyntheticScenes(size=(48, 64), length=1, seed=99)
    before = (tmp_path / "train" / "000000.png").read_bytes()
    with pytest.raises(FileExistsError, match="000000.png"):
        export_coco_panoptic(other, tmp_path)
    assert (tmp_path / "train" / "000000.png").read_bytes() == before
    export_coco_panoptic(other, tmp_path, overwrite=True)
    assert (tmp_path / "train" / "000000.png").read_bytes() != before


def test_dataset_without_class_names_gets_numbered_categories(tmp_path):
    masks = torch.zeros(2, 6, 6, dtype=torch.bool)
    masks[0, :2, :2] = True
    masks[1, 3:, 3:] = True
    item = (torch.rand(3, 6, 6), make_target(canvas_size=(6, 6), masks=masks, labels=[2, 7]))
    coco = COCO(str(export_coco_instances(_Items([item]), tmp_path)))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["class_2", "class_7"]
    assert [a["category_id"] for a in coco.loadAnns(coco.getAnnIds())] == [3, 8]


def test_empty_masks_are_left_out(tmp_path):
    masks = torch.zeros(2, 5, 5, dtype=torch.bool)
    masks[1, 1:3, 1:3] = True
    item = (torch.rand(3, 5, 5), make_target(canvas_size=(5, 5), masks=masks, labels=[0, 0]))
    data = json.loads(export_coco_instances(_Items([item]), tmp_path, classes=["blob"]).read_text())
    assert [(a["area"], a["bbox"]) for a in data["annotations"]] == [(4.0, [1.0, 1.0, 2.0, 2.0])]


def test_bad_input(tmp_path, scenes):
    semantic_only = _Items([(torch.rand(3, 4, 4),
                             make_target(canvas_size=(4, 4), semantic=torch.zeros(4, 4)))])
    with pytest.raises(SampleError, match=r"dataset\[0\].*masks"):
        export_coco_instances(semantic_only, tmp_path / "a")
    with pytest.raises(SampleError, match=r"dataset\[0\].*panoptic"):
        export_coco_panoptic(semantic_only, tmp_path / "a", classes=["x"], thing_classes=[])
    with pytest.raises(SampleError, match="image"):
        export_coco_instances(_Items([(torch.full((3, 4, 4), 2.0), {})]), tmp_path / "b")
    with pytest.raises(SampleError, match="pair"):
        export_coco_instances(_Items([torch.rand(3, 4, 4)]), tmp_path / "b")
    with pytest.raises(ValueError, match="encoding"):
        export_coco_instances(scenes, tmp_path / "c", encoding="bitmap")
    with pytest.raises(ValueError, match="split"):
        export_coco_instances(scenes, tmp_path / "c", split="../up")
    with pytest.raises(IndexError, match="indices"):
        export_coco_instances(scenes, tmp_path / "c", indices=[0, 6])
    with pytest.raises(ValueError, match="indices"):
        export_coco_instances(scenes, tmp_path / "c", indices=[1, 1])
    with pytest.raises(TypeError, match="indices"):
        export_coco_instances(scenes, tmp_path / "c", indices=[0.5])
    with pytest.raises(ValueError, match="thing_classes"):
        export_coco_panoptic(scenes, tmp_path / "c", thing_classes=[9])
    with pytest.raises(ValueError, match="classes"):
        export_coco_panoptic(_Items([]), tmp_path / "c")
    with pytest.raises(SampleError, match="labels"):
        export_coco_instances(scenes, tmp_path / "d", classes=["a", "b"], thing_classes=[0, 1])
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError, match="out_dir"):
        export_coco_instances(scenes, a_file)
