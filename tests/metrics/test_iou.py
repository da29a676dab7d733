"""iou_per_class, mean_iou, frequency_weighted_iou (and their *_from_confusion forms) against
torchmetrics' MulticlassJaccardIndex and scikit-learn's jaccard_score.

Conventions (see segedu/metrics/iou.py):
- a class absent from both prediction and target: NaN here; torchmetrics gives `zero_division`
  (0 by default; we pass NaN to compare) and scikit-learn too (it refuses NaN, so we give it the
  classes that occur as `labels`);
- ignore_index = k inside [0, C): class k is not scored, NaN here; torchmetrics' per-class value
  for k is 0 when some counted pixel is predicted k (0 / its column sum), its macro average
  leaves k out like ours.
"""

import math

import numpy as np
import pytest
import torch

from segedu.metrics import (
    FrequencyWeightedIoU,
    MeanIoU,
    confusion_matrix,
    frequency_weighted_iou,
    frequency_weighted_iou_from_confusion,
    iou_from_confusion,
    iou_per_class,
    mean_iou,
    mean_iou_from_confusion,
)

from .semantic_cases import IGNORE_INDICES, counted, random_case

sklearn_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("torchmetrics")
from torchmetrics.functional.classification import multiclass_jaccard_index  # noqa: E402
from torchmetrics.segmentation import MeanIoU as TorchmetricsSegmentationMeanIoU  # noqa: E402

CASES_PER_IGNORE = 30  # x 4 ignore_index settings = 120 random cases, each checking all three
NAN = float("nan")


def scored_classes(pred, target, num_classes, ignore_index):
    """Classes present in the counted pixels (target or prediction), minus an ignored class."""
    kept_pred, kept_target = counted(pred, target, ignore_index)
    present = torch.unique(torch.cat([kept_pred, kept_target])).tolist()
    return [c for c in present if c != ignore_index and 0 <= c < num_classes]


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn's single-label warning
@pytest.mark.parametrize("ignore_index", IGNORE_INDICES)
def test_random_label_maps_match_torchmetrics_and_sklearn(ignore_index):
    g = torch.Generator().manual_seed(200 + (ignore_index or 0) % 997)
    for _ in range(CASES_PER_IGNORE):
        pred, target, num_classes = random_case(g, ignore_index)
        per_class = iou_per_class(pred, target, num_classes, ignore_index)
        mean = mean_iou(pred, target, num_classes, ignore_index)
        weighted = frequency_weighted_iou(pred, target, num_classes, ignore_index)
        assert per_class.shape == (num_classes,) and per_class.dtype == torch.float32
        assert mean.shape == () and weighted.shape == ()

        if num_classes >= 2:  # torchmetrics needs two classes or more

            def reference(average, zero_division=0.0, p=pred, t=target, c=num_classes):
                return multiclass_jaccard_index(
                    p.reshape(-1),
                    t.reshape(-1),
                    c,
                    average=average,
                    ignore_index=ignore_index,
                    zero_division=zero_division,
                )

            expected = reference(None, zero_division=NAN)
            if ignore_index is not None and 0 <= ignore_index < num_classes:
                expected[ignore_index] = NAN  # not scored here (0 or NaN in torchmetrics)
            torch.testing.assert_close(per_class, expected, equal_nan=True)
            torch.testing.assert_close(mean, reference("macro"), equal_nan=True)
            torch.testing.assert_close(weighted, reference("weighted"), equal_nan=True)

        labels = scored_classes(pred, target, num_classes, ignore_index)
        if labels:  # scikit-learn, given the scored classes as labels
            kept_pred, kept_target = (x.numpy() for x in counted(pred, target, ignore_index))
            for average, ours in (("macro", mean), ("weighted", weighted)):
                expected = sklearn_metrics.jaccard_score(
                    kept_target, kept_pred, labels=labels, average=average, zero_division=0
                )
                assert ours.item() == pytest.approx(expected, rel=1e-6)
            expected = sklearn_metrics.jaccard_score(
                kept_target, kept_pred, labels=labels, average=None, zero_division=0
            )
            np.testing.assert_allclose(per_class[labels].numpy(), expected, rtol=1e-6)
            unscored = [c for c in range(num_classes) if c not in labels]
            assert per_class[unscored].isnan().all()
        else:  # nothing counted: every figure is NaN
            assert per_class.isnan().all() and mean.isnan() and weighted.isnan()


