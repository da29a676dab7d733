"""The update/compute metric classes: over several batches they equal the functions on the
concatenated data and torchmetrics' classes fed the same batches; their states() add up over
processes; segedu.engine.evaluate reports them."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from segedu.engine import evaluate
from segedu.metrics import (
    ConfusionMatrix,
    DiceScore,
    FrequencyWeightedIoU,
    MeanIoU,
    PixelAccuracy,
    confusion_matrix,
    dice_per_class,
    dice_score,
    frequency_weighted_iou,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
)

pytest.importorskip("torchmetrics")
from torchmetrics.classification import (  # noqa: E402
    MulticlassF1Score,
    MulticlassJaccardIndex,
)

# each class with the function it must equal on the concatenated batches
CLASSES = {
    "confusion_matrix": (
        lambda c, i: ConfusionMatrix(num_classes=c, ignore_index=i),
        confusion_matrix,
    ),
    "pixel_accuracy": (lambda c, i: PixelAccuracy(ignore_index=i), pixel_accuracy),
    "mean_iou": (lambda c, i: MeanIoU(num_classes=c, ignore_index=i), mean_iou),
    "iou_per_class": (
        lambda c, i: MeanIoU(num_classes=c, ignore_index=i, per_class=True),
        iou_per_class,
    ),
    "fw_iou": (
        lambda c, i: FrequencyWeightedIoU(num_classes=c, ignore_index=i),
        frequency_weighted_iou,
    ),
    "dice_score": (lambda c, i: DiceScore(num_classes=c, ignore_index=i), dice_score),
    "dice_per_class": (
        lambda c, i: DiceScore(num_classes=c, ignore_index=i, per_class=True),
        dice_per_class,
    ),
}


def random_batches(g, num_classes, ignore_index, sizes=(2, 1, 3), hw=(5, 6)):
    """Batches of logits (N, C, H, W) or labels (N, H, W), and their targets (N, H, W)."""
    batches = []
    for k, size in enumerate(sizes):
        target = torch.randint(0, num_classes, (size, *hw), generator=g)
        if ignore_index is not None:
            target[torch.rand(target.shape, generator=g) < 0.15] = ignore_index
        logits = torch.randn(size, num_classes, *hw, generator=g)
        # pull the scores towards the truth so that the metrics are not all near chance
        truth = nn.functional.one_hot(target.clamp(0, num_classes - 1), num_classes)
        logits += 2 * truth.movedim(-1, 1)  # (N, H, W, C) -> (N, C, H, W)
        pred = logits if k % 2 == 0 else logits.argmax(1)  # mix scores and labels
        batches.append((pred, target))
    return batches


def labels_of(pred):
    return pred.argmax(1) if pred.is_floating_point() else pred


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("ignore_index", [None, 255, 0])
def test_batches_equal_the_function_on_the_concatenation(name, ignore_index):
    make, function = CLASSES[name]
    g = torch.Generator().manual_seed(100 * list(CLASSES).index(name) + (ignore_index or 0) % 97)
    for trial in range(6):  # 7 classes x 3 ignore settings x 6 = 126 random runs
        num_classes = 2 + trial % 4
        metric = make(num_classes, ignore_index)
        batches = random_batches(g, num_classes, ignore_index)
        for pred, target in batches:
            metric.update(pred, target)
        pred = torch.cat([labels_of(p) for p, _ in batches])
        target = torch.cat([t for _, t in batches])
        expected = function(pred, target, num_classes, ignore_index)
        torch.testing.assert_close(metric.compute(), expected, equal_nan=True)


@pytest.mark.parametrize("ignore_index", [None, 255, 1])
def test_classes_match_torchmetrics_classes_over_batches(ignore_index):
    g = torch.Generator().manual_seed(11 + (ignore_index or 0))
    ours = {
        "macro": MeanIoU(num_classes=4, ignore_index=ignore_index),
        "weighted": FrequencyWeightedIoU(num_classes=4, ignore_index=ignore_index),
        "dice": DiceScore(num_classes=4, ignore_index=ignore_index),
    }
    theirs = {
        "macro": MulticlassJaccardIndex(num_classes=4, average="macro", ignore_index=ignore_index),
        "weighted": MulticlassJaccardIndex(
            num_classes=4, average="weighted", ignore_index=ignore_index
        ),
        "dice": MulticlassF1Score(num_classes=4, average="macro", ignore_index=ignore_index),
    }
    for pred, target in random_batches(g, 4, ignore_index, sizes=(3, 2, 2, 1)):
        if ignore_index == 1:  # MulticlassF1Score keeps a predicted ignored class: avoid it
            pred = labels_of(pred).masked_fill(labels_of(pred) == 1, 2)
        for key in ours:
            ours[key].update(pred, target)
            theirs[key].update(pred, target)
    for key in ours:
        torch.testing.assert_close(ours[key].compute(), theirs[key].compute())


def test_states_summed_over_processes_give_the_whole():
    # two "processes" each see half of the batches; summing their states in place (what
    # segedu.engine.evaluate does with all_reduce) gives the metric of all the batches
    g = torch.Generator().manual_seed(12)
    batches = random_batches(g, 3, 255, sizes=(2, 2, 1, 3))
    for name, (make, function) in CLASSES.items():
        first, second = make(3, 255), make(3, 255)
        for k, (pred, target) in enumerate(batches):
            (first if k % 2 == 0 else second).update(pred, target)
        for mine, theirs in zip(first.states().values(), second.states().values(), strict=True):
            mine += theirs
        pred = torch.cat([labels_of(p) for p, _ in batches])
        target = torch.cat([t for _, t in batches])
        torch.testing.assert_close(
            first.compute(), function(pred, target, 3, 255), equal_nan=True, msg=name
        )


def test_reset_and_compute_before_any_batch():
    for name, (make, _) in CLASSES.items():
        metric = make(3, None)
        value = metric.compute()
        if name == "confusion_matrix":
            assert value.equal(torch.zeros(3, 3, dtype=torch.int64))
        else:
            assert value.isnan().all(), name  # nothing seen: NaN
        metric.update(torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 1]]))
        metric.reset()
        assert all(int(state.sum()) == 0 for state in metric.states().values()), name


def test_scalar_classes_report_through_evaluate():
    # a "model" that returns fixed logits: evaluate argmaxes nothing, the metrics do
    g = torch.Generator().manual_seed(13)
    images = torch.randn(6, 3, 4, 4, generator=g)
    masks = torch.randint(0, 3, (6, 4, 4), generator=g)
    masks[0, 0, 0] = 255
    model = nn.Conv2d(3, 3, kernel_size=1)
    loader = DataLoader(TensorDataset(images, masks), batch_size=4)
    metrics = {
        "miou": MeanIoU(num_classes=3, ignore_index=255),
        "fwiou": FrequencyWeightedIoU(num_classes=3, ignore_index=255),
        "dice": DiceScore(num_classes=3, ignore_index=255),
        "acc": PixelAccuracy(ignore_index=255),
    }
    results = evaluate(model, loader, metrics=metrics, device="cpu")
    with torch.no_grad():
        pred = model(images).argmax(1)
    assert results["miou"] == pytest.approx(mean_iou(pred, masks, 3, 255).item())
    assert results["fwiou"] == pytest.approx(frequency_weighted_iou(pred, masks, 3, 255).item())
    assert results["dice"] == pytest.approx(dice_score(pred, masks, 3, 255).item())
    assert results["acc"] == pytest.approx(pixel_accuracy(pred, masks, 3, 255).item())
    assert all(isinstance(v, float) and not math.isnan(v) for v in results.values())


def test_repr_names_the_class():
    metric = MeanIoU(num_classes=3, ignore_index=255)
    metric.update(torch.tensor([0, 1]), torch.tensor([0, 255]))
    assert repr(metric) == "MeanIoU(num_classes=3, ignore_index=255, pixels=1)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_every_class_follows_the_data():
    g = torch.Generator().manual_seed(14)
    batches = random_batches(g, 4, 255)
    pred = torch.cat([labels_of(p) for p, _ in batches])
    target = torch.cat([t for _, t in batches])
    for name, (make, function) in CLASSES.items():
        metric = make(4, 255)
        for p, t in batches:
            metric.update(p.cuda(), t.cuda())
        assert all(s.device.type == "cuda" for s in metric.states().values()), name
        result = metric.compute()
        assert result.device.type == "cuda", name
        torch.testing.assert_close(result.cpu(), function(pred, target, 4, 255), equal_nan=True)
        cuda_function = function(pred.cuda(), target.cuda(), 4, 255)
        torch.testing.assert_close(
            cuda_function.cpu(), function(pred, target, 4, 255), equal_nan=True
        )
