"""Real-dataset loaders, read from tiny datasets that the tests write in the real on-disk formats.

Expected values come from what :mod:`tests.data.fake_datasets` painted, never from the loaders.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data import (
    ADE20K,
    Cityscapes,
    COCOInstances,
    COCOPanoptic,
    OxfordIIITPet,
    SampleError,
    VOCSegmentation,
)
from segedu.data.datasets import (
    CorruptFileError,
    DatasetNotFoundError,
    MissingFileError,
    SegmentationDataset,
)
from segedu.data.download import DatasetFile, sha256_of
from tests.data import fake_datasets as fake
from tests.data.local_http import NO_PROXY_VARIABLES, LocalServer

H, W = fake.H, fake.W


def assert_image(image, color, size=(H, W)):
    """A float32 (3, H, W) tv_tensors.Image in [0, 1] of the painted solid colour."""
    assert isinstance(image, tv_tensors.Image)
    assert image.dtype == torch.float32 and tuple(image.shape) == (3, *size)
    expected = torch.tensor(color, dtype=torch.float32).div(255).view(3, 1, 1)
    assert (image - expected).abs().max() < 0.03  # JPEG of a solid colour is nearly exact


def assert_equal(tensor, array):
    assert torch.equal(tensor.as_subclass(torch.Tensor),
                       torch.as_tensor(np.asarray(array)).to(tensor.dtype))


def assert_instances(target, expected, size=(H, W)):
    n = len(expected["labels"])
    assert isinstance(target["masks"], tv_tensors.Mask) and target["masks"].dtype == torch.bool
    assert tuple(target["masks"].shape) == (n, *size)
    assert_equal(target["masks"], expected["masks"])
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == expected["labels"]
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
    assert tuple(target["boxes"].canvas_size) == size
    assert target["boxes"].reshape(-1, 4).tolist() == [[float(v) for v in box]
                                                       for box in expected["boxes"]]


# =========================================================================== PASCAL VOC


@pytest.fixture
def voc(tmp_path):
    return tmp_path, fake.write_voc(tmp_path)


def test_voc_reads_semantic_and_instances(voc):
    root, expected = voc
    dataset = VOCSegmentation(root=root, image_set="train")
    assert len(dataset) == 2 and len(VOCSegmentation.CLASSES) == 21
    assert VOCSegmentation.CLASSES[15] == "person" and VOCSegmentation.CLASSES[8] == "cat"

    image, target = dataset[0]
    e = expected["2007_000001"]
    assert_image(image, e["color"])
    assert (isinstance(target["semantic"], tv_tensors.Mask)
            and target["semantic"].dtype == torch.int64)
    assert_equal(target["semantic"], e["semantic"])
    assert (target["semantic"] == 255).sum() == 11 + 9 - 1  # the void band (an L) is kept as ignore
    assert_instances(target, e)

    image, target = dataset[1]  # no SegmentationObject file: semantic only
    assert_image(image, expected["2007_000002"]["color"])
    assert_equal(target["semantic"], expected["2007_000002"]["semantic"])
    assert set(target) == {"semantic"}


def test_voc_image_sets_and_negative_index(voc):
    root, expected = voc
    val = VOCSegmentation(root=root, image_set="val")
    assert len(val) == 1
    image, target = val[-1]
    assert_image(image, expected["2007_000003"]["color"])
    assert target["labels"].tolist() == [20]
    assert len(VOCSegmentation(root=root, image_set="trainval")) == 3
    with pytest.raises(IndexError):
        val[1]


def test_voc_transforms_move_image_masks_and_boxes_together(voc):
    root, expected = voc
    dataset = VOCSegmentation(root=root, transforms=v2.RandomHorizontalFlip(p=1.0))
    _, target = dataset[0]
    e = expected["2007_000001"]
    assert_equal(target["semantic"], e["semantic"][:, ::-1].copy())
    assert_equal(target["masks"], e["masks"][:, :, ::-1].copy())
    assert target["boxes"].tolist() == [[W - 15, 4, W - 5, 12], [W - 30, 14, W - 18, 22]]


def test_voc_default_root_is_under_segedu_cache(tmp_path, monkeypatch):
    fake.write_voc(tmp_path / "voc")
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    assert len(VOCSegmentation()) == 2


def test_voc_missing_root_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        VOCSegmentation(root=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "VOCdevkit" / "VOC2012") in message
    assert "download=True" in message and "VOCtrainval_11-May-2012.tar" in message


def test_voc_incomplete_names_the_missing_split_file(voc):
    root, _ = voc
    split_file = root / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt"
    split_file.unlink()
    with pytest.raises(DatasetNotFoundError, match="val.txt"):
        VOCSegmentation(root=root, image_set="val")


def test_voc_bad_arguments(voc):
    root, _ = voc
    with pytest.raises(ValueError, match="image_set"):
        VOCSegmentation(root=root, image_set="test")
    with pytest.raises(ValueError, match="year"):
        VOCSegmentation(root=root, year="2013")
    with pytest.raises(ValueError, match="only available for VOC 2012"):
        VOCSegmentation(root=root, year="2010", download=True)


def test_voc_split_listing_a_missing_image(voc):
    root, _ = voc
    split_file = root / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt"
    split_file.write_text("2007_000001\n2007_000009\n")
    dataset = VOCSegmentation(root=root)
    with pytest.raises(MissingFileError) as info:
        dataset[1]
    assert "2007_000009.jpg" in str(info.value) and "train.txt" in str(info.value)


@pytest.mark.parametrize("keep", [slice(0, 200), slice(0, -20)],
                         ids=["header-only", "tail-missing"])
def test_voc_corrupt_image_is_named(voc, keep):
    root, _ = voc
    path = root / "VOCdevkit/VOC2012/JPEGImages/2007_000001.jpg"
    path.write_bytes(path.read_bytes()[keep])  # a truncated download: fails to open, or to decode
    with pytest.raises(CorruptFileError, match="2007_000001.jpg"):
        VOCSegmentation(root=root)[0]


def test_voc_label_png_saved_as_colours_is_refused(voc):
    root, _ = voc
    path = root / "VOCdevkit/VOC2012/SegmentationClass/2007_000002.png"
    Image.open(path).convert("RGB").save(path)  # a common mistake: the colour rendering
    with pytest.raises(CorruptFileError, match="2007_000002.png"):
        VOCSegmentation(root=root)[1]


def test_voc_unknown_class_and_size_mismatch(voc):
    root, _ = voc
    path = root / "VOCdevkit/VOC2012/SegmentationClass/2007_000002.png"
    fake.save_palette_png(path, np.full((H, W), 42, np.uint8))
    with pytest.raises(SampleError, match="42"):
        VOCSegmentation(root=root)[1]
    fake.save_palette_png(path, np.zeros((H - 1, W), np.uint8))
    with pytest.raises(SampleError, match="2007_000002.png.*2007_000002.jpg"):
        VOCSegmentation(root=root)[1]


def test_voc_object_without_class_pixels_is_an_error(voc):
    root, _ = voc
    objects = np.zeros((H, W), np.uint8)
    objects[0:2, 0:2] = 3  # an object where SegmentationClass says background
    fake.save_palette_png(root / "VOCdevkit/VOC2012/SegmentationObject/2007_000001.png", objects)
    with pytest.raises(SampleError, match="disagree"):
        VOCSegmentation(root=root)[0]


# =========================================================================== COCO instances


@pytest.fixture
def coco(tmp_path):
    return tmp_path, fake.write_coco_instances(tmp_path)


def test_coco_polygon_rle_crowd_and_empty_image(coco):
    root, expected = coco
    dataset = COCOInstances(root=root, split="val")
    assert len(dataset) == 3
    assert dataset.categories == {1: "person", 3: "car", 18: "dog"}
    assert (dataset.classes[18] == "dog" and dataset.classes[2] == "N/A"
            and dataset.classes[0] == "__background__")
    for index, image_id in enumerate([1, 2, 3]):
        e = expected[image_id]
        size = (16, 20) if image_id == 3 else (H, W)
        image, target = dataset[index]
        assert_image(image, e["color"], size)
        assert_instances(target, e, size)
        assert target["iscrowd"].dtype == torch.bool and target["iscrowd"].tolist() == e["iscrowd"]
    _, empty = dataset[1]  # the image without annotations: N = 0 with the right shapes
    assert tuple(empty["masks"].shape) == (0, H, W) and tuple(empty["boxes"].shape) == (0, 4)
    assert tuple(empty["labels"].shape) == (0,) and tuple(empty["iscrowd"].shape) == (0,)


def test_coco_contiguous_labels(coco):
    root, expected = coco
    dataset = COCOInstances(root=root, contiguous_labels=True)
    assert dataset.classes == ["__background__", "person", "car", "dog"]
    assert dataset[0][1]["labels"].tolist() == expected[1]["contiguous"]
    assert dataset[2][1]["labels"].tolist() == expected[3]["contiguous"]


def test_coco_custom_ann_file_and_image_dir(coco):
    root, _ = coco
    shutil.move(root / "val2017", root / "pictures")
    shutil.move(root / "annotations" / "instances_val2017.json", root / "mine.json")
    dataset = COCOInstances(ann_file=root / "mine.json", image_dir=root / "pictures")
    assert len(dataset) == 3 and dataset[0][1]["labels"].tolist() == [1, 18, 1]


def test_coco_missing_root_and_missing_image_folder(tmp_path, coco):
    with pytest.raises(DatasetNotFoundError) as info:
        COCOInstances(root=tmp_path / "nowhere")
    assert "instances_val2017.json" in str(info.value) and "download=True" in str(info.value)
    root, _ = coco
    shutil.rmtree(root / "val2017")
    with pytest.raises(DatasetNotFoundError, match="val2017"):
        COCOInstances(root=root)
    with pytest.raises(ValueError, match="split"):
        COCOInstances(root=root, split="test")


def test_coco_annotation_pointing_at_a_missing_image(coco):
    root, _ = coco
    (root / "val2017" / "000000000003.jpg").unlink()
    dataset = COCOInstances(root=root)
    with pytest.raises(MissingFileError) as info:
        dataset[2]
    message = str(info.value)
    assert ("000000000003.jpg" in message and "image id 3" in message
            and "instances_val2017.json" in message)


def test_coco_corrupt_image_and_invalid_json(coco):
    root, _ = coco
    (root / "val2017" / "000000000002.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(CorruptFileError, match="000000000002.jpg"):
        COCOInstances(root=root)[1]
    (root / "annotations" / "instances_val2017.json").write_text('{"images": [')
    with pytest.raises(CorruptFileError, match="instances_val2017.json"):
        COCOInstances(root=root)


def _edit_coco_json(root: Path, edit) -> None:
    path = root / "annotations" / "instances_val2017.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_coco_box_that_disagrees_with_its_mask(coco):
    root, _ = coco
    _edit_coco_json(root, lambda data: data["annotations"][0].update(bbox=[14, 3, 8, 7]))
    with pytest.raises(SampleError, match="disagrees"):
        COCOInstances(root=root)[0]


def test_coco_wrong_declared_size_and_unknown_category(coco):
    root, _ = coco
    _edit_coco_json(root, lambda data: data["images"][1].update(height=30))
    with pytest.raises(SampleError, match="000000000002.jpg"):
        COCOInstances(root=root)[1]
    _edit_coco_json(root, lambda data: data["annotations"][3].update(category_id=99))
    with pytest.raises(SampleError, match="annotation id 30.*99"):
        COCOInstances(root=root)[2]


# =========================================================================== COCO panoptic


@pytest.fixture
def panoptic(tmp_path):
    return tmp_path, fake.write_coco_panoptic(tmp_path)


def test_coco_panoptic_decodes_segment_ids(panoptic):
    root, expected = panoptic
    dataset = COCOPanoptic(root=root)
    assert len(dataset) == 2
    assert dataset.things == {1, 3} and dataset.stuffs == {184, 187}
    assert dataset.categories[187] == "sky-other-merged"
    for index, image_id in enumerate([1, 2]):  # items are sorted by image id
        e = expected[image_id]
        image, target = dataset[index]
        assert_image(image, e["color"])
        pan = target["panoptic"]
        assert (isinstance(pan, tv_tensors.Mask) and pan.dtype == torch.int64
                and tuple(pan.shape) == (2, H, W))
        # void (category 0 in the fixture's terms) is 255 in segedu's panoptic and semantic maps
        assert_equal(pan[0], np.where(e["category"] == 0, 255, e["category"]))
        assert_equal(pan[1], e["instance"])
        assert_equal(target["semantic"], np.where(e["category"] == 0, 255, e["category"]))
        assert_instances(target, e)
        assert target["iscrowd"].tolist() == e["iscrowd"]


def test_coco_panoptic_missing_pieces(tmp_path, panoptic):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        COCOPanoptic(root=tmp_path / "nowhere")
    root, _ = panoptic
    shutil.rmtree(root / "annotations" / "panoptic_val2017")
    with pytest.raises(DatasetNotFoundError, match="panoptic_val2017"):
        COCOPanoptic(root=root)


def test_coco_panoptic_annotation_pointing_at_missing_files(panoptic):
    root, _ = panoptic
    (root / "annotations" / "panoptic_val2017" / "000000000002.png").unlink()
    (root / "val2017" / "000000000001.jpg").unlink()
    dataset = COCOPanoptic(root=root)
    with pytest.raises(MissingFileError) as info:
        dataset[0]
    assert "000000000001.jpg" in str(info.value) and "image id 1" in str(info.value)
    with pytest.raises(MissingFileError, match="000000000002.png"):
        dataset[1]


def _edit_panoptic_json(root: Path, edit) -> None:
    path = root / "annotations" / "panoptic_val2017.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_coco_panoptic_inconsistent_annotations(panoptic):
    root, _ = panoptic
    # a thing's bbox that disagrees with its pixels
    _edit_panoptic_json(
        root, lambda d: d["annotations"][1]["segments_info"][2].update(bbox=[0, 0, 6, 10]))
    with pytest.raises(SampleError, match="disagrees"):
        COCOPanoptic(root=root)[0]
    # a PNG segment that the JSON does not list
    _edit_panoptic_json(root, lambda d: d["annotations"][1]["segments_info"].pop(0))
    with pytest.raises(SampleError, match="1000"):
        COCOPanoptic(root=root)[0]
    # an annotation for an image that is not in "images"
    _edit_panoptic_json(root, lambda d: d["annotations"][0].update(image_id=7))
    with pytest.raises(MissingFileError, match="image id 7"):
        COCOPanoptic(root=root)[1]


def test_coco_panoptic_png_must_be_rgb(panoptic):
    root, _ = panoptic
    fake.save_png(root / "annotations" / "panoptic_val2017" / "000000000002.png",
                  np.zeros((H, W), np.uint8))
    with pytest.raises(CorruptFileError, match="000000000002.png"):
        COCOPanoptic(root=root)[1]


# =========================================================================== Cityscapes


@pytest.fixture
def cityscapes(tmp_path):
    return tmp_path, fake.write_cityscapes(tmp_path)


def test_cityscapes_train_ids_and_instances(cityscapes):
    root, expected = cityscapes
    assert (len(Cityscapes.CLASSES) == 19 and Cityscapes.CLASSES[13] == "car"
            and Cityscapes.CLASSES[0] == "road")
    dataset = Cityscapes(root=root, split="train")
    assert len(dataset) == 2  # sorted: aachen, then bochum
    image, target = dataset[0]
    e = expected["aachen_000000_000019"]
    assert_image(image, e["color"], )
    assert_equal(target["semantic"], e["semantic"])
    assert_instances(target, e)
    assert_equal(target["instances"], e["instances"])

    image, target = dataset[1]  # no instanceIds file: semantic only
    assert_image(image, expected["bochum_000000_000313"]["color"])
    assert_equal(target["semantic"], expected["bochum_000000_000313"]["semantic"])
    assert set(target) == {"semantic"}

    val = Cityscapes(root=root, split="val")
    assert len(val) == 1
    assert_equal(val[0][1]["semantic"], expected["frankfurt_000000_000294"]["semantic"])


def test_cityscapes_missing_data_points_to_the_registration_page(tmp_path, cityscapes):
    with pytest.raises(DatasetNotFoundError) as info:
        Cityscapes(root=tmp_path / "nowhere")
    assert ("cityscapes-dataset.com" in str(info.value)
            and "gtFine_trainvaltest.zip" in str(info.value))
    root, _ = cityscapes
    shutil.rmtree(root / "gtFine" / "val")
    with pytest.raises(DatasetNotFoundError, match=r"gtFine.val"):
        Cityscapes(root=root, split="val")


def test_cityscapes_extracts_the_official_zips_when_present(tmp_path):
    source = tmp_path / "source"
    expected = fake.write_cityscapes(source)
    root = tmp_path / "root"
    root.mkdir()
    for folder, zip_name in [("leftImg8bit", "leftImg8bit_trainvaltest"),
                             ("gtFine", "gtFine_trainvaltest")]:
        shutil.make_archive(str(root / zip_name), "zip", root_dir=source, base_dir=folder)
    dataset = Cityscapes(root=root, split="train")
    assert len(dataset) == 2
    assert_equal(dataset[0][1]["semantic"], expected["aachen_000000_000019"]["semantic"])


def test_cityscapes_missing_annotation_and_corrupt_image(cityscapes):
    root, _ = cityscapes
    (root / "gtFine/train/bochum/bochum_000000_000313_gtFine_labelIds.png").unlink()
    (root / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png").write_bytes(b"\x89PNG "
                                                                                         b"broken")
    dataset = Cityscapes(root=root)
    with pytest.raises(CorruptFileError, match="aachen_000000_000019_leftImg8bit.png"):
        dataset[0]
    with pytest.raises(MissingFileError, match="bochum_000000_000313_gtFine_labelIds.png"):
        dataset[1]


# =========================================================================== ADE20K


@pytest.fixture
def ade(tmp_path):
    return tmp_path, fake.write_ade20k(tmp_path)


def test_ade20k_reduces_zero_label(ade):
    root, expected = ade
    assert (len(ADE20K.CLASSES) == 150 and ADE20K.CLASSES[0] == "wall"
            and ADE20K.CLASSES[149] == "flag")
    dataset = ADE20K(root=root, split="train")
    assert len(dataset) == 2
    for index, name in enumerate(["ADE_train_00000001", "ADE_train_00000002"]):
        image, target = dataset[index]
        assert_image(image, expected[name]["color"])
        assert_equal(target["semantic"], expected[name]["semantic"])
    assert ADE20K.CLASSES[int(dataset[0][1]["semantic"][22, 20])] == "car"
    val = ADE20K(root=root / "ADEChallengeData2016", split="val")  # the inner folder works too
    assert len(val) == 1 and ADE20K.CLASSES[int(val[0][1]["semantic"][0, 0])] == "tree"


def test_ade20k_missing_and_bad_files(tmp_path, ade):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        ADE20K(root=tmp_path / "nowhere")
    root, _ = ade
    annotations = root / "ADEChallengeData2016" / "annotations" / "training"
    fake.save_png(annotations / "ADE_train_00000002.png", np.full((H, W), 200, np.uint8))
    (annotations / "ADE_train_00000001.png").unlink()
    dataset = ADE20K(root=root)
    with pytest.raises(MissingFileError, match="ADE_train_00000001.png"):
        dataset[0]
    with pytest.raises(SampleError, match="200"):
        dataset[1]
    shutil.rmtree(annotations)
    with pytest.raises(DatasetNotFoundError, match="annotations"):
        ADE20K(root=root)


# =========================================================================== Oxford-IIIT Pet


@pytest.fixture
def pets(tmp_path):
    return tmp_path, fake.write_pets(tmp_path)


def test_pets_trimap_mapping_and_breed(pets):
    root, expected = pets
    assert (len(OxfordIIITPet.CLASSES) == 37
            and OxfordIIITPet.SEMANTIC_CLASSES == ("background", "pet"))
    dataset = OxfordIIITPet(root=root, split="trainval")
    assert len(dataset) == 2
    for index, name in enumerate(["Abyssinian_1", "american_bulldog_10"]):
        image, target = dataset[index]
        assert_image(image, expected[name]["color"])
        assert_equal(target["semantic"], expected[name]["semantic"])
        assert_instances(target, expected[name])
    assert OxfordIIITPet.CLASSES[dataset[1][1]["labels"].item()] == "American Bulldog"
    test = OxfordIIITPet(root=root, split="test")
    assert OxfordIIITPet.CLASSES[test[0][1]["labels"].item()] == "Yorkshire Terrier"


def test_pets_missing_and_bad_files(tmp_path, pets):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        OxfordIIITPet(root=tmp_path / "nowhere")
    root, _ = pets
    base = root / "oxford-iiit-pet"
    (base / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\nBengal_3 6 1 2\n")
    fake.save_png(base / "annotations" / "trimaps" / "Abyssinian_1.png",
                  np.full((H, W), 7, np.uint8))
    dataset = OxfordIIITPet(root=root)
    with pytest.raises(SampleError, match="Abyssinian_1.png"):
        dataset[0]
    with pytest.raises(MissingFileError) as info:
        dataset[1]
    assert "Bengal_3.jpg" in str(info.value) and "trainval.txt" in str(info.value)
    (base / "annotations" / "test.txt").write_text("yorkshire_terrier_5 37\n")
    with pytest.raises(CorruptFileError, match="test.txt, line 1"):
        OxfordIIITPet(root=root, split="test")


# =========================================================================== the base class


class _OneBadImage(SegmentationDataset):
    """A loader whose image breaks the format: values above 1."""

    samples = [0]

    def load(self, index):
        image = tv_tensors.Image(torch.full((3, 4, 5), 2.0))
        return image, {"semantic": tv_tensors.Mask(torch.zeros(4, 5, dtype=torch.int64))}, "bad.png"


def test_base_class_validates_every_sample_and_checks_indices():
    dataset = _OneBadImage()
    with pytest.raises(SampleError, match="bad.png"):
        dataset[0]
    with pytest.raises(TypeError, match="integer"):
        dataset["0"]
    with pytest.raises(TypeError, match="callable"):
        _OneBadImage(transforms="flip")


# =========================================================================== download=True


def test_download_true_fetches_verifies_and_unpacks(tmp_path, monkeypatch, http_server):
    """ADE20K(download=True) against a local server: the archive is downloaded, checked and
    unpacked once; a second construction needs no network."""
    from segedu.data.datasets import ade20k

    source = tmp_path / "source"
    expected = fake.write_ade20k(source)
    archive = tmp_path / "ADEChallengeData2016.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", root_dir=source,
                        base_dir="ADEChallengeData2016")
    http_server.add("/ADEChallengeData2016.zip", archive.read_bytes())
    local = DatasetFile(
        name="ADEChallengeData2016.zip",
        url=http_server.url("/ADEChallengeData2016.zip"),
        sha256=sha256_of(archive),
        extract=True,
    )
    monkeypatch.setattr(ade20k, "ADE_CHALLENGE_2016", local)
    root = tmp_path / "root"
    dataset = ADE20K(root=root, download=True)
    assert_equal(dataset[0][1]["semantic"], expected["ADE_train_00000001"]["semantic"])
    assert http_server.hits["/ADEChallengeData2016.zip"] == 1
    ADE20K(root=root, split="val", download=True)
    assert http_server.hits["/ADEChallengeData2016.zip"] == 1


def test_download_true_pets_tar_gz(tmp_path, monkeypatch, http_server):
    from segedu.data.datasets import pets

    source = tmp_path / "source"
    expected = fake.write_pets(source)
    archives = []
    for folder in ("images", "annotations"):
        path = tmp_path / f"{folder}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(source / "oxford-iiit-pet" / folder, arcname=folder)
        http_server.add(f"/{path.name}", path.read_bytes())
        archives.append(DatasetFile(name=path.name, url=http_server.url(f"/{path.name}"),
                                    sha256=sha256_of(path), extract=True))
    monkeypatch.setattr(pets, "PETS_FILES", tuple(archives))
    dataset = OxfordIIITPet(root=tmp_path / "root", download=True)
    assert_equal(dataset[0][1]["semantic"], expected["Abyssinian_1"]["semantic"])


def test_all_loaders_return_common_format_through_v2_pipeline(voc, tmp_path):
    """A typical training pipeline runs on every loader's samples."""
    pipeline = v2.Compose([v2.RandomResizedCrop((16, 16), antialias=True),
                           v2.ToDtype(torch.float32, scale=True)])
    root, _ = voc
    image, target = VOCSegmentation(root=root, transforms=pipeline)[0]
    assert tuple(image.shape) == (3, 16, 16) and tuple(target["semantic"].shape) == (16, 16)
    assert tuple(target["masks"].shape[-2:]) == (16, 16)
    fake.write_coco_panoptic(tmp_path / "pan")
    image, target = COCOPanoptic(root=tmp_path / "pan", transforms=pipeline)[0]
    assert tuple(target["panoptic"].shape) == (2, 16, 16)


@pytest.fixture
def http_server(monkeypatch):
    for variable in NO_PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    with LocalServer() as server:
        yield server
