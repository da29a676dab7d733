"""pixel_accuracy and PixelAccuracy against torchmetrics' micro-averaged multiclass accuracy
and scikit-learn's accuracy_score. (Moved from tests/test_metrics_pixel_accuracy.py.)"""

import pytest
import torch

from segedu.metrics import (
    PixelAccuracy,
    confusion_matrix,
    pixel_accuracy,
    pixel_accuracy_from_confusion,
)

from .semantic_cases import IGNORE_INDICES, counted, random_case

torchmetrics = pytest.importorskip("torchmetrics")
sklearn_metrics = pytest.importorskip("sklearn.metrics")
from torchmetrics.classification import MulticlassAccuracy  # noqa: E402

SHAPES = [(2, 7, 9), (5, 5), (3, 2, 4, 6), (17,)]


def random_labels(shape, num_classes, *, generator, ignore_index=None, ignore_fraction=0.2):
    pred = torch.randint(0, num_classes, shape, generator=generator)
    target = torch.where(
        torch.rand(shape, generator=generator) < 0.6,
        pred,
        torch.randint(0, num_classes, shape, generator=generator),
    )
    if ignore_index is not None:
        target[torch.rand(shape, generator=generator) < ignore_fraction] = ignore_index
    return pred, target


def reference(num_classes, ignore_index=None):
    return MulticlassAccuracy(num_classes=num_classes, average="micro", ignore_index=ignore_index)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ignore_index", [None, 255, -100, 0])
def test_function_matches_torchmetrics(shape, ignore_index):
    g = torch.Generator().manual_seed(sum(shape) * 1000 + (ignore_index or 0) % 997)
    for num_classes in (2, 5):
        pred, target = random_labels(shape, num_classes, generator=g, ignore_index=ignore_index)
        expected = reference(num_classes, ignore_index)(pred.reshape(-1), target.reshape(-1))
        ours = pixel_accuracy(pred, target, num_classes, ignore_index=ignore_index)
        assert ours.shape == () and ours.dtype == torch.float32
        torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("ignore_index", [None, 255])
def test_class_accumulates_over_batches_like_torchmetrics(ignore_index):
    g = torch.Generator().manual_seed(1)
    ours, theirs = PixelAccuracy(ignore_index=ignore_index), reference(4, ignore_index)
    preds, targets = [], []
    for size in (3, 1, 5):  # batches of different sizes: dataset-level, not a mean of batch means
        pred, target = random_labels((size, 6, 6), 4, generator=g, ignore_index=ignore_index)
        ours.update(pred, target)
        theirs.update(pred, target)
        preds.append(pred)
        targets.append(target)
    torch.testing.assert_close(ours.compute(), theirs.compute())
    whole = pixel_accuracy(torch.cat(preds), torch.cat(targets), 4, ignore_index=ignore_index)
    torch.testing.assert_close(ours.compute(), whole)


def test_logits_are_reduced_by_argmax_over_classes():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 5, 5, generator=g)
    target = torch.randint(0, 4, (2, 5, 5), generator=g)
    target[0, 0, 0] = 255
    metric = PixelAccuracy(ignore_index=255)
    metric.update(logits, target)
    expected = reference(4, 255)(logits, target)  # torchmetrics also takes (N, C, ...) scores
    torch.testing.assert_close(metric.compute(), expected)
    torch.testing.assert_close(metric.compute(), pixel_accuracy(logits.argmax(1), target, 4, 255))


def test_known_values():
    pred = torch.tensor([[0, 1], [1, 1]])
    target = torch.tensor([[0, 1], [0, 255]])
    with pytest.raises(ValueError, match="outside"):
        pixel_accuracy(pred, target, 2)  # 255 is a label out of range unless it is ignored
    assert pixel_accuracy(pred, target, 2, ignore_index=255).item() == pytest.approx(2 / 3)
    assert pixel_accuracy(pred, pred, 2).item() == 1.0


def test_nothing_counted_gives_nan():
    target = torch.full((2, 3), 255)
    assert pixel_accuracy(torch.zeros(2, 3, dtype=torch.long), target, 3, ignore_index=255).isnan()
    assert PixelAccuracy().compute().isnan()


