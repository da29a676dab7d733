"""The labelling pipeline (detector boxes -> SAM masks -> COCO): the file is valid COCO that
pycocotools reads back, and each annotation is what the predictor gave for the detector's box."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from segedu.models import get_model
from segedu.models.foundation.sam import SamPredictor, label_images, write_coco
from segedu.zoo.instances import held_out_instances

NAMES = {1: "circle", 2: "rectangle", 3: "triangle"}


class TruthDetector:
    """Returns a scene's true boxes (score 0.9) and one low-scoring false box."""

    def __init__(self, targets):
        self.targets, self.calls = targets, 0

    def __call__(self, images):
        target = self.targets[self.calls]
        self.calls += 1
        boxes = torch.cat([target["boxes"], torch.tensor([[0.0, 0.0, 5.0, 5.0]])])
        scores = torch.cat([torch.full((len(target["boxes"]),), 0.9), torch.tensor([0.1])])
        labels = torch.cat([target["labels"], torch.tensor([1])])
        return [{"boxes": boxes, "labels": labels, "scores": scores}]


class TruthPredictor:
    """SamPredictor's interface; a box prompt gives the true mask whose box it is."""

    def __init__(self, targets):
        self.targets, self.image_index = targets, -1

    def set_image(self, image):
        self.image_index += 1

    def predict(self, box, multimask_output):
        target = self.targets[self.image_index]
        j = int(torch.where((target["boxes"] == torch.as_tensor(box)).all(1))[0][0])
        return target["masks"][j][None].bool().numpy(), np.array([0.77]), None


def _ground_truth_coco(targets, size):
    coco = {"images": [], "annotations": [],
            "categories": [{"id": k, "name": v} for k, v in NAMES.items()]}
    for i, target in enumerate(targets):
        coco["images"].append({"id": i + 1, "width": size, "height": size,
                               "file_name": f"{i:06d}.png"})
        for mask, label in zip(target["masks"], target["labels"], strict=True):
            rle = mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
            rle["counts"] = rle["counts"].decode()
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i + 1,
                                        "category_id": int(label), "segmentation": rle,
                                        "iscrowd": 0,
                                        "area": float(mask.sum()),
                                        "bbox": mask_utils.toBbox(rle).tolist()})
    return coco


def test_true_boxes_and_true_masks_give_the_ground_truth_back(tmp_path):
    scenes = held_out_instances(4)
    images, targets = [im for im, _ in scenes], [t for _, t in scenes]
    coco = label_images(images, detector=TruthDetector(targets), predictor=TruthPredictor(targets),
                        categories=NAMES, score_thresh=0.5)
    # the 0.1 box was dropped
    assert len(coco["annotations"]) == sum(len(t["labels"]) for t in targets)
    path = write_coco(coco, tmp_path / "labels.json")
    # pycocotools reads the file; every mask decodes to the true one, with its box and area
    loaded = COCO(str(path))
    for ann in loaded.dataset["annotations"]:
        mask = loaded.annToMask(ann).astype(bool)
        assert ann["area"] == mask.sum() and ann["predicted_iou"] == pytest.approx(0.77)
        assert ann["bbox"] == [int(v) for v in mask_utils.toBbox(ann["segmentation"])]
    # scored as detections against the truth by COCOeval: a perfect mask AP
    truth = COCO()
    truth.dataset = _ground_truth_coco(targets, 128)
    truth.createIndex()
    results = truth.loadRes([{**a, "score": a["score"]} for a in coco["annotations"]])
    evaluation = COCOeval(truth, results, "segm")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_real_detector_and_real_sam_end_to_end(tmp_path):
    torch.manual_seed(0)
    detector = get_model("maskrcnn_resnet_fpn", weights="zoo").eval()
    sam = get_model("sam_tiny").eval()
    scenes = held_out_instances(2)
    images = [im for im, _ in scenes]
    coco = label_images(images, detector=detector, predictor=SamPredictor(sam), categories=NAMES,
                        score_thresh=0.5)
    assert len(coco["images"]) == 2 and coco["annotations"]
    # each annotation is SAM's answer to that detection's box
    check = SamPredictor(sam)
    for index, image in enumerate(images):
        pixels = (image * 255).round().byte().permute(1, 2, 0).numpy()
        # the pipeline shows the detector the same 8-bit image that SAM gets
        detections = detector([torch.from_numpy(pixels).permute(2, 0, 1).float() / 255])[0]
        kept = detections["boxes"][detections["scores"] >= 0.5]
        annotations = [a for a in coco["annotations"] if a["image_id"] == index + 1]
        check.set_image(pixels)
        expected = [check.predict(box=b.detach().numpy(), multimask_output=False)[0][0]
                    for b in kept]
        expected = [m for m in expected if m.any()]
        assert len(annotations) == len(expected)
        for ann, mask in zip(annotations, expected, strict=True):
            assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), mask)
    assert COCO(str(write_coco(coco, tmp_path / "sam.json"))).getAnnIds()


def test_bad_input_and_no_overwrite(tmp_path):
    scenes = held_out_instances(1)
    images, targets = [scenes[0][0]], [scenes[0][1]]
    with pytest.raises(ValueError, match="not in categories"):
        label_images(images, detector=TruthDetector(targets), predictor=TruthPredictor(targets),
                     categories={1: "circle"}, score_thresh=0.0)
    with pytest.raises(ValueError, match=r"float \(3, H, W\)"):
        label_images([images[0].byte()], detector=TruthDetector(targets),
                     predictor=TruthPredictor(targets),
                     categories=NAMES)
    with pytest.raises(ValueError, match="file names"):
        label_images(images, detector=TruthDetector(targets), predictor=TruthPredictor(targets),
                     categories=NAMES,
                     file_names=["a.png", "b.png"])
    # nothing above the threshold: the image is listed with no annotation
    coco = label_images(images, detector=TruthDetector(targets), predictor=TruthPredictor(targets),
                        categories=NAMES, score_thresh=0.95)
    assert len(coco["images"]) == 1 and coco["annotations"] == []
    path = write_coco(coco, tmp_path / "a.json")
    before = path.read_text()
    with pytest.raises(FileExistsError):
        write_coco({"images": []}, path)
    assert path.read_text() == before
