"""confusion_matrix and ConfusionMatrix against scikit-learn and torchmetrics."""

import numpy as np
import pytest
import torch

from segedu.metrics import ConfusionMatrix, confusion_matrix

from .semantic_cases import IGNORE_INDICES, counted, random_case

sklearn_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("torchmetrics")
from torchmetrics.functional.classification import multiclass_confusion_matrix  # noqa: E402

CASES_PER_IGNORE = 30  # x 4 ignore_index settings = 120 random cases


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("ignore_index", IGNORE_INDICES)
def test_matches_sklearn_and_torchmetrics_on_random_label_maps(ignore_index):
    g = torch.Generator().manual_seed(100 + (ignore_index or 0) % 997)
    compared = 0
    for _ in range(CASES_PER_IGNORE):
        pred, target, num_classes = random_case(g, ignore_index)
        ours = confusion_matrix(pred, target, num_classes, ignore_index=ignore_index)
        assert ours.shape == (num_classes, num_classes) and ours.dtype == torch.int64
        kept_pred, kept_target = counted(pred, target, ignore_index)
        assert int(ours.sum()) == kept_target.numel()
        if kept_target.numel():  # scikit-learn refuses empty input
            expected = sklearn_metrics.confusion_matrix(
                kept_target.numpy(), kept_pred.numpy(), labels=np.arange(num_classes)
            )
            np.testing.assert_array_equal(ours.numpy(), expected)
            compared += 1
        if num_classes >= 2:  # torchmetrics needs two classes or more
            expected = multiclass_confusion_matrix(
                pred.reshape(-1), target.reshape(-1), num_classes, ignore_index=ignore_index
            )
            torch.testing.assert_close(ours, expected)
            compared += 1
    assert compared >= CASES_PER_IGNORE  # most cases were checked against a reference


def test_hand_computed_2x2():
    # target [[0, 1], [2, 255]], pred [[0, 2], [2, 1]], 3 classes, 255 ignored:
    # pixel (0,0): true 0 -> pred 0; (0,1): true 1 -> pred 2; (1,0): true 2 -> pred 2;
    # (1,1) ignored. So M[0,0] = M[1,2] = M[2,2] = 1, everything else 0.
    pred = torch.tensor([[0, 2], [2, 1]])
    target = torch.tensor([[0, 1], [2, 255]])
    expected = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    torch.testing.assert_close(confusion_matrix(pred, target, 3, ignore_index=255), expected)
    # rows are the truth: swapping pred and target (on the kept pixels) transposes the matrix
    keep = target != 255
    torch.testing.assert_close(confusion_matrix(target[keep], pred[keep], 3), expected.T)


def test_ignore_index_inside_the_classes_drops_its_row_but_keeps_its_column():
    # ignore_index = 1: the target pixel of class 1 is dropped, the pixel *predicted* 1 stays
    # target [0, 1, 2, 0], pred [1, 1, 2, 0] -> kept pixels: (0 -> 1), (2 -> 2), (0 -> 0)
    cm = confusion_matrix(torch.tensor([1, 1, 2, 0]), torch.tensor([0, 1, 2, 0]), 3, ignore_index=1)
    torch.testing.assert_close(cm, torch.tensor([[1, 1, 0], [0, 0, 0], [0, 0, 1]]))


def test_edge_cases():
    empty = torch.zeros(0, 4, dtype=torch.long)
    assert confusion_matrix(empty, empty, 3).equal(torch.zeros(3, 3, dtype=torch.int64))
    ignored = torch.full((2, 2), 255)
    assert confusion_matrix(torch.zeros(2, 2, dtype=torch.long), ignored, 2, 255).sum() == 0
    single = torch.zeros(5, dtype=torch.long)
    assert confusion_matrix(single, single, 1).equal(torch.tensor([[5]]))
    scalar = torch.tensor(1)  # a 0-d "image" of one pixel
    assert confusion_matrix(scalar, scalar, 2).equal(torch.tensor([[0, 0], [0, 1]]))


