"""dice_per_class and dice_score against torchmetrics (segmentation.dice_score and
MulticlassF1Score) and scikit-learn's f1_score.

Conventions (see segedu/metrics/dice.py):
- a class absent from both prediction and target: NaN here and in
  torchmetrics.segmentation.dice_score and scikit-learn (zero_division=nan); 0 in
  MulticlassF1Score (its zero_division must be 0 or 1);
- ignore_index = k inside [0, C): class k is not scored here (NaN, out of the mean). All three
  references score it 0 when some counted pixel is predicted k, and MulticlassF1Score's "macro"
  keeps it in the mean: its macro is then sum(ours) / (number of scored classes + 1);
- nothing counted at all: NaN here, 0 for MulticlassF1Score's macro.
"""

import numpy as np
import pytest
import torch

from segedu.metrics import (
    DiceScore,
    confusion_matrix,
    dice_from_confusion,
    dice_per_class,
    dice_score,
    iou_per_class,
)

from .semantic_cases import IGNORE_INDICES, counted, random_case

sklearn_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("torchmetrics")
from torchmetrics.functional.classification import multiclass_f1_score  # noqa: E402
from torchmetrics.functional.segmentation import dice_score as tm_dice_score  # noqa: E402

CASES_PER_IGNORE = 30  # x 4 ignore_index settings = 120 random cases, each checking both
NAN = float("nan")


def segmentation_reference(kept_pred, kept_target, num_classes, average):
    """torchmetrics.segmentation.dice_score on the counted pixels, as one image (1, n)."""
    return tm_dice_score(
        kept_pred[None],
        kept_target[None],
        num_classes=num_classes,
        average=average,
        input_format="index",
        aggregation_level="global",
    )[0]


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn's ill-defined warnings
@pytest.mark.parametrize("ignore_index", IGNORE_INDICES)
def test_random_label_maps_match_the_references(ignore_index):
    g = torch.Generator().manual_seed(300 + (ignore_index or 0) % 997)
    for _ in range(CASES_PER_IGNORE):
        pred, target, num_classes = random_case(g, ignore_index)
        per_class = dice_per_class(pred, target, num_classes, ignore_index)
        mean = dice_score(pred, target, num_classes, ignore_index)
        assert per_class.shape == (num_classes,) and per_class.dtype == torch.float32
        assert mean.shape == ()
        ignored_class = (
            ignore_index if ignore_index is not None and 0 <= ignore_index < num_classes else None
        )
        kept_pred, kept_target = counted(pred, target, ignore_index)
        scored = ~per_class.isnan()

        # 1. torchmetrics.segmentation.dice_score: NaN for absent classes, as ours
        expected = segmentation_reference(kept_pred, kept_target, num_classes, "none")
        if ignored_class is not None:
            expected[ignored_class] = NAN  # it gives 0 when the class is predicted
        torch.testing.assert_close(per_class, expected, equal_nan=True)
        torch.testing.assert_close(mean, expected.nanmean(), equal_nan=True)
        if ignored_class is None:
            macro = segmentation_reference(kept_pred, kept_target, num_classes, "macro")
            torch.testing.assert_close(mean, macro, equal_nan=True)

        # 2. MulticlassF1Score: 0 instead of NaN; its macro keeps a predicted ignored class
        if num_classes >= 2 and pred.numel():  # it needs 2 classes and refuses empty input

            def f1(average, p=pred, t=target, c=num_classes):
                return multiclass_f1_score(
                    p.reshape(-1), t.reshape(-1), c, average=average, ignore_index=ignore_index
                )

            theirs = f1(None)
            torch.testing.assert_close(per_class[scored], theirs[scored])
            assert (theirs[~scored] == 0).all()
            kept_in_mean = int(scored.sum())
            if ignored_class is not None and (kept_pred == ignored_class).any():
                kept_in_mean += 1  # the ignored class, predicted somewhere, scored 0
            expected_macro = (
                per_class.nansum() / kept_in_mean if kept_in_mean else torch.tensor(0.0)
            )
            torch.testing.assert_close(f1("macro"), expected_macro)

        # 3. scikit-learn's f1_score, zero_division=nan, over the scored classes
        if kept_target.numel():
            labels = torch.nonzero(scored).flatten().tolist()
            expected = sklearn_metrics.f1_score(
                kept_target.numpy(),
                kept_pred.numpy(),
                labels=list(range(num_classes)),
                average=None,
                zero_division=np.nan,
            )
            np.testing.assert_allclose(per_class[scored].numpy(), expected[labels], rtol=1e-6)
            expected_mean = sklearn_metrics.f1_score(
                kept_target.numpy(),
                kept_pred.numpy(),
                labels=labels,
                average="macro",
                zero_division=np.nan,
            )
            assert mean.item() == pytest.approx(expected_mean, rel=1e-6)
        else:
            assert per_class.isnan().all() and mean.isnan()

        # 4. Dice = 2 IoU / (1 + IoU), class by class (NaN where both are NaN)
        iou = iou_per_class(pred, target, num_classes, ignore_index)
        torch.testing.assert_close(per_class, 2 * iou / (1 + iou), equal_nan=True)