def test_reset_and_states():
    metric = PixelAccuracy()
    metric.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    assert {k: int(v) for k, v in metric.states().items()} == {"correct": 2, "total": 3}
    # states() hands out the counters themselves: summing in place (as DDP does) changes the result
    other = PixelAccuracy()
    other.update(torch.tensor([1, 1]), torch.tensor([1, 1]))
    for mine, theirs in zip(metric.states().values(), other.states().values(), strict=True):
        mine += theirs
    assert metric.compute().item() == pytest.approx(4 / 5)
    metric.reset()
    assert int(metric.total) == 0 and metric.compute().isnan()


def test_states_follow_the_data_to_its_device():
    metric = PixelAccuracy()
    metric.update(
        torch.zeros(3, device="meta", dtype=torch.long),
        torch.zeros(3, device="meta", dtype=torch.long),
    )
    assert metric.correct.device.type == "meta" and metric.total.device.type == "meta"
    metric.reset()
    assert metric.correct.device.type == "meta"


def test_bad_inputs_give_clear_errors():
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 4, 4\) and \(2, 4, 5\)"):
        pixel_accuracy(labels, torch.zeros(2, 4, 5, dtype=torch.long), 3)
    with pytest.raises(
        TypeError, match=r"pred must hold integer class labels, got torch.float32.*argmax"
    ):
        pixel_accuracy(labels.float(), labels, 3)
    with pytest.raises(TypeError, match="target must hold integer class labels"):
        pixel_accuracy(labels, labels.float(), 3)
    with pytest.raises(ValueError, match="pred has labels in \\[0, 7\\], outside \\[0, 2\\]"):
        pixel_accuracy(torch.tensor([0, 7]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        pixel_accuracy(labels, labels, 0)
    with pytest.raises(TypeError, match="must be a tensor"):
        pixel_accuracy([0, 1], torch.tensor([0, 1]), 2)

    metric = PixelAccuracy()
    with pytest.raises(ValueError, match=r"class scores \(N, C, ...\) with one dimension more"):
        metric.update(torch.randn(2, 4, 4), labels)
    with pytest.raises(ValueError, match=r"target has labels in \[0, 5\], outside \[0, 2\]"):
        metric.update(torch.randn(1, 3, 2), torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="same shape"):
        metric.update(labels, labels[0])
    with pytest.raises(TypeError, match="target must hold integer class labels"):
        metric.update(labels, labels.float())
    assert int(metric.total) == 0  # a refused batch leaves no trace


@pytest.mark.parametrize("ignore_index", IGNORE_INDICES)
def test_random_label_maps_match_sklearn_and_the_confusion_matrix(ignore_index):
    g = torch.Generator().manual_seed(400 + (ignore_index or 0) % 997)
    for _ in range(30):  # x 4 ignore_index settings = 120 random cases
        pred, target, num_classes = random_case(g, ignore_index)
        ours = pixel_accuracy(pred, target, num_classes, ignore_index)
        cm = confusion_matrix(pred, target, num_classes, ignore_index)
        torch.testing.assert_close(pixel_accuracy_from_confusion(cm), ours, equal_nan=True)
        kept_pred, kept_target = counted(pred, target, ignore_index)
        if kept_target.numel():
            expected = sklearn_metrics.accuracy_score(kept_target.numpy(), kept_pred.numpy())
            assert ours.item() == pytest.approx(expected, rel=1e-6)
        else:  # nothing counted: NaN (torchmetrics gives 0)
            assert ours.isnan()


def test_from_confusion_hand_computed():
    # the trace over the sum: (3 + 4) / (3 + 1 + 2 + 4) = 7/10
    assert pixel_accuracy_from_confusion(torch.tensor([[3, 1], [2, 4]])).item() == pytest.approx(
        0.7
    )
    assert pixel_accuracy_from_confusion(torch.zeros(3, 3, dtype=torch.long)).isnan()
    with pytest.raises(ValueError, match=r"shape \(C, C\)"):
        pixel_accuracy_from_confusion(torch.zeros(2, 3))