def test_small_integer_dtypes_do_not_overflow():
    # target * C + pred in uint8 would wrap around at 256: 19 * 20 + 19 = 399
    pred = torch.tensor([19, 0, 19], dtype=torch.uint8)
    target = torch.tensor([19, 19, 0], dtype=torch.uint8)
    cm = confusion_matrix(pred, target, 20)
    assert (int(cm[19, 19]), int(cm[19, 0]), int(cm[0, 19]), int(cm.sum())) == (1, 1, 1, 3)
    boolean = confusion_matrix(torch.tensor([True, False]), torch.tensor([True, True]), 2)
    assert boolean.equal(torch.tensor([[0, 0], [1, 1]]))


def test_class_over_batches_equals_the_function_on_the_concatenation():
    g = torch.Generator().manual_seed(3)
    metric = ConfusionMatrix(num_classes=5, ignore_index=255)
    preds, targets = [], []
    for size in (2, 1, 4):
        target = torch.randint(0, 5, (size, 6, 7), generator=g)
        target[torch.rand(target.shape, generator=g) < 0.1] = 255
        logits = torch.randn(size, 5, 6, 7, generator=g)  # scores: the class is their argmax
        metric.update(logits, target)
        preds.append(logits.argmax(1))
        targets.append(target)
    whole = confusion_matrix(torch.cat(preds), torch.cat(targets), 5, ignore_index=255)
    torch.testing.assert_close(metric.compute(), whole)
    expected = multiclass_confusion_matrix(
        torch.cat(preds), torch.cat(targets), 5, ignore_index=255
    )
    torch.testing.assert_close(metric.compute(), expected)


def test_states_reset_and_integer_labels():
    metric = ConfusionMatrix(num_classes=2)
    metric.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    other = ConfusionMatrix(num_classes=2)
    other.update(torch.tensor([1]), torch.tensor([1]))
    # states() hands out the matrix itself: summing in place (as evaluate does over processes)
    metric.states()["matrix"] += other.states()["matrix"]
    assert metric.compute().equal(torch.tensor([[1, 1], [0, 2]]))
    result = metric.compute()
    result += 100  # compute() returns a copy: the state is unchanged
    assert int(metric.matrix.sum()) == 4
    metric.reset()
    assert int(metric.compute().sum()) == 0 and metric.compute().shape == (2, 2)


def test_bad_inputs_give_clear_errors():
    labels = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3, 2\)"):
        confusion_matrix(labels, labels.T, 2)
    with pytest.raises(TypeError, match="pred must hold integer class labels"):
        confusion_matrix(labels.float(), labels, 2)
    with pytest.raises(ValueError, match=r"target has labels in \[0, 255\], outside \[0, 1\]"):
        confusion_matrix(labels, torch.tensor([[0, 255, 0], [0, 0, 0]]), 2)
    with pytest.raises(ValueError, match=r"pred has labels in \[-1, 0\]"):
        confusion_matrix(torch.tensor([-1, 0]), torch.tensor([0, 0]), 2)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        confusion_matrix(labels, labels, 0)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        ConfusionMatrix(num_classes=2.0)
    with pytest.raises(TypeError, match="ignore_index must be an integer or None"):
        confusion_matrix(labels, labels, 2, ignore_index=255.0)
    with pytest.raises(TypeError):
        ConfusionMatrix(3)  # keyword-only
    metric = ConfusionMatrix(num_classes=3)
    with pytest.raises(ValueError, match=r"C=4 but num_classes=3"):
        metric.update(torch.randn(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="one dimension more"):
        metric.update(torch.randn(1, 3), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 3]))
    assert int(metric.matrix.sum()) == 0  # refused batches leave no trace


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_state_follows_the_data():
    g = torch.Generator().manual_seed(4)
    pred = torch.randint(0, 4, (2, 8, 8), generator=g)
    target = torch.randint(0, 4, (2, 8, 8), generator=g)
    metric = ConfusionMatrix(num_classes=4)
    metric.update(pred.cuda(), target.cuda())
    assert metric.matrix.device.type == "cuda"
    torch.testing.assert_close(metric.compute().cpu(), confusion_matrix(pred, target, 4))
    metric.reset()
    assert metric.matrix.device.type == "cuda"
    torch.testing.assert_close(
        confusion_matrix(pred.cuda(), target.cuda(), 4).cpu(), confusion_matrix(pred, target, 4)
    )
