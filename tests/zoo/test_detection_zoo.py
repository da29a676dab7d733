"""segedu.zoo.detection (RetinaNet, SSD) and SOLOv2 in the instance recipe: the entries, the
targets without masks, the box score, the scenes kept across epochs, and tiny runs through the
seeds command's own function (checkpoint, card and scores.json)."""

import json
import math

import pytest
import torch

from segedu.models import get_model
from segedu.zoo import DETECTION_BATCH, DETECTION_STEPS, ZOO, Task, detection, instances
from segedu.zoo.seeds import HEADLINE, run_seed
from segedu.zoo.train import RECIPES, config_for

DETECTORS = ["retinanet_resnet50_fpn", "ssd300_vgg16"]
THINGS = ("circle", "rectangle", "triangle")


def test_the_detectors_are_one_family_with_one_budget_and_solov2_an_instance_model():
    assert [n for n, e in ZOO.items() if e.task is Task.DETECTION] == DETECTORS
    assert {(ZOO[n].steps, ZOO[n].batch) for n in DETECTORS} == {(DETECTION_STEPS,
                                                                   DETECTION_BATCH)}
    assert RECIPES[Task.DETECTION] is detection.RECIPE and HEADLINE[Task.DETECTION] == "box_map_50"
    solo, yolact = ZOO["solov2"], ZOO["yolact"]
    assert solo.task is Task.INSTANCES and (solo.steps, solo.batch) == (yolact.steps, yolact.batch)
    assert isinstance(config_for("ssd300_vgg16"), detection.DetectionConfig)
    with pytest.raises(ValueError, match="'yolact' is a instances model"):
        detection.DetectionConfig("yolact")


@pytest.mark.parametrize("name", [*DETECTORS, "solov2"])
def test_a_zoo_build_is_slim_enough_for_a_small_float16_checkpoint(name):
    model = get_model(name, **ZOO[name].kwargs)
    parameters = sum(p.numel() for p in model.parameters())
    # two bytes a parameter: under 5 MB on disk
    assert 500_000 < parameters < 5 * 2**20 / 2


def test_the_slim_ssd_predicts_from_four_maps_of_a_128_pixel_scene():
    model = get_model("ssd300_vgg16", **ZOO["ssd300_vgg16"].kwargs).eval()
    maps = model.backbone(torch.zeros(1, 3, 128, 128))
    assert [tuple(m.shape[-2:]) for m in maps.values()] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    # each map's cells are the image's pixels over its step
    assert model.anchor_generator.steps == [128 // s for s, _ in
                                            (m.shape[-2:] for m in maps.values())]


def test_box_targets_leave_the_masks_out_and_keep_the_boxes():
    with_masks = instances.instance_scenes(seed=0, length=2)[1][1]
    boxes_only = instances.instance_scenes(seed=0, length=2, masks=False)[1][1]
    assert set(with_masks) - set(boxes_only) == {"masks"}
    torch.testing.assert_close(boxes_only["boxes"], with_masks["boxes"], rtol=0, atol=0)
    assert torch.equal(boxes_only["labels"], with_masks["labels"])


class _Counted(torch.utils.data.Dataset):
    """A dataset that counts how often each item is drawn."""

    def __init__(self, dataset):
        self.dataset, self.draws = dataset, []

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.draws.append(index)
        return self.dataset[index]


def test_kept_items_draw_each_item_once_and_give_copies():
    counted = _Counted(instances.instance_scenes(seed=0, length=3, masks=False))
    kept = instances.KeptItems(counted)
    first = kept[1]
    first[0].zero_()  # a step that changes its batch in place
    first[1]["boxes"].add_(1)
    again = kept[1]
    fresh = counted.dataset[1]
    assert counted.draws == [1] and len(kept) == 3
    assert torch.equal(again[0], fresh[0]) and torch.equal(again[1]["boxes"], fresh[1]["boxes"])


class _Answers(torch.nn.Module):
    """A "detector" that answers the held-out scenes with given detections, in order."""

    def __init__(self, answers):
        super().__init__()
        self.answers = iter(answers)

    def forward(self, images):
        return [next(self.answers) for _ in images]


def test_the_box_score_is_one_for_the_ground_truth_and_zero_for_nothing():
    truth = [target for _, target in instances.held_out_instances(4)]
    perfect = [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["boxes"]))}
               for t in truth]
    scores = detection.evaluate(_Answers(perfect), length=4)
    assert set(scores) == {"box_map_50", "box_map", *(f"box_ap_50_{t}" for t in THINGS)}
    present = {instances.THING_NAMES[int(label)] for t in truth for label in t["labels"]}
    for key, value in scores.items():
        thing = key.removeprefix("box_ap_50_")
        assert math.isnan(value) if thing in THINGS and thing not in present else value == 1.0
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "scores": torch.zeros(0)}
    assert detection.evaluate(_Answers([empty] * 4), length=4)["box_map_50"] == 0.0


@pytest.mark.parametrize("name", ["ssd300_vgg16", "solov2"])
def test_a_tiny_seed_run_writes_checkpoint_card_and_scores(tmp_path, name):
    # the seeds command's own function, at 2 steps of 2 from 3 scenes (so the scenes are kept
    # after their first draw) and 2 held-out scenes
    scores = run_seed(name, 1, tmp_path, length=2, steps=2, batch=2, scenes=3, test_scenes=2,
                      warmup=1, device="cpu")
    folder = tmp_path / name / "seed1"
    assert {p.name for p in folder.iterdir()} == {f"{name}_scenes.pt", f"{name}_scenes.md",
                                                  "scores.json", "settings.json"}
    assert json.loads((folder / "scores.json").read_text()) == scores
    # the settings that decide the result (not the device)
    assert json.loads((folder / "settings.json").read_text()) == dict(
        steps=2, batch=2, scenes=3, test_scenes=2, warmup=1)
    assert HEADLINE[ZOO[name].task] in scores
    card = (folder / f"{name}_scenes.md").read_text()
    assert "2 steps" in card and "batch 2 from 3 scenes" in card
    assert f"python -m segedu.zoo.seeds {ZOO[name].task.value} --names {name} --seeds 1" in card
    kind = "object detection" if name in DETECTORS else "instance segmentation"
    assert kind in card
    stored = torch.load(folder / f"{name}_scenes.pt", weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
