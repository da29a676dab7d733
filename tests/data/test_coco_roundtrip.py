"""COCO export and COCO loaders agree: scenes written by segedu's exporter and read back by
segedu's loaders give the generator's own ground truth (image, masks, boxes, labels, panoptic)."""

import pytest
import torch

from segedu.data import (
    COCOInstances,
    COCOPanoptic,
    SyntheticScenes,
    export_coco_instances,
    export_coco_panoptic,
)


@pytest.fixture(scope="module")
def scenes():
    return SyntheticScenes(size=(48, 64), length=4, seed=3)


def _by_mask(masks, labels):
    """{mask bytes: label}: instances compared as a set, whatever their order in the file."""
    return {m.numpy().tobytes(): int(label) for m, label in zip(masks, labels, strict=True)}


def test_instances_round_trip_rle(scenes, tmp_path):
    export_coco_instances(scenes, tmp_path, encoding="rle", split="val")
    loaded = COCOInstances(
        ann_file=tmp_path / "annotations" / "instances_val.json", image_dir=tmp_path / "val"
    )
    assert len(loaded) == len(scenes)
    for i in range(len(scenes)):
        image, target = scenes[i]
        image2, target2 = loaded[i]
        # PNG stores 8 bits per channel: the image comes back to within half a grey level
        assert (image2 - image).abs().max() <= 0.5 / 255 + 1e-6
        # COCO category ids are class index + 1
        assert (_by_mask(target2["masks"], target2["labels"] - 1)
                == _by_mask(target["masks"], target["labels"]))
        assert torch.equal(
            torch.sort(target2["boxes"].as_subclass(torch.Tensor), dim=0).values,
            torch.sort(target["boxes"].as_subclass(torch.Tensor), dim=0).values,
        )


def test_panoptic_round_trip(scenes, tmp_path):
    export_coco_panoptic(scenes, tmp_path, split="val")
    loaded = COCOPanoptic(
        ann_file=tmp_path / "annotations" / "panoptic_val.json",
        image_dir=tmp_path / "val",
        mask_dir=tmp_path / "annotations" / "panoptic_val",
    )
    assert loaded.things == {c + 1 for c in scenes.thing_classes}
    for i in range(len(scenes)):
        _, target = scenes[i]
        _, target2 = loaded[i]
        # categories shift by one (COCO ids start at 1); every pixel is labelled, none void
        assert torch.equal(target2["panoptic"][0] - 1, target["panoptic"][0])
        assert torch.equal(target2["semantic"] - 1, target["semantic"])
        # instance ids may be renumbered, but the partition into things is the same
        assert (_by_mask(target2["masks"], target2["labels"] - 1)
                == _by_mask(target["masks"], target["labels"]))
        assert not target2["iscrowd"].any()