def test_single_image_matches_torchmetrics_segmentation_mean_iou():
    # torchmetrics.segmentation.MeanIoU averages per-image IoUs; on one image it is ours
    g = torch.Generator().manual_seed(5)
    for num_classes in (2, 3, 6):
        target = torch.randint(0, num_classes, (1, 9, 9), generator=g)
        pred = torch.where(
            torch.rand(target.shape, generator=g) < 0.4,
            target,
            torch.randint(0, num_classes, target.shape, generator=g),
        )
        theirs = TorchmetricsSegmentationMeanIoU(num_classes=num_classes, input_format="index")
        torch.testing.assert_close(theirs(pred, target), mean_iou(pred, target, num_classes))


def test_dataset_level_is_not_the_mean_of_per_image_ious():
    # image A: target [0, 0, 0, 1], pred [0, 0, 0, 0]; image B: target [1, 1, 1, 1] = pred.
    # Per image (torchmetrics.segmentation.MeanIoU): A gives IoU_0 = 3/4, IoU_1 = 0/1 = 0;
    # B gives IoU_1 = 1 (class 0 absent); mean of the 3 = 7/12.
    # Dataset-level (ours): class 0: 3 / (3 + 4 - 3) = 3/4; class 1: 4 / (5 + 4 - 4) = 4/5;
    # mean 31/40.
    target = torch.tensor([[[0, 0, 0, 1]], [[1, 1, 1, 1]]])  # (N, H, W) = (2, 1, 4)
    pred = torch.tensor([[[0, 0, 0, 0]], [[1, 1, 1, 1]]])
    assert mean_iou(pred, target, 2).item() == pytest.approx(31 / 40)
    per_image = TorchmetricsSegmentationMeanIoU(num_classes=2, input_format="index")(pred, target)
    assert per_image.item() == pytest.approx(7 / 12)


def test_hand_computed_2x2():
    # target [[0, 0], [0, 1]], pred [[0, 0], [1, 1]], 3 classes:
    # class 0: intersection 2, |truth| 3, |pred| 2 -> union 3 -> IoU 2/3
    # class 1: intersection 1, |truth| 1, |pred| 2 -> union 2 -> IoU 1/2
    # class 2: in neither -> NaN.  mean (2/3 + 1/2) / 2 = 7/12.
    # frequencies 3/4 and 1/4 -> fwIoU = 3/4 * 2/3 + 1/4 * 1/2 = 5/8.
    pred = torch.tensor([[0, 0], [1, 1]])
    target = torch.tensor([[0, 0], [0, 1]])
    torch.testing.assert_close(
        iou_per_class(pred, target, 3), torch.tensor([2 / 3, 1 / 2, NAN]), equal_nan=True
    )
    assert mean_iou(pred, target, 3).item() == pytest.approx(7 / 12)
    assert frequency_weighted_iou(pred, target, 3).item() == pytest.approx(5 / 8)


def test_ignore_index_inside_the_classes_is_not_scored():
    # target [0, 1, 2, 0], pred [1, 1, 2, 0], ignore_index 1: kept pixels (0->1), (2->2), (0->0)
    # class 0: intersection 1, |truth| 2, |pred| 1 -> 1/2; class 2: 1/1 = 1; class 1 unscored.
    # The prediction "1" on a true-0 pixel stays an error of class 0.
    pred, target = torch.tensor([1, 1, 2, 0]), torch.tensor([0, 1, 2, 0])
    ours = iou_per_class(pred, target, 3, ignore_index=1)
    torch.testing.assert_close(ours, torch.tensor([1 / 2, NAN, 1.0]), equal_nan=True)
    assert mean_iou(pred, target, 3, ignore_index=1).item() == pytest.approx(3 / 4)
    # torchmetrics scores class 1 as 0 / (0 + 1 - 0) = 0 per class, but leaves it out of "macro"
    theirs = multiclass_jaccard_index(pred, target, 3, average=None, ignore_index=1)
    torch.testing.assert_close(theirs, torch.tensor([1 / 2, 0.0, 1.0]))
    macro = multiclass_jaccard_index(pred, target, 3, average="macro", ignore_index=1)
    assert macro.item() == pytest.approx(3 / 4)