def test_hand_computed_2x2():
    # target [[0, 1], [0, 1]], pred [[0, 1], [1, 1]], 3 classes:
    # class 0: 2 * 1 / (|truth| 2 + |pred| 1) = 2/3;  class 1: 2 * 2 / (2 + 3) = 4/5;
    # class 2: 0/0 -> NaN.  Mean over the two present classes: (2/3 + 4/5) / 2 = 11/15.
    pred = torch.tensor([[0, 1], [1, 1]])
    target = torch.tensor([[0, 1], [0, 1]])
    torch.testing.assert_close(
        dice_per_class(pred, target, 3), torch.tensor([2 / 3, 4 / 5, NAN]), equal_nan=True
    )
    assert dice_score(pred, target, 3).item() == pytest.approx(11 / 15)


def test_ignore_index_inside_the_classes_differs_from_multiclass_f1():
    # target [0, 1, 2, 0], pred [1, 1, 2, 0], ignore_index 1 -> kept (0->1), (2->2), (0->0)
    # class 0: 2 * 1 / (2 + 1) = 2/3; class 2: 2 * 1 / (1 + 1) = 1; class 1: not scored.
    pred, target = torch.tensor([1, 1, 2, 0]), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(
        dice_per_class(pred, target, 3, ignore_index=1),
        torch.tensor([2 / 3, NAN, 1.0]),
        equal_nan=True,
    )
    assert dice_score(pred, target, 3, ignore_index=1).item() == pytest.approx(5 / 6)
    # MulticlassF1Score scores class 1 as 2 * 0 / (0 + 1) = 0 and averages 3 classes: 5/9
    macro = multiclass_f1_score(pred, target, 3, average="macro", ignore_index=1)
    assert macro.item() == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_edge_cases():
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert dice_per_class(empty, empty, 2).isnan().all() and dice_score(empty, empty, 2).isnan()
    ignored, zeros = torch.full((4,), 255), torch.zeros(4, dtype=torch.long)
    assert dice_score(zeros, ignored, 3, ignore_index=255).isnan()
    # torchmetrics' F1 gives 0 there instead
    assert multiclass_f1_score(zeros, ignored, 3, average="macro", ignore_index=255).item() == 0
    assert dice_score(zeros, zeros, 1).item() == 1.0  # one class, all right
    assert dice_score(torch.tensor([1, 0]), torch.tensor([0, 1]), 2).item() == 0.0  # all wrong


def test_class_over_batches_and_from_confusion():
    g = torch.Generator().manual_seed(7)
    metric = DiceScore(num_classes=4, ignore_index=0)
    per_class_metric = DiceScore(num_classes=4, ignore_index=0, per_class=True)
    preds, targets = [], []
    for size in (1, 3, 2):
        target = torch.randint(0, 4, (size, 5, 5), generator=g)
        pred = torch.randint(0, 4, (size, 5, 5), generator=g)
        metric.update(pred, target)
        per_class_metric.update(pred, target)
        preds.append(pred)
        targets.append(target)
    pred, target = torch.cat(preds), torch.cat(targets)
    torch.testing.assert_close(metric.compute(), dice_score(pred, target, 4, ignore_index=0))
    torch.testing.assert_close(
        per_class_metric.compute(), dice_per_class(pred, target, 4, ignore_index=0), equal_nan=True
    )
    cm = confusion_matrix(pred, target, 4, ignore_index=0)
    torch.testing.assert_close(
        dice_from_confusion(cm, ignore_index=0), per_class_metric.compute(), equal_nan=True
    )


def test_bad_inputs_give_clear_errors():
    labels = torch.zeros(3, dtype=torch.long)
    with pytest.raises(TypeError, match="target must hold integer class labels"):
        dice_score(labels, labels.double(), 2)
    with pytest.raises(ValueError, match=r"pred has labels in \[0, 2\], outside \[0, 1\]"):
        dice_per_class(torch.tensor([0, 2, 0]), labels, 2)
    with pytest.raises(ValueError, match=r"must have shape \(C, C\)"):
        dice_from_confusion(torch.zeros(3))
    with pytest.raises(TypeError, match="must hold counts"):
        dice_from_confusion(torch.eye(2, dtype=torch.bool))
    with pytest.raises(TypeError):
        DiceScore(2)  # keyword-only