def test_absent_classes_are_nan_here_and_zero_in_torchmetrics_by_default():
    pred, target = torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0])  # class 2 and 3 absent
    ours = iou_per_class(pred, target, 4)
    theirs = multiclass_jaccard_index(pred, target, 4, average=None)  # zero_division=0
    torch.testing.assert_close(ours[:2], theirs[:2])
    assert ours[2:].isnan().all() and (theirs[2:] == 0).all()
    # both leave them out of the mean: (1/2 + 1/2) / 2, not / 4
    assert mean_iou(pred, target, 4).item() == pytest.approx(0.5)
    assert multiclass_jaccard_index(pred, target, 4, average="macro").item() == pytest.approx(0.5)


def test_edge_cases():
    empty = torch.zeros(0, dtype=torch.long)
    assert iou_per_class(empty, empty, 3).isnan().all() and mean_iou(empty, empty, 3).isnan()
    assert frequency_weighted_iou(empty, empty, 3).isnan()
    ignored = torch.full((3, 3), 255)
    zeros = torch.zeros(3, 3, dtype=torch.long)
    assert mean_iou(zeros, ignored, 2, ignore_index=255).isnan()
    assert frequency_weighted_iou(zeros, ignored, 2, ignore_index=255).isnan()
    # a single class, everything right: IoU 1
    assert mean_iou(zeros, zeros, 1).item() == 1.0
    # perfect prediction: every present class 1, absent ones NaN
    labels = torch.tensor([0, 2, 2])
    torch.testing.assert_close(
        iou_per_class(labels, labels, 4), torch.tensor([1.0, NAN, 1.0, NAN]), equal_nan=True
    )
    assert frequency_weighted_iou(labels, labels, 4).item() == pytest.approx(1.0)
    # all wrong: 0, not NaN
    assert mean_iou(torch.tensor([1, 0]), torch.tensor([0, 1]), 2).item() == 0.0


def test_from_confusion_equals_the_functions():
    g = torch.Generator().manual_seed(6)
    pred = torch.randint(0, 5, (3, 8, 8), generator=g)
    target = torch.randint(0, 5, (3, 8, 8), generator=g)
    target[0] = 255
    cm = confusion_matrix(pred, target, 5, ignore_index=255)
    torch.testing.assert_close(iou_from_confusion(cm), iou_per_class(pred, target, 5, 255))
    torch.testing.assert_close(mean_iou_from_confusion(cm), mean_iou(pred, target, 5, 255))
    torch.testing.assert_close(
        frequency_weighted_iou_from_confusion(cm), frequency_weighted_iou(pred, target, 5, 255)
    )
    # a float matrix of counts works too
    torch.testing.assert_close(iou_from_confusion(cm.double()), iou_from_confusion(cm))


def test_bad_inputs_give_clear_errors():
    labels = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"must have shape \(C, C\), got \(2, 3\)"):
        iou_from_confusion(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="negative counts"):
        mean_iou_from_confusion(torch.tensor([[1, -1], [0, 1]]))
    with pytest.raises(TypeError, match="must be a tensor"):
        iou_from_confusion([[1, 0], [0, 1]])
    with pytest.raises(TypeError, match="integer class labels"):
        mean_iou(labels.float(), labels, 2)
    with pytest.raises(ValueError, match="outside"):
        iou_per_class(labels, torch.tensor([0, 0, 5, 0]), 2)
    with pytest.raises(ValueError, match="same shape"):
        frequency_weighted_iou(labels, labels[:2], 2)
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        iou_from_confusion(torch.eye(2), ignore_index="255")
    with pytest.raises(TypeError):
        MeanIoU(2)  # keyword-only
    assert math.isnan(FrequencyWeightedIoU(num_classes=2).compute().item())  # nothing seen yet
